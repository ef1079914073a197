"""Tests of the Redis -> file -> memory cascade."""
