"""Fixtures for the magics: the IPython shell with the extension on a fresh store."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from semcache_magic.cache import SnippetCache
from semcache_magic.demo import ModelServer
from semcache_magic.notebook import SemcacheMagics
from semcache_magic.pipeline import Pipeline

__all__ = ["cache_of", "magic", "magics_of"]


def magics_of(shell: Any) -> SemcacheMagics:
    return next(m for m in shell.magics_manager.registry.values()
                if isinstance(m, SemcacheMagics))


def magic(shell: Any, line: str, task: str) -> None:
    shell.run_cell_magic("cached_task", line, task)


def cache_of(shell: Any) -> SnippetCache:
    cache: SnippetCache = magics_of(shell).pipeline.cache
    return cache


@pytest.fixture
def ip(tmp_path, model_env: ModelServer, real_embedder, kernel_runner) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """The IPython shell with the extension loaded on a fresh store for this test."""
    main_module = sys.modules["__main__"]
    shell = InteractiveShell.instance()
    # The shell installs its user module as __main__ (no __spec__), which breaks
    # multiprocessing's spawn in later tests: give it __main__ only while this test runs.
    sys.modules["__main__"] = shell.user_module
    shell.config.SemCache.warm_embedder = False  # the test gives the pipeline its parts
    if "cached_task" not in shell.magics_manager.magics["cell"]:
        shell.run_line_magic("load_ext", "semcache_magic")
    magics = magics_of(shell)
    settings = magics.settings
    settings.store = str(tmp_path / "store")
    settings.ui = "text"
    settings.threshold = 0.6
    settings.namespace = ""
    cache = SnippetCache(settings, embedder=real_embedder)
    magics._pipeline = Pipeline(settings, cache=cache, runner=kernel_runner)
    shell.user_ns.clear()
    shell.rl_next_input = None
    kernel_runner.warm()
    try:
        yield shell
    finally:
        cache.close()
        magics._pipeline = None
        sys.modules["__main__"] = main_module
