"""Benchmark scripts; run them as plain scripts from a checkout (see benchmarks/README.md)."""
