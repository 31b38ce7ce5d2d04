"""Fixtures for isolated kernels (filled in by the kernel runner work)."""
