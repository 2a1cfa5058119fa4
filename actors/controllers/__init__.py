"""The controller manager (kube-controller-manager): work queues and one reconcile per controller."""
