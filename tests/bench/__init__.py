"""Tests of the benchmark runner (pytest_alertbench.bench)."""
