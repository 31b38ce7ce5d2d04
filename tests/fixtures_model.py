"""Fixtures for the local Messages-API server (filled in by the adapter work)."""
