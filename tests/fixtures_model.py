"""Fixtures for the local Messages-API server.

The model is the one thing faked, and only at the network edge: a real HTTP
server that the real anthropic SDK reaches through ``base_url``.

* ``model_server`` -- a started :class:`ModelServer`, stopped after the test.
* ``model_config`` -- a ``SemCache`` pointed at it, with no retries and a short timeout.
* ``claude_adapter`` -- a ``ClaudeAdapter`` using ``model_config`` and a test key.
* ``model_env`` -- sets ``ANTHROPIC_API_KEY``/``ANTHROPIC_BASE_URL`` to the server, for
  code (the magic, the CLI) that builds its own adapter; yields the server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from semcache_magic.config import SemCache
from semcache_magic.demo import ModelServer
from semcache_magic.model import ClaudeAdapter

TEST_API_KEY = "sk-ant-test-local"


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    with ModelServer() as server:
        yield server


@pytest.fixture
def model_config(model_server: ModelServer) -> SemCache:
    return SemCache(base_url=model_server.url, max_retries=0, model_timeout=10.0)


@pytest.fixture
def claude_adapter(model_config: SemCache) -> Iterator[ClaudeAdapter]:
    adapter = ClaudeAdapter(model_config, api_key=TEST_API_KEY)
    yield adapter
    adapter.close()


@pytest.fixture
def model_env(model_server: ModelServer, monkeypatch: pytest.MonkeyPatch) -> ModelServer:
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", model_server.url)
    return model_server
