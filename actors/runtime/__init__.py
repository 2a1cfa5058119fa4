"""The simulated container runtime: CRI records, the behaviour catalogue, a shell reader, one node's core."""
