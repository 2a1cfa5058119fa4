"""The kubelet: the node agent that runs pods through the container runtime (pure cores here, the actor around them)."""
