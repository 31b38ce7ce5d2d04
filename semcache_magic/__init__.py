"""semcache-magic: a ``%%cached_task`` magic backed by a semantic snippet cache.

Load it in IPython or Jupyter with ``%load_ext semcache_magic``. This module only
wires the extension hooks; it imports nothing heavy (no torch, LanceDB or the
anthropic SDK), so importing the package and ``%load_ext`` stay fast.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
