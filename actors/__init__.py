"""The Kubernetes components, each an actor on the bus (DESIGN §3)."""
