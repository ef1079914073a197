"""The Phase 2A benchmark: every storage mode against targets, floor and legacy."""
