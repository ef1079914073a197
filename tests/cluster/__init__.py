"""Tests on a private Redis Cluster and a Sentinel setup."""
