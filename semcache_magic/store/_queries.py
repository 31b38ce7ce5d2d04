"""The read queries of the store, on an open LanceDB table (no locking, no translation).

:class:`~semcache_magic.store.SnippetStore` resolves the table and translates
errors; these functions only ask and shape the answer. Every snippet read drops
duplicate ids (concurrent upserts on object stores are not atomic).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..snippet import Snippet
from ._db import in_list, quote
from ._records import SNIPPET_COLUMNS, dedupe, dedupe_scored, from_row

__all__ = ["SORTS", "by_ids", "by_prefix", "facets", "listing", "matching", "namespaces",
           "nearest", "run_rows"]

#: Listing orders: newest first, most used first, best voted first.
SORTS: dict[str, Callable[[Snippet], Any]] = {
    "recent": lambda s: -(s.updated_at or s.created_at),
    "uses": lambda s: (-s.use_count, -(s.updated_at or 0)),
    "votes": lambda s: (-(s.votes_up - s.votes_down), -(s.updated_at or 0)),
}


def matching(table: Any, where: str | None, limit: int | None) -> list[Snippet]:
    """Snippets where the SQL filter ``where`` holds (all of them for ``None``)."""
    query = table.search()
    if where:
        query = query.where(where)
    rows = query.select(SNIPPET_COLUMNS).limit(limit).to_list()
    return dedupe([from_row(r) for r in rows])


def by_ids(table: Any, ids: Sequence[str]) -> list[Snippet]:
    """The stored snippets among ``ids`` (checked ids only: they are put into SQL)."""
    if not ids:
        return []
    return matching(table, f"id IN {in_list(list(ids))}", max(10, 4 * len(ids)))


def by_prefix(table: Any, prefix: str, limit: int) -> list[Snippet]:
    return matching(table, f"starts_with(id, {quote(prefix)})", limit)


def nearest(table: Any, query: np.ndarray, text: str, where: str, limit: int,
            dim: int) -> list[tuple[Snippet, float]]:
    """Nearest snippets by vector *or* full text, each with its cosine similarity.

    Two phases, because reading whole rows is what costs at 100k rows: the ANN
    and BM25 queries fetch only ids, then one query reads the few candidate rows.
    Similarity is recomputed exactly from the stored vectors (the ANN index is
    quantised).
    """
    # One after the other: LanceDB's sync API runs both on one background loop,
    # and measured concurrency here saved nothing.
    ids = _vector_ids(table, query, where, 2 * limit)
    ids += [i for i in _text_ids(table, text, where, limit) if i not in ids]
    if not ids:
        return []
    found = table.search().where(f"id IN {in_list(ids)}").select(
        [*SNIPPET_COLUMNS, "vector"]).limit(4 * len(ids)).to_arrow()
    # Vectors as one numpy block: converting 384 floats a row to Python lists costs ms.
    vectors = found.column("vector").combine_chunks().values.to_numpy(
        zero_copy_only=False).reshape(-1, dim)
    similarities = vectors @ query
    rows = found.drop_columns(["vector"]).to_pylist()
    return dedupe_scored([(from_row(r), float(sim))
                          for r, sim in zip(rows, similarities, strict=True)])


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


def _text_ids(table: Any, text: str, where: str, limit: int) -> list[str]:
    words = " ".join(re.findall(r"\w+", text))[:1000]
    if not words:
        return []
    rows = (
        table.search(words, query_type="fts", fts_columns="task")
        .where(where, prefilter=True)
        .select(["id", "_score"])
        .limit(limit)
        .to_arrow()
    )
    return list(dict.fromkeys(rows.column("id").to_pylist()))


def listing(table: Any, where: str | None, *, limit: int, offset: int,
            sort: str) -> list[Snippet]:
    """Snippets in the order ``sort`` names (a key of :data:`SORTS`)."""
    query = table.search()
    if where:
        query = query.where(where)
    # Sorting happens here: LanceDB has no ORDER BY on plain scans.
    rows = query.select(SNIPPET_COLUMNS).limit(max(0, offset + limit) * 4 + 100
                                               if sort != "recent" else None).to_list()
    snippets = dedupe([from_row(r) for r in rows])
    snippets.sort(key=SORTS[sort])
    return snippets[offset: offset + limit]


def namespaces(table: Any) -> list[str]:
    """The namespaces that hold snippets (reads the namespace column only)."""
    column = table.search().select(["namespace"]).limit(None).to_arrow()["namespace"]
    return sorted({str(ns) for ns in column.unique().to_pylist() if ns})


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
