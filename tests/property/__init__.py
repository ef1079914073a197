"""Property-based tests: a reference model and hypothesis state machines."""
