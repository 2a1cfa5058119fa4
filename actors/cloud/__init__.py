"""The cloud controller manager: kubesim's simulated cloud provider and the controllers that use it."""
