"""What the store keeps in memory about its snippets table, in step with its version.

Three reads are asked of the snippets table again and again, and each used to read every
row: the namespaces that hold snippets (the sidebar's list), the newest (or most used,
or best voted) snippets (the sidebar's default view and ``semcache list``), and the
nearest vectors (every semantic lookup). :class:`TableMirror` answers them from memory:

* a *catalog* of every snippet: id, namespace, template, language, times, counts and
  votes (~200 bytes a row) -- what listings sort by and what ranks a semantic candidate;
* the *vectors* of the namespaces semantic lookups search, as a float32 matrix (1.5 KB a
  row at 384 dimensions), unless they hold more than ``vector_rows`` snippets (the store
  then asks LanceDB's vector index instead). A product over it is exact and costs
  ~0.6 ms at 10k rows, ~6-8 ms at 100k. It is ``einsum``, not BLAS: OpenBLAS splits a
  large product over threads that spin, and on a busy 2-core machine one product then
  took 20-50 ms.

It also remembers each snippet's LanceDB row id, so the few rows a listing or a lookup
shows are read by row id rather than through the id index.

Staying in step. Every use first reads the table's version (~0.1 ms). When it moved --
this process or another one wrote -- only what changed is read: LanceDB appends new and
updated rows to new fragments, whose ids only grow, so the rows at row addresses past
the last fragment read are the changed ones (an update moves its row, so new counts
and times arrive this way; a snippet's vector never changes). Deletions leave no such
trace, so the number of rows is compared with what the mirror expects; when they
disagree (a deletion, or a duplicate row from concurrent upserts) the catalog is read
again in full (~50 ms at 100k). A compaction rewrites every row: the catalog is read
again, but no vector.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..snippet import Snippet
from ._db import in_list

__all__ = ["TableMirror"]

_FRAGMENT_SHIFT = 32  # a row address is fragment id << 32 | offset in the fragment
_FETCH_CHUNK = 500
_CATALOG = ["id", "namespace", "template", "language", "created_at", "updated_at",
            "last_used_at", "use_count", "success_count", "failure_count", "votes_up",
            "votes_down", "task_hash", "template_hash", "_rowaddr", "_rowid"]
#: Arrow column -> catalog array, for the counts.
_COUNTS = {"use_count": "uses", "success_count": "successes", "failure_count": "failures",
           "votes_up": "up", "votes_down": "down"}


def _seconds(column: Any) -> np.ndarray:
    values = column.to_numpy(zero_copy_only=False).astype("datetime64[us]").astype(np.int64)
    return values.astype(np.float64) / 1e6


class TableMirror:
    """The catalog of one snippets table, and the vectors of its searched namespaces."""

    def __init__(self, vector_rows: int) -> None:
        self.vector_rows = vector_rows
        self._lock = threading.Lock()
        self._table: Any = None
        self._steady = threading.local()  # this thread's (table, version) inside steady()
        self._clear()

    @contextlib.contextmanager
    def steady(self) -> Iterator[None]:
        """Within the block this thread asks the table for its version once, so the reads
        of one lookup see one version. (With strong read consistency each ask reads the
        store's latest manifest: ~1 ms at 100k rows, three times a lookup.)"""
        outer = getattr(self._steady, "active", False)
        self._steady.active = True
        try:
            yield
        finally:
            if not outer:
                self._steady.active = False
                self._steady.seen = None

    def _version(self, table: Any) -> int:
        if not getattr(self._steady, "active", False):
            return int(table.version)
        seen = getattr(self._steady, "seen", None)
        if seen is None or seen[0] is not table:
            seen = self._steady.seen = (table, int(table.version))
        return int(seen[1])

    def _clear(self) -> None:
        self.version: int | None = None
        self._next_fragment = 0
        self._physical = 0  # rows in the table, duplicates included
        self._ids: list[str] = []
        self._templates: list[str] = []
        self._hashes: set[str] = set()  # task and template hashes ever seen (see may_match)
        self._row: dict[str, int] = {}
        self._names: list[str] = []  # namespace and language codes -> their names
        self._codes: dict[str, int] = {}
        self._cols = {name: np.zeros(0, dtype=kind) for name, kind in (
            ("alive", bool), ("namespace", np.int32), ("language", np.int32),
            ("created", np.float64), ("updated", np.float64), ("last_used", np.float64),
            ("uses", np.int64), ("successes", np.int64), ("failures", np.int64),
            ("up", np.int64), ("down", np.int64), ("rowid", np.int64),
            ("vector", np.int32))}  # vector: its matrix row, or -1
        self._vector_namespaces: frozenset[str] = frozenset()
        self._vectors_on = False
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        self._owner = np.zeros(0, dtype=np.int32)  # matrix row -> catalog row
        self._held = 0  # matrix rows in use
        self._keep_memo: tuple[Any, np.ndarray | None] | None = None

    @property
    def vector_count(self) -> int:
        """Live snippets whose vectors are held."""
        return int(self._cols["alive"][self._owner[:self._held]].sum())

    # -- answers ---------------------------------------------------------------------------

    def namespaces(self, table: Any) -> list[str]:
        """The namespaces that hold at least one snippet, sorted."""
        with self._lock:
            self._sync(table)
            n = len(self._ids)
            codes = np.unique(self._cols["namespace"][:n][self._cols["alive"][:n]])
            return sorted(self._names[c] for c in codes)

    def ranked_ids(self, table: Any, namespaces: Sequence[str] | None, sort: str,
                   offset: int, limit: int) -> list[str]:
        """Ids in ``sort`` order (``recent``, ``uses``, ``votes``), as the store lists them."""
        with self._lock:
            self._sync(table)
            rows = np.flatnonzero(self._keep(namespaces))
            if not len(rows) or limit <= 0:
                return []
            cols = self._cols
            updated, created = cols["updated"][rows], cols["created"][rows]
            recency = np.where(updated > 0, updated, created)
            if sort == "recent":
                want = min(len(rows), offset + limit)
                best = np.argpartition(-recency, want - 1)[:want]
                order = best[np.argsort(-recency[best], kind="stable")]
            else:
                primary = cols["uses"][rows] if sort == "uses" else (
                    cols["up"][rows] - cols["down"][rows])
                order = np.lexsort((-updated, -primary))
            return [self._ids[r] for r in rows[order[offset:offset + limit]]]

    def nearest_ids(self, table: Any, query: np.ndarray, namespaces: Sequence[str],
                    limit: int) -> list[str] | None:
        """Ids of the ``limit`` snippets of ``namespaces`` nearest to ``query`` (exact
        cosine of unit vectors), best first; None when their vectors are not held."""
        with self._lock:
            return self._nearest(table, query, namespaces, limit)

    def _nearest(self, table: Any, query: np.ndarray, namespaces: Sequence[str],
                 limit: int) -> list[str] | None:
        self._sync(table)
        wanted = frozenset(namespaces)
        if not wanted <= self._vector_namespaces:
            self._load_vectors(table, self._vector_namespaces | wanted)
        if not self._vectors_on:
            return None
        if not self._held or limit <= 0:
            return []
        scores = np.einsum("ij,j->i", self._matrix[:self._held],
                           query.astype(np.float32, copy=False))
        owners = self._owner[:self._held]
        keep = self._held_keep(namespaces)
        if keep is not None:
            scores[~keep] = -np.inf
        k = min(limit, self._held if keep is None else int(keep.sum()))
        if k == 0:
            return []
        best = np.argpartition(scores, len(scores) - k)[-k:]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [self._ids[owners[i]] for i in best]

    def _held_keep(self, namespaces: Sequence[str]) -> np.ndarray | None:
        """Which held vectors belong to live snippets of ``namespaces`` (None: all of
        them); remembered until the next change, as every lookup asks the same."""
        key = (frozenset(namespaces), self._held, self.version)
        if self._keep_memo is None or self._keep_memo[0] != key:
            keep = self._keep(namespaces)[self._owner[:self._held]]
            self._keep_memo = (key, None if keep.all() else keep)
        return self._keep_memo[1]

    def outlines(self, ids: Sequence[str], query: np.ndarray, namespaces: Sequence[str],
                 ) -> tuple[list[tuple[Snippet, float]], list[str]]:
        """``ids`` (right after :meth:`nearest_ids`, and full-text matches) as *outlines*
        -- the fields ranking reads (template, language, times, counts, votes; no code) --
        each with its exact cosine; and the ids the mirror holds no vector for."""
        with self._lock:
            vector_of, alive = self._cols["vector"], self._cols["alive"]
            wanted = set(namespaces)
            found, missing = [], []
            for snippet_id in dict.fromkeys(ids):
                row = self._row.get(snippet_id)
                if row is None or not alive[row] or vector_of[row] < 0 or (
                        self._names[self._cols["namespace"][row]] not in wanted):
                    missing.append(snippet_id)
                    continue
                similarity = float(self._matrix[vector_of[row]] @ query)
                found.append((self._outline(row), similarity))
            return found, missing

    def _outline(self, row: int) -> Snippet:
        cols = self._cols
        return Snippet(
            id=self._ids[row], namespace=self._names[cols["namespace"][row]], task="",
            task_norm="", template=self._templates[row], template_hash="", task_hash="",
            code="", code_hash="", language=self._names[cols["language"][row]],
            created_at=float(cols["created"][row]), updated_at=float(cols["updated"][row]),
            last_used_at=float(cols["last_used"][row]), use_count=int(cols["uses"][row]),
            success_count=int(cols["successes"][row]),
            failure_count=int(cols["failures"][row]), votes_up=int(cols["up"][row]),
            votes_down=int(cols["down"][row]))

    def surely_absent(self, table: Any, hashes: Sequence[str]) -> bool:
        """True when the mirror is in step with ``table`` (same version: ~0.1 ms to ask)
        and no snippet ever had one of these task or template hashes: then no row has
        them now, and the exact and slot probe needs no query."""
        with self._lock:
            return (table is self._table and self.version is not None
                    and self._version(table) == self.version
                    and not any(h in self._hashes for h in hashes))

    def may_match(self, hashes: Sequence[str]) -> bool | None:
        """Whether a snippet with one of these task or template hashes was ever seen; None
        before the mirror first read the table. A guess from the last look (no version
        check, so it costs nothing): the exact and slot tiers ask the store itself."""
        with self._lock:
            if self.version is None:
                return None
            return any(h in self._hashes for h in hashes)

    def current_row_ids(self, table: Any, ids: Sequence[str]) -> dict[str, int]:
        """Row ids of ``ids`` as the table holds them now (empty before the mirror first
        read the table: a one-off read is not worth a whole catalog)."""
        with self._lock:
            if self.version is None:
                return {}
            self._sync(table)
        return self.row_ids(ids)

    def row_ids(self, ids: Sequence[str]) -> dict[str, int]:
        """LanceDB row ids of ``ids`` as last seen: reading rows by row id skips the id
        index (~3 ms instead of ~8 ms at 100k rows). A row moved or deleted since is
        simply not returned by such a read; the caller asks by id for those."""
        with self._lock:
            rows = [(i, self._row[i]) for i in ids if i in self._row]
            alive, rowid = self._cols["alive"], self._cols["rowid"]
            return {i: int(rowid[r]) for i, r in rows if alive[r]}

    def _keep(self, namespaces: Sequence[str] | None) -> np.ndarray:
        n = len(self._ids)
        alive = self._cols["alive"][:n]
        if namespaces is None:
            return alive
        codes = [self._codes[ns] for ns in namespaces if ns in self._codes]
        return alive & np.isin(self._cols["namespace"][:n], codes)

    # -- staying in step -----------------------------------------------------------------

    def _sync(self, table: Any) -> None:
        version = self._version(table)
        if table is not self._table:
            self._table = table
            self._clear()
        if version == self.version:
            return
        if self.version is None:
            self._physical = self._read(table, "").num_rows
        else:
            fresh = self._read(table, f"_rowaddr >= {self._next_fragment << _FRAGMENT_SHIFT}")
            ids = fresh.column("id").to_pylist()
            moved = sum(1 for i in ids if i in self._row)
            expected = self._physical + len(ids) - moved
            if table.count_rows() != expected:  # a deletion or a duplicate
                self._physical = self._read(table, "", reconcile=True).num_rows
            else:
                self._physical = expected
        if self._vector_namespaces and not self._vectors_on:
            self._load_vectors(table, self._vector_namespaces)  # small enough again?
        self._fetch_vectors(table)
        if self._vectors_on and self._held > self.vector_rows:
            self._drop_vectors()
        self.version = version

    def _read(self, table: Any, where: str, *, reconcile: bool = False) -> Any:
        """Read catalog rows (all, or those matching ``where``) into the catalog."""
        query = table.search()
        if where:
            query = query.where(where)
        listing = query.select(_CATALOG).limit(None).to_arrow()
        addresses = listing.column("_rowaddr").to_numpy()
        if len(addresses):
            self._next_fragment = max(self._next_fragment,
                                      int(addresses.max() >> _FRAGMENT_SHIFT) + 1)
        ids = listing.column("id").to_pylist()
        if reconcile:
            live = set(ids)
            for snippet_id, row in self._row.items():
                if snippet_id not in live:
                    self._cols["alive"][row] = False
        rows = np.array([self._slot(i) for i in ids], dtype=np.int64)
        if len(rows):
            cols = self._cols
            for name in ("namespace", "language"):
                cols[name][rows] = [self._code(value or "") for value in
                                    listing.column(name).to_pylist()]
            for name in ("task_hash", "template_hash"):
                self._hashes.update(listing.column(name).to_pylist())
            for row, template in zip(rows.tolist(), listing.column("template").to_pylist(),
                                     strict=True):
                self._templates[row] = template or ""
            cols["created"][rows] = _seconds(listing.column("created_at"))
            cols["updated"][rows] = _seconds(listing.column("updated_at"))
            cols["last_used"][rows] = _seconds(listing.column("last_used_at"))
            for column, name in _COUNTS.items():
                cols[name][rows] = listing.column(column).fill_null(0).to_numpy(
                    zero_copy_only=False)
            cols["rowid"][rows] = listing.column("_rowid").to_numpy()
            cols["alive"][rows] = True
        return listing

    def _slot(self, snippet_id: str) -> int:
        row = self._row.get(snippet_id)
        if row is None:
            row = len(self._ids)
            if row == len(self._cols["alive"]):
                size = max(1024, 2 * row)
                for name, values in self._cols.items():
                    grown = np.resize(values, size)
                    grown[row:] = -1 if name == "vector" else 0
                    self._cols[name] = grown
            self._ids.append(snippet_id)
            self._templates.append("")
            self._row[snippet_id] = row
            self._cols["vector"][row] = -1
        return row

    def _code(self, namespace: str) -> int:
        code = self._codes.get(namespace)
        if code is None:
            code = self._codes[namespace] = len(self._names)
            self._names.append(namespace)
        return code

    # -- vectors ---------------------------------------------------------------------------

    def _load_vectors(self, table: Any, namespaces: frozenset[str]) -> None:
        self._drop_vectors()
        self._vector_namespaces = namespaces
        if self.vector_rows <= 0 or int(self._keep(sorted(namespaces)).sum()) > self.vector_rows:
            return
        self._vectors_on = True
        self._fetch_vectors(table)

    def _drop_vectors(self) -> None:
        self._vectors_on = False
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        self._owner = np.zeros(0, dtype=np.int32)
        self._held = 0
        self._keep_memo = None
        self._cols["vector"][:] = -1

    def _fetch_vectors(self, table: Any) -> None:
        """Read the vectors of the searched namespaces' snippets not held yet."""
        if not self._vectors_on:
            return
        n = len(self._ids)
        missing = np.flatnonzero(self._keep(sorted(self._vector_namespaces))
                                 & (self._cols["vector"][:n] < 0))
        if not len(missing):
            return
        if len(missing) > _FETCH_CHUNK:  # a first load: one scan beats many id lookups
            where = f"namespace IN {in_list(sorted(self._vector_namespaces))}"
            self._take_vectors(table.search().where(where).select(["id", "vector"]).limit(
                None).to_arrow())
            return
        wanted = [self._ids[r] for r in missing]
        self._take_vectors(table.search().where(f"id IN {in_list(wanted)}").select(
            ["id", "vector"]).limit(4 * len(wanted)).to_arrow())

    def _take_vectors(self, found: Any) -> None:
        if found.num_rows == 0:
            return
        dim = found.schema.field("vector").type.list_size
        block = found.column("vector").combine_chunks().values.to_numpy(
            zero_copy_only=False).reshape(-1, dim)
        rows: list[int] = []
        picked: list[int] = []
        taken: set[int] = set()
        has_vector = self._cols["vector"]
        for i, snippet_id in enumerate(found.column("id").to_pylist()):
            row = self._row.get(snippet_id)
            if row is not None and has_vector[row] < 0 and row not in taken:
                taken.add(row)  # duplicate rows share one vector: take it once
                rows.append(row)
                picked.append(i)
        count = len(rows)
        if self._matrix.shape[1] != dim or self._held + count > len(self._matrix):
            size = max(self._held + count, 2 * self._held, 1024)
            matrix = np.zeros((size, dim), dtype=np.float32)
            if self._held:
                matrix[:self._held] = self._matrix[:self._held]
            self._matrix, self._owner = matrix, np.resize(self._owner, size)
        start = self._held
        self._matrix[start:start + count] = block[picked]
        self._owner[start:start + count] = rows
        self._cols["vector"][rows] = np.arange(start, start + count, dtype=np.int32)
        self._held += count
        self._keep_memo = None
