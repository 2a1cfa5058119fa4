"""The scheduler (kube-scheduler): a scheduling queue, a cache of nodes and pods, and plugins."""
