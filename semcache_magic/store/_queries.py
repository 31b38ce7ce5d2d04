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
           "rows_of", "run_rows"]

#: Listing orders: newest first (by last update), most used first, best voted first (ties:
#: the newer first). The mirror ranks by them (see ``TableMirror.ranked_ids``).
SORTS = ("recent", "uses", "votes")


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


def nearest(table: Any, query: np.ndarray | Callable[[], np.ndarray], text: str, where: str,
            limit: int, *, namespaces: Sequence[str] = (), mirror: TableMirror | None = None,
            outlines: bool = False) -> list[tuple[Snippet, float]]:
    """Nearest snippets by vector *or* full text, each with its cosine similarity, best
    first.

    ``query`` is the task's unit vector, or a function computing it (the embedding):
    then the full-text query runs on a background thread meanwhile (LanceDB releases the
    GIL). When ``mirror`` holds the vectors of ``namespaces``, the vector candidates and
    every similarity come from memory (exact); with ``outlines`` the snippets are then
    the mirror's outlines (no code: the caller reads the full row of the one it chooses)
    and no row is read here. Otherwise
    the candidate ids come from LanceDB's vector index and one read fetches their rows,
    similarity computed from the stored vectors (the index is quantised).
    """
    words = " ".join(re.findall(r"\w+", text))[:1000]
    text_job = _background().submit(_text_ids, table, words, where, limit) if (
        words and callable(query)) else None
    vector = query() if callable(query) else query

    def text_ids() -> list[str]:
        if text_job is not None:
            return text_job.result()
        return _text_ids(table, words, where, limit) if words else []

    ids = mirror.nearest_ids(table, vector, namespaces, 2 * limit) if (
        mirror is not None) else None
    scored: list[tuple[Snippet, float]] = []
    if mirror is not None and ids is not None and outlines:
        scored, ids = mirror.outlines([*ids, *text_ids()], vector, namespaces)
    else:
        ids = ids if ids is not None else _vector_ids(table, vector, where, 2 * limit)
        ids += [i for i in text_ids() if i not in ids]
    if ids:  # no outline for these: read their rows
        found = rows_of(table, ids, [*SNIPPET_COLUMNS, "vector"], mirror)
        # Vectors as one numpy block: converting 384 floats a row to Python lists costs ms.
        dim = found.schema.field("vector").type.list_size
        stored = found.column("vector").combine_chunks().values.to_numpy(
            zero_copy_only=False).reshape(-1, dim)
        rows = found.drop_columns(["vector"]).to_pylist()
        scored += [(from_row(r), float(sim)) for r, sim in zip(rows, stored @ vector,
                                                                strict=True)]
    return dedupe_scored(scored)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _background() -> ThreadPoolExecutor:
    """Threads for reads that run while the caller does something else (a full-text
    query while the task is embedded; LanceDB releases the GIL while it reads)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="semcache-store")
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
    if not ids:
        return []
    rows = rows_of(table, ids, SNIPPET_COLUMNS, mirror).to_pylist()
    found = {s.id: s for s in dedupe([from_row(r) for r in rows])}
    return [found[i] for i in ids if i in found]


def rows_of(table: Any, ids: Sequence[str], columns: list[str],
            mirror: TableMirror | None) -> Any:
    """The rows of ``ids`` (not empty) as an Arrow table (``columns`` must include ``id``):
    by the row ids the mirror remembers, then by id for the rows that moved since."""
    import pyarrow as pa

    parts, got = [], set()
    known = mirror.row_ids(ids) if mirror is not None else {}
    if known:
        taken = table.take_row_ids(list(known.values())).select(columns).to_arrow()
        parts.append(taken)
        got = set(taken.column("id").to_pylist())
    rest = [i for i in ids if i not in got]
    if rest:  # a duplicate id can have several rows: room for them
        parts.append(table.search().where(f"id IN {in_list(rest)}").select(columns).limit(
            4 * len(rest)).to_arrow())
    return parts[0] if len(parts) == 1 else pa.concat_tables(parts)


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
