"""Helpers for boostjet's tests and benchmarks (fault-injecting processors); the product never
imports this package, dask workers do when a test hands them one of its processors."""
