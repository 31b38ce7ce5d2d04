"""Shared fixtures. Fakes live only at the outer boundary (the model server)."""

from __future__ import annotations

import os

# Set before anything imports LanceDB or sentence-transformers.
os.environ.setdefault("LANCEDB_LOG", "error")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import pytest

pytest_plugins = ["fixtures_model", "fixtures_kernel"]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may touch the user's real store or real API key."""
    monkeypatch.setenv("SEMCACHE_HOME", str(tmp_path_factory.mktemp("semcache_home")))
    for var in ("SEMCACHE_STORE", "SEMCACHE_NAMESPACE", "SEMCACHE_SEARCH_NAMESPACES",
                "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
