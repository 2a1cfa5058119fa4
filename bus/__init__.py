"""kubesim's messaging substrate: actors exchanging msgpack messages over ZeroMQ.

It knows nothing of Kubernetes. See :mod:`bus.runtime` for actors and the
event loop, :mod:`bus.codec` for the wire format, :mod:`bus.broker` for the
broker's registry, :mod:`bus.faults` for fault injection and
:mod:`bus.clock` for time.
"""
