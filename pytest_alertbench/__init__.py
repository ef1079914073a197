"""pytest plugin and benchmark runner for ``alert_storage``."""
