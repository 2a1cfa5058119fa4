"""The program a person runs: CLI, cluster config, process supervisor (DESIGN §1, §4)."""
