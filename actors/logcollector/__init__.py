"""The cluster-level logging add-on: a log collector that keeps every component's and container's lines."""
