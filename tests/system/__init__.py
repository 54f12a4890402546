"""System tests: Redis, subprocesses, pytester, docs and examples runs (marker `system`)."""
