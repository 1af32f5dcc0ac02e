"""Benchmarks for s3server: `python -m bench WORKLOAD`."""
