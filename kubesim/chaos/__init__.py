"""Chaos experiments: faults, workloads, checks and the report."""
