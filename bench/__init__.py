"""Benchmarks: `tsunagari bench NAME` runs bench/NAME.py (see docs/benchmarks.md)."""
