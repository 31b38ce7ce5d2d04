"""The store stage: snippets and the run log in LanceDB (the only lancedb importer).

:class:`SnippetStore` keeps two tables (``snippets`` and ``runs``) under one
LanceDB URI: a local directory by default, an object-store URI for teams. Below
it, the connection, the inter-process lock and the deadline of object-store
operations live in ``_db``; what a LanceDB error means (credentials, a missing
bucket, an unreachable endpoint, damage) is decided in ``_failures``; the Arrow
schemas and row conversion in ``_records``.
"""

from __future__ import annotations

from ._db import check_id, is_local_uri
from ._store import SnippetStore

__all__ = ["SnippetStore", "check_id", "is_local_uri"]
