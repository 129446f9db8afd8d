"""Benchmarks of the running system (``python -m bench.<name>``); results go to docs/benchmarks.md."""
