"""semcache-magic: a ``%%cached_task`` magic backed by a semantic snippet cache.

Load it in IPython or Jupyter with ``%load_ext semcache_magic``. This module only
wires the extension hooks; it imports nothing heavy (no torch, LanceDB or the
anthropic SDK), so importing the package and ``%load_ext`` stay fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext semcache_magic``: register ``%%cached_task`` and ``%semcache``."""
    from .notebook import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .notebook import unload_ipython_extension as unload

    unload(ipython)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The jupyter_server extension (REST routes under /semcache/)."""
    return [{"module": "semcache_magic.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """The prebuilt JupyterLab sidebar."""
    return [{"src": "labextension", "dest": "semcache-magic"}]
