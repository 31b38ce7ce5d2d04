"""The notebook face: ``%%cached_task`` and ``%semcache`` (``%load_ext semcache_magic``)."""

from __future__ import annotations

from ._magics import SemcacheMagics, load_ipython_extension, unload_ipython_extension

__all__ = ["SemcacheMagics", "load_ipython_extension", "unload_ipython_extension"]
