"""Benchmarks of gym_metatasks, run as modules: ``python -m benchmarks.env_throughput``."""
