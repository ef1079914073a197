"""Tests of the pytest_alertbench plugin and its modules."""
