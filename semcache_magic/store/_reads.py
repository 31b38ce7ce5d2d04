"""The reads of the snippet store: one snippet, many, by hash, by search, in lists.

:class:`SnippetReads` is the read half of :class:`~semcache_magic.store.SnippetStore`
(which adds the writes and upkeep): it resolves the table, translates LanceDB
errors and consults the in-memory mirror; the queries themselves are in
``_queries``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._lru import LeastRecent
from ..errors import ConfigurationError, SnippetNotFoundError, StoreError, StoreSchemaError
from ..snippet import Snippet
from . import _queries as queries
from ._db import Database, check_id, in_list, reopening
from ._mirror import TableMirror
from ._records import SNIPPET_COLUMNS, dedupe, from_row, sql_time

__all__ = ["SnippetReads"]

_HASH_RE = re.compile(r"^[0-9a-f]{8,64}$")


class SnippetReads:
    """Reads of the ``snippets`` and ``runs`` tables (the store's read half)."""

    SNIPPETS = "snippets"
    RUNS = "runs"
    db: Database
    uri: str
    table_dim: int | None
    mirror: TableMirror
    _recent: LeastRecent[tuple[int, Snippet]]

    def _table(self, name: str, *, create: bool = True) -> Any:
        raise NotImplementedError  # the store resolves (and creates) its tables

    def _require(self, table: Any, snippet_id: str) -> Snippet:
        rows = self._get_rows(table, [check_id(snippet_id)])
        if not rows:
            raise SnippetNotFoundError.for_id(snippet_id)
        return rows[0]

    @staticmethod
    def _get_rows(table: Any, ids: Sequence[str]) -> list[Snippet]:
        return queries.by_ids(table, [check_id(i) for i in ids])

    @reopening
    def exists(self) -> bool:
        """Whether the snippets table exists (nothing has been saved when it does not)."""
        return self._table(self.SNIPPETS, create=False) is not None

    @reopening
    def get(self, snippet_id: str) -> Snippet:
        table = self._table(self.SNIPPETS, create=False)
        if table is None:
            raise SnippetNotFoundError.for_id(snippet_id)
        with self.db.translate("read the snippet"):
            return self._require(table, snippet_id)

    @reopening
    def get_many(self, ids: Sequence[str]) -> list[Snippet]:
        """The stored snippets among ``ids`` in one read (unknown ids are left out).

        Snippets read lately are kept (the last 256) with the row id they were read at;
        while the table still holds them at that row id -- unchanged, as the mirror
        checks against the table's version -- they are not read again.
        """
        table = self._table(self.SNIPPETS, create=False)
        if table is None or not ids:
            return []
        ids = [check_id(i) for i in ids]
        with self.db.translate("read snippets"):
            now = self.mirror.current_row_ids(table, ids)
            kept = {i: self._recent.get(i) for i in ids}
            found = {i: copy.deepcopy(entry[1]) for i, entry in kept.items()
                     if entry is not None and i in now and entry[0] == now[i]}
            missing = [i for i in ids if i not in found]
            if missing:
                rows = queries.rows_of(table, missing, SNIPPET_COLUMNS, self.mirror)
                for snippet in dedupe([from_row(r) for r in rows.to_pylist()]):
                    found[snippet.id] = snippet
                    if snippet.id in now:
                        self._recent.put(snippet.id, (now[snippet.id], copy.deepcopy(snippet)))
        return [found[i] for i in dict.fromkeys(ids) if i in found]

    @reopening
    def find_id_prefix(self, prefix: str, limit: int = 5) -> list[Snippet]:
        """Snippets whose id starts with ``prefix`` (for short ids typed by users)."""
        check_id(prefix)
        table = self._table(self.SNIPPETS, create=False)
        if table is None:
            return []
        with self.db.translate("read snippets"):
            return queries.by_prefix(table, prefix, limit)

    @reopening
    def by_task_hash(self, task_hashes: Sequence[str], namespaces: Sequence[str],
                     limit: int = 50) -> list[Snippet]:
        """Snippets with one of these exact-task hashes (the exact tier)."""
        return self._by_hash({"task_hash": task_hashes}, namespaces, limit)

    @reopening
    def by_template(self, template_hash: str, namespaces: Sequence[str],
                    limit: int = 50) -> list[Snippet]:
        """Snippets whose task has this template (slot candidates; at most ``limit``)."""
        return self._by_hash({"template_hash": [template_hash]}, namespaces, limit)

    @reopening
    def by_task_or_template(self, task_hashes: Sequence[str], template_hash: str | None,
                            namespaces: Sequence[str], limit: int = 200) -> list[Snippet]:
        """Exact and slot candidates in one query (one round trip fewer per lookup)."""
        columns = {"task_hash": task_hashes}
        if template_hash:
            columns["template_hash"] = [template_hash]
        return self._by_hash(columns, namespaces, limit)

    def _by_hash(self, columns: dict[str, Sequence[str]], namespaces: Sequence[str],
                 limit: int) -> list[Snippet]:
        for column, values in columns.items():
            for value in values:
                if not _HASH_RE.match(value):
                    raise StoreError(f"invalid {column} {value[:80]!r}")
        table = self._table(self.SNIPPETS, create=False)
        wanted = [f"{column} IN {in_list(values)}" for column, values in columns.items()
                  if values]
        if table is None or not wanted:
            return []
        where = f"({' OR '.join(wanted)}) AND namespace IN {in_list(namespaces)}"
        with self.db.translate("look up the task"):
            hashes = [v for values in columns.values() for v in values]
            if self.mirror.surely_absent(table, hashes):  # a new task: no query needed
                return []
            return queries.matching(table, where, limit)

    @reopening
    def hybrid_search(
        self, vector: np.ndarray | Callable[[], np.ndarray], text: str,
        namespaces: Sequence[str], k: int, *, outlines: bool = False,
    ) -> list[tuple[Snippet, float]]:
        """Nearest snippets by vector *or* full text, each with its cosine similarity.

        ``vector`` may be a function computing it (the embedding): the full-text query
        then runs meanwhile. Vector candidates are exact, from the in-memory vectors of
        the searched namespaces (see :mod:`._mirror`) unless they hold more than
        ``vector_cache_rows`` snippets; similarity is the exact cosine of the stored
        vectors either way. With ``outlines``, snippets may come as outlines: the fields
        ranking reads, with an empty ``code`` and ``task``; :meth:`get_many` reads the
        whole of the one chosen.
        """
        table = self._table(self.SNIPPETS, create=False)
        if table is None:
            return []

        def query() -> np.ndarray:
            given = np.asarray(vector() if callable(vector) else vector, dtype=np.float32)
            if len(given) != self.table_dim:
                raise StoreSchemaError(
                    f"the store {self.uri!r} holds {self.table_dim}-d vectors but the "
                    f"embedder makes {len(given)}-d ones")
            return given

        with self.db.translate("search the store"):
            return queries.nearest(
                table, query if callable(vector) else query(), text,
                f"namespace IN {in_list(namespaces)}", max(1, k), namespaces=namespaces,
                mirror=self.mirror, outlines=outlines)


    @reopening
    def list_snippets(
        self,
        namespaces: Sequence[str] | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
        sort: str = "recent",
    ) -> list[Snippet]:
        """Snippets, newest (``recent``), most used (``uses``) or best voted (``votes``) first."""
        table = self._table(self.SNIPPETS, create=False)
        if table is None:
            return []
        if sort not in queries.SORTS:
            raise ConfigurationError(f"unknown sort {sort!r}", hint="use recent, uses or votes")
        with self.db.translate("list snippets"):
            return queries.listing(table, self.mirror, namespaces or None, limit=limit,
                                   offset=offset, sort=sort)

    @reopening
    def namespaces(self) -> list[str]:
        """The namespaces that hold snippets (reads the namespace column only)."""
        table = self._table(self.SNIPPETS, create=False)
        if table is None:
            return []
        with self.db.translate("list namespaces"):
            return self.mirror.namespaces(table)

    @reopening
    def version(self) -> int:
        """The snippets table's version: every write changes it (0 before the first).

        Cheap (no rows are read), so front ends poll it to notice saves by anyone.
        """
        table = self._table(self.SNIPPETS, create=False)
        if table is None:
            return 0
        with self.db.translate("read the store version"):
            return int(table.version)

    @reopening
    def count(self, namespaces: Sequence[str] | None = None) -> int:
        table = self._table(self.SNIPPETS, create=False)
        if table is None:
            return 0
        with self.db.translate("count snippets"):
            if namespaces:
                return int(table.count_rows(f"namespace IN {in_list(namespaces)}"))
            return int(table.count_rows())

    @reopening
    def snippet_facets(self) -> list[dict[str, Any]]:
        """(namespace, source, count, uses, successes, failures) for stats."""
        table = self._table(self.SNIPPETS, create=False)
        if table is None:
            return []
        with self.db.translate("read store statistics"):
            return queries.facets(table)

    @reopening
    def runs(self, since: float | None = None) -> list[dict[str, Any]]:
        """The run log (optionally only runs at or after ``since``)."""
        table = self._table(self.RUNS, create=False)
        if table is None:
            return []
        with self.db.translate("read the run log"):
            return queries.run_rows(table, None if since is None else f"at >= {sql_time(since)}")

