"""The snippet store: the snippets and runs tables on LanceDB (through :mod:`._db`).

Two tables live under one LanceDB URI (a local directory by default; ``s3://``,
``gs://``, ``az://`` and ``db://`` URIs for teams):

``snippets``
    one row per (namespace, task, code), keyed by a content-derived ``id``; the
    task's vector, its exact/template hashes, provenance, counts and votes.
``runs``
    an append-only log of every ``%%cached_task`` run (the stats come from it).

Consistency. LanceDB writes are multi-version; appends from several processes
never conflict, but concurrent *upserts* of the same id are not atomic. So ids
are derived from content (the same snippet saved twice has the same id), all
read paths drop duplicate ids (keeping the freshest row), and on a local
directory every read-modify-write runs under an inter-process file lock.

Freshness. Rows written after an index was built are not in that index until
``optimize()``; LanceDB still finds them by scanning the unindexed part, so new
rows are searchable at once. :meth:`SnippetStore.maintain` folds them in every
``optimize_every`` writes and builds the ANN index once the table is large.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._lru import LeastRecent
from ..errors import SnippetNotFoundError, StoreError, StoreSchemaError
from ..snippet import RunRecord, Snippet
from . import _queries as queries
from ._db import Database, check_id, in_list, is_local_uri, quote, reopening, reopening_unbounded
from ._mirror import TableMirror
from ._reads import SnippetReads
from ._records import (
    ADDED_COLUMNS,
    key_columns,
    run_row,
    run_schema,
    snippet_schema,
    sql_time,
    to_row,
)

__all__ = ["SnippetStore", "check_id", "is_local_uri"]

_HASH_RE = re.compile(r"^[0-9a-f]{8,64}$")

class SnippetStore(SnippetReads):
    """Snippets and runs in one LanceDB database: the writes and upkeep here, the
    reads in ``_reads``."""

    SNIPPETS = "snippets"
    RUNS = "runs"

    def __init__(
        self,
        uri: str,
        *,
        dim: int | None = None,
        embedder_name: str = "",
        storage_options: dict[str, str] | None = None,
        optimize_every: int = 200,
        vector_index_min_rows: int = 50_000,
        vector_cache_rows: int = 200_000,
        timeout: float | None = None,
    ) -> None:
        self.db = Database(uri, storage_options=storage_options, timeout=timeout)
        self.uri = self.db.uri
        # The vector size is only needed to create the table; reads take it from disk, so
        # the exact and slot tiers never have to load the embedding model.
        self.dim = int(dim) if dim else None
        self.embedder_name = embedder_name
        self.optimize_every = optimize_every
        self.vector_index_min_rows = vector_index_min_rows
        self._writes_since_optimize = 0
        self.table_dim: int | None = None
        #: The snippets' catalog and the searched namespaces' vectors in memory, for
        #: listings, namespaces and semantic lookups (see _mirror).
        self.mirror = TableMirror(vector_cache_rows)
        self._recent: LeastRecent[tuple[int, Snippet]] = LeastRecent(256)

    @property
    def connected(self) -> bool:
        """Whether the database is open (the first open imports lancedb: seconds)."""
        return self.db.connected

    # -- tables ----------------------------------------------------------------

    def _table(self, name: str, *, create: bool = True) -> Any:
        """The ``snippets`` or ``runs`` table (None when missing and ``create`` is False)."""
        table = self.db.table(name, (lambda db: self._create(db, name)) if create else None)
        if table is not None and name == self.SNIPPETS and self.table_dim is None:
            self._check_schema(table)
        return table

    def _create(self, db: Any, name: str) -> Any:
        if name == self.SNIPPETS:
            if not self.dim:
                raise StoreError("internal: the vector size is needed to create the store")
            table = db.create_table(name, schema=snippet_schema(self.dim, self.embedder_name))
            # Created empty: later rows are scanned until optimize() folds them in.
            self.db.index_scalars(table, btree=("task_hash", "template_hash", "id"),
                                  bitmap=("namespace",), fts=("task", "code"))
            return table
        return db.create_table(name, schema=run_schema())

    def _check_schema(self, table: Any) -> None:
        field = table.schema.field("vector")
        size = getattr(field.type, "list_size", None)
        self.table_dim = size
        if self.dim and size != self.dim:
            raise StoreSchemaError(
                f"the store {self.uri!r} holds {size}-d vectors but the embedder makes "
                f"{self.dim}-d ones"
            )
        missing = {name: sql for name, sql in ADDED_COLUMNS.items()
                   if name not in table.schema.names}
        if missing:  # a version-1 store: add the new columns in place (existing rows keep
            # their data; reads of old rows default the new fields)
            with self.db.translate("upgrade the store"), self.db.write_lock():
                table.add_columns(missing)

    # -- writes ------------------------------------------------------------------

    @reopening
    def upsert(self, snippet: Snippet, vector: np.ndarray, *, successes: int = 0) -> tuple[
        Snippet, bool
    ]:
        """Insert ``snippet``, or, if its id exists, count it as used again.

        Returns the stored snippet and whether it was new.
        """
        check_id(snippet.id)
        table = self._table(self.SNIPPETS)
        with self.db.translate("save the snippet"), self.db.write_lock():
            existing = self._get_rows(table, [snippet.id])
            now = time.time()
            if existing:
                current = existing[0]
                tags = sorted(set(current.tags) | set(snippet.tags))
                table.update(
                    where=f"id = {quote(snippet.id)}",
                    values_sql={
                        "use_count": "use_count + 1",
                        "success_count": f"success_count + {int(successes)}",
                        "updated_at": sql_time(now),
                        "last_used_at": sql_time(now),
                    },
                )
                if tags != sorted(current.tags):
                    table.update(where=f"id = {quote(snippet.id)}", values={"tags": tags})
                current.use_count += 1
                current.success_count += int(successes)
                current.updated_at = current.last_used_at = now
                current.tags = tags
                self._after_write()
                return current, False
            snippet.created_at = snippet.created_at or now
            snippet.updated_at = now
            snippet.success_count = max(snippet.success_count, int(successes))
            table.add([to_row(snippet, vector)])
        self._after_write()
        return snippet, True

    @reopening
    def add_many(self, items: Sequence[tuple[Snippet, np.ndarray]]) -> list[tuple[Snippet, bool]]:
        """Bulk form of :meth:`upsert`: one append for the new rows, bumps for known ids."""
        if not items:
            return []
        table = self._table(self.SNIPPETS)
        results: list[tuple[Snippet, bool]] = []
        with self.db.translate("save snippets"), self.db.write_lock():
            known = {s.id for s in self._get_rows(table, [s.id for s, _ in items])}
            rows, now, seen = [], time.time(), set()
            for snippet, vector in items:
                check_id(snippet.id)
                if snippet.id in known or snippet.id in seen:
                    results.append((snippet, False))
                    continue
                seen.add(snippet.id)
                snippet.created_at = snippet.created_at or now
                snippet.updated_at = now
                rows.append(to_row(snippet, vector))
                results.append((snippet, True))
            if rows:
                table.add(rows)
            repeats = [s.id for s, created in results if not created]
        for snippet_id in repeats:
            self.record_use(snippet_id, success=None)
        self._after_write(len(rows))
        return results

    @reopening
    def record_use(self, snippet_id: str, *, success: bool | None) -> None:
        """Count one use of a snippet, and its outcome when known."""
        values = {"use_count": "use_count + 1", "last_used_at": sql_time(time.time())}
        if success is True:
            values["success_count"] = "success_count + 1"
        elif success is False:
            values["failure_count"] = "failure_count + 1"
        self._update(snippet_id, values, "record the snippet's use")

    @reopening
    def add_evidence(self, snippet_id: str, *, confirmed: Sequence[str] = (),
                     refuted: Sequence[str] = ()) -> Snippet:
        """Add entries to a snippet's ``confirmed``/``refuted`` evidence (a
        read-modify-write under the store's lock)."""
        table = self._table(self.SNIPPETS, create=False)
        if table is None:
            raise SnippetNotFoundError.for_id(snippet_id)
        with self.db.translate("record the model's evidence"), self.db.write_lock():
            snippet = self._require(table, snippet_id)
            evidence = {key: set(values) for key, values in snippet.evidence.items()}
            evidence.setdefault("confirmed", set()).update(str(i) for i in confirmed)
            evidence.setdefault("refuted", set()).update(str(i) for i in refuted)
            snippet.evidence = {key: sorted(values) for key, values in evidence.items() if values}
            table.update(where=f"id = {quote(snippet_id)}",
                         values={"evidence": json.dumps(snippet.evidence, sort_keys=True)})
        self._after_write()
        return snippet

    @reopening
    def rekey(self, analyse: Callable[[Snippet], Snippet], *, sample: int = 50) -> int:
        """Recompute the task-derived key columns where ``analyse`` (snippet -> the same
        snippet with fresh keys) disagrees with what is stored: after an upgrade changed
        the task analysis, old rows would otherwise never be exact matches again. A
        sample of the oldest rows is checked first, so an up-to-date store costs one
        small read. Returns how many rows changed."""
        table = self._table(self.SNIPPETS, create=False)
        if table is None:
            return 0
        with self.db.translate("check the store's task keys"):
            probe = queries.matching(table, None, sample)
        if all(key_columns(analyse(s)) == key_columns(s) for s in probe):
            return 0
        with self.db.translate("update the store's task keys"), self.db.write_lock():
            updates = []
            for snippet in queries.matching(table, None, None):
                fresh = key_columns(analyse(snippet))
                if fresh != key_columns(snippet):
                    updates.append({"id": snippet.id, **fresh})
            if updates:
                import pyarrow as pa

                table.merge_insert("id").when_matched_update_all().execute(
                    pa.Table.from_pylist(updates))
        self._after_write(len(updates))
        return len(updates)

    @reopening
    def vote(self, snippet_id: str, up: bool) -> Snippet:
        column = "votes_up" if up else "votes_down"
        self._update(snippet_id, {column: f"{column} + 1"}, "record the vote")
        return self.get(snippet_id)

    @reopening
    def set_tags(self, snippet_id: str, tags: Sequence[str]) -> Snippet:
        clean = sorted({str(t).strip() for t in tags if str(t).strip()})
        table = self._table(self.SNIPPETS, create=False)
        if table is None:
            raise SnippetNotFoundError.for_id(snippet_id)
        with self.db.translate("set tags"), self.db.write_lock():
            self._require(table, snippet_id)
            where = f"id = {quote(snippet_id)}"
            if clean:
                table.update(where=where, values={"tags": clean})
            else:  # an empty Python list has no Arrow type: say it in SQL
                table.update(where=where,
                             values_sql={"tags": "arrow_cast(make_array(), 'List(Utf8)')"})
        self._after_write()
        return self.get(snippet_id)

    def _update(self, snippet_id: str, values_sql: dict[str, str], action: str) -> None:
        table = self._table(self.SNIPPETS, create=False)
        if table is None:
            raise SnippetNotFoundError.for_id(snippet_id)
        with self.db.translate(action), self.db.write_lock():
            # No read first: the update says how many rows it changed (a read costs
            # ~10 ms on the exact-hit path, which records a use on every run).
            result = table.update(where=f"id = {quote(check_id(snippet_id))}",
                                  values_sql=values_sql)
        if not getattr(result, "rows_updated", 1):
            raise SnippetNotFoundError.for_id(snippet_id)
        self._after_write()

    @reopening
    def delete(self, snippet_id: str) -> Snippet:
        """Delete a snippet; returns what was deleted."""
        table = self._table(self.SNIPPETS, create=False)
        if table is None:
            raise SnippetNotFoundError.for_id(snippet_id)
        with self.db.translate("delete the snippet"), self.db.write_lock():
            snippet = self._require(table, snippet_id)
            table.delete(f"id = {quote(snippet_id)}")
        self._after_write()
        return snippet

    @reopening
    def delete_many(self, ids: Sequence[str]) -> int:
        """Delete the snippets with these ids (unknown ids are ignored); returns how many
        rows were deleted."""
        table = self._table(self.SNIPPETS, create=False)
        if table is None or not ids:
            return 0
        checked = [check_id(i) for i in ids]
        deleted = 0
        with self.db.translate("delete snippets"), self.db.write_lock():
            for start in range(0, len(checked), 500):  # bounded SQL per statement
                where = f"id IN {in_list(checked[start: start + 500])}"
                before = int(table.count_rows(where))
                table.delete(where)
                deleted += before
        self._after_write(deleted)
        return deleted

    @reopening
    def imported(self, namespaces: Sequence[str]) -> list[Snippet]:
        """Every snippet imported from a notebook (source ``imported``) in ``namespaces``."""
        table = self._table(self.SNIPPETS, create=False)
        if table is None or not namespaces:
            return []
        with self.db.translate("read imported snippets"):
            return queries.matching(
                table, f"source = 'imported' AND namespace IN {in_list(namespaces)}", None)

    @reopening
    def append_run(self, run: RunRecord) -> None:
        """Append one row to the run log."""
        table = self._table(self.RUNS)
        row = run_row(run.to_dict())
        with self.db.translate("record the run"):
            table.add([row])

    def _after_write(self, count: int = 1) -> None:
        self._writes_since_optimize += count
        if self.optimize_every and self._writes_since_optimize >= self.optimize_every:
            self._writes_since_optimize = 0
            if self.db.timeout is None:
                self._housekeeping()
            else:  # an object store: compaction takes seconds, the save is done already
                threading.Thread(target=self._housekeeping, name="semcache-optimize",
                                 daemon=True).start()

    def _housekeeping(self) -> None:
        # Housekeeping must not fail the write that triggered it (that write is
        # committed): on a shared object store another client may be compacting at
        # the same moment (a retryable commit conflict). Try again after more writes.
        with contextlib.suppress(StoreError):
            self.maintain()

    @reopening_unbounded
    def maintain(self, *, build_vector_index: bool | None = None) -> dict[str, Any]:
        """Fold new rows into the indexes, compact, prune old versions; build the ANN
        index when the table has grown past ``vector_index_min_rows``."""
        table = self._table(self.SNIPPETS)
        report: dict[str, Any] = {}
        started = time.perf_counter()
        with self.db.translate("optimise the store"), self.db.write_lock():
            rows = table.count_rows()
            has_vector_index = any(i.index_type.startswith("IVF") for i in table.list_indices())
            wanted = rows >= self.vector_index_min_rows if build_vector_index is None else (
                build_vector_index
            )
            if wanted and not has_vector_index and rows >= 256:
                partitions = max(1, min(1024, int(rows**0.5)))
                report["vector_index"] = self.db.index_vectors(table, "vector",
                                                               partitions=partitions)
            table.optimize(cleanup_older_than=dt.timedelta(hours=1))
            report["rows"] = rows
        self._writes_since_optimize = 0
        report["seconds"] = round(time.perf_counter() - started, 3)
        return report

    def close(self) -> None:
        self.db.close()
        self.mirror = TableMirror(self.mirror.vector_rows)  # frees its memory
