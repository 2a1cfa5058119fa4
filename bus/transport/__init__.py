"""The only layer of kubesim that touches ZeroMQ sockets (with :mod:`bus.runtime`).

``sockets`` makes the broker's ROUTER and the peers' DEALER with the options
the bus relies on; ``curve`` makes, stores and checks CURVE keys; ``control``
is the small local request/reply socket a supervisor obeys.
"""
