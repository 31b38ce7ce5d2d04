"""The server's one snippet cache and the thread pool its blocking work runs on."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ..cache import SnippetCache
from ..config import SemCache

__all__ = ["CacheService"]

T = TypeVar("T")

#: Threads for store and embedding work. LanceDB releases the GIL while it reads, so a
#: few requests (a search while the list refreshes) proceed side by side.
_WORKERS = 4


class CacheService:
    """Holds the :class:`SnippetCache` of one Jupyter server, created on first use.

    The configuration is a :class:`SemCache` whose parent is the server app, so
    ``c.SemCache.*`` in ``jupyter_server_config.py`` applies; the environment overrides
    it, as for the magic and the CLI.
    """

    def __init__(self, *, parent: Any = None, cache: SnippetCache | None = None) -> None:
        self.config = cache.config if cache is not None else SemCache(parent=parent).apply_env()
        self._cache = cache
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=_WORKERS,
                                            thread_name_prefix="semcache-server")

    @property
    def cache(self) -> SnippetCache:
        with self._lock:
            if self._cache is None:
                cache = SnippetCache(self.config)
                _ = cache.store  # created once here, not raced by the worker threads
                self._cache = cache
            return self._cache

    def warm(self) -> None:
        """Load the embedding model in a daemon thread, so the first search is quick."""
        self.cache.embedder.warm()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking store or model work off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            if self._cache is not None:
                self._cache.close()
