"""Benchmarks: `make bench` (see run.py) and the import/export benchmark."""
