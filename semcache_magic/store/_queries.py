"""The read queries of the store, on an open LanceDB table (no locking, no translation).

:class:`~semcache_magic.store.SnippetStore` resolves the table and translates
errors; these functions only ask and shape the answer. Every snippet read drops
duplicate ids (concurrent upserts on object stores are not atomic).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from ..snippet import Snippet
from ._db import in_list, quote
from ._records import SNIPPET_COLUMNS, dedupe, dedupe_scored, from_row

if TYPE_CHECKING:
    from ._mirror import TableMirror

__all__ = ["SORTS", "by_ids", "by_prefix", "facets", "listing", "matching", "nearest",
           "run_rows"]

#: Listing orders: newest first (by last update), most used first, best voted first (ties:
#: the newer first). The mirror ranks by them (see ``TableMirror.ranked_ids``).
SORTS = ("recent", "uses", "votes")


def matching(table: Any, where: str, limit: int | None) -> list[Snippet]:
    """Snippets where the SQL filter ``where`` holds."""
    rows = table.search().where(where).select(SNIPPET_COLUMNS).limit(limit).to_list()
    return dedupe([from_row(r) for r in rows])


def by_ids(table: Any, ids: Sequence[str]) -> list[Snippet]:
    """The stored snippets among ``ids`` (checked ids only: they are put into SQL)."""
    if not ids:
        return []
    return matching(table, f"id IN {in_list(list(ids))}", max(10, 4 * len(ids)))


def by_prefix(table: Any, prefix: str, limit: int) -> list[Snippet]:
    return matching(table, f"starts_with(id, {quote(prefix)})", limit)


def nearest(table: Any, query: np.ndarray | Callable[[], np.ndarray], text: str, where: str,
            limit: int, *, namespaces: Sequence[str] = (),
            mirror: TableMirror | None = None) -> list[tuple[Snippet, float]]:
    """Nearest snippets by vector *or* full text, each with its cosine similarity.

    ``query`` is the task's unit vector, or a function computing it (the embedding):
    then the full-text query runs on a background thread meanwhile (LanceDB releases
    the GIL). The vector candidates come from ``mirror`` (exact, in memory) when it holds
    the vectors of ``namespaces``, else from LanceDB's vector index. Then one query reads
    the few candidate rows, and similarity is computed from their stored vectors.
    """
    words = " ".join(re.findall(r"\w+", text))[:1000]
    text_job = _background().submit(_text_ids, table, words, where, limit) if (
        words and callable(query)) else None
    vector = query() if callable(query) else query
    ids = mirror.nearest_ids(table, vector, namespaces, 2 * limit) if (
        mirror is not None) else None
    if ids is None:
        ids = _vector_ids(table, vector, where, 2 * limit)
    text_ids = text_job.result() if text_job is not None else (
        _text_ids(table, words, where, limit) if words else [])
    ids += [i for i in text_ids if i not in ids]
    if not ids:
        return []
    found = table.search().where(f"id IN {in_list(ids)}").select(
        [*SNIPPET_COLUMNS, "vector"]).limit(4 * len(ids)).to_arrow()
    # Vectors as one numpy block: converting 384 floats a row to Python lists costs ms.
    dim = found.schema.field("vector").type.list_size
    stored = found.column("vector").combine_chunks().values.to_numpy(
        zero_copy_only=False).reshape(-1, dim)
    similarities = stored @ vector
    rows = found.drop_columns(["vector"]).to_pylist()
    return dedupe_scored([(from_row(r), float(sim))
                          for r, sim in zip(rows, similarities, strict=True)])


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _background() -> ThreadPoolExecutor:
    """Threads for queries that run beside the embedding."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="semcache-store")
        return _pool


def _vector_ids(table: Any, vector: np.ndarray, where: str, limit: int) -> list[str]:
    rows = (
        table.search(vector, vector_column_name="vector")
        .distance_type("cosine")
        .where(where, prefilter=True)
        .select(["id", "_distance"])
        .limit(limit)
        .nprobes(20)  # only matters once the IVF index exists
        .to_arrow()
    )
    return list(dict.fromkeys(rows.column("id").to_pylist()))


def _text_ids(table: Any, words: str, where: str, limit: int) -> list[str]:
    rows = (
        table.search(words, query_type="fts", fts_columns="task")
        .where(where, prefilter=True)
        .select(["id", "_score"])
        .limit(limit)
        .to_arrow()
    )
    return list(dict.fromkeys(rows.column("id").to_pylist()))


def listing(table: Any, mirror: TableMirror, namespaces: Sequence[str] | None, *,
            limit: int, offset: int, sort: str) -> list[Snippet]:
    """Snippets in the order ``sort`` names (a key of :data:`SORTS`): the mirror ranks
    the ids in memory, then one query reads just those rows."""
    ids = mirror.ranked_ids(table, namespaces, sort, offset, limit)
    found = {s.id: s for s in by_ids(table, ids)}
    return [found[i] for i in ids if i in found]


def facets(table: Any) -> list[dict[str, Any]]:
    """(id, namespace, source, uses, successes, failures) of every snippet, for stats."""
    data = table.search().select(
        ["id", "namespace", "source", "use_count", "success_count", "failure_count",
         "updated_at"]
    ).limit(None).to_arrow().to_pylist()
    newest: dict[str, dict[str, Any]] = {}
    for row in data:
        kept = newest.get(row["id"])
        if kept is None or row["updated_at"] > kept["updated_at"]:
            newest[row["id"]] = row
    return list(newest.values())


def run_rows(table: Any, where: str | None) -> list[dict[str, Any]]:
    """Rows of the run log (``at`` as epoch seconds, ``timings`` decoded)."""
    query = table.search()
    if where:
        query = query.where(where)
    rows: list[dict[str, Any]] = query.limit(None).to_arrow().to_pylist()
    for row in rows:
        row["at"] = row["at"].timestamp() if row.get("at") else 0.0
        with contextlib.suppress(ValueError, TypeError):
            row["timings"] = json.loads(row.get("timings") or "{}")
    return rows
