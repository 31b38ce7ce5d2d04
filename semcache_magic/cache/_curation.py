"""Curating and counting stored snippets: the part of the cache that acts on ids.

:class:`SnippetCuration` is the half of :class:`~semcache_magic.cache.SnippetCache`
that finds snippets by id within the namespaces a command resolves to, votes, tags,
edits and deletes them, records uses and the model's evidence, and keeps the run
log and the statistics. The other half (analysis, lookup, saving) is in ``_cache``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..config import SemCache, resolve_namespace
from ..errors import AmbiguousIdError, SnippetNotFoundError
from ..snippet import RunRecord, SaveOptions, Snippet
from ..store import SnippetStore, check_id
from ..task import redact_text
from ._results import SavedSnippet, code_hash
from ._stats import run_stats

if TYPE_CHECKING:
    from ..outcome import TaskOutcome

__all__ = ["SnippetCuration"]

#: How many snippets an ambiguous id prefix lists.
_PREFIX_CANDIDATES = 50


class SnippetCuration:
    """Id-based curation, bookkeeping and statistics over the store."""

    config: SemCache

    @property
    def store(self) -> SnippetStore:
        raise NotImplementedError  # the cache opens its store

    def namespaces(self, namespace: str | None = None) -> list[str]:
        raise NotImplementedError

    def _writable_store(self) -> SnippetStore:
        raise NotImplementedError

    def save(self, task: str, code: str, options: SaveOptions | None = None, *,
             successes: int = 0, vector: Any = None, **changes: Any) -> SavedSnippet:
        raise NotImplementedError

    def resolve_id(self, snippet_id: str, *, namespace: str | None = None) -> str:
        """The full id of a snippet given by its id or a unique prefix (4+ characters).

        Only snippets in the namespaces a lookup searches (or in ``namespace``, when given)
        are found: curating another namespace's snippet (a vote, a tag, a delete) needs
        that namespace named explicitly. A prefix that fits several lists them.
        """
        check_id(snippet_id)
        scope = self.namespaces(namespace)
        store = self.store
        try:
            candidates = [store.get(snippet_id)]
        except SnippetNotFoundError:
            if len(snippet_id) < 4:
                raise
            candidates = store.find_id_prefix(snippet_id, limit=_PREFIX_CANDIDATES)
        inside = [s for s in candidates if s.namespace in scope]
        if len(inside) == 1:
            return inside[0].id
        if inside:
            raise AmbiguousIdError.for_prefix(snippet_id, inside)
        if candidates:
            raise SnippetNotFoundError.outside(snippet_id, candidates[0].namespace, scope)
        raise SnippetNotFoundError.for_id(snippet_id)

    def get(self, snippet_id: str, *, namespace: str | None = None) -> Snippet:
        return self.store.get(self.resolve_id(snippet_id, namespace=namespace))

    def delete(self, snippet_id: str, *, namespace: str | None = None) -> Snippet:
        return self.store.delete(self.resolve_id(snippet_id, namespace=namespace))

    def delete_many(self, ids: Sequence[str]) -> int:
        """Delete these snippets (full ids); returns how many rows went."""
        return self.store.delete_many(ids)

    def imported(self, namespace: str | None = None) -> list[Snippet]:
        """The snippets imported from notebooks into the save namespace."""
        return self.store.imported([resolve_namespace(namespace, self.config)])

    def vote(self, snippet_id: str, up: bool, *, namespace: str | None = None) -> Snippet:
        return self.store.vote(self.resolve_id(snippet_id, namespace=namespace), up)

    def set_tags(self, snippet_id: str, tags: Sequence[str], *,
                 namespace: str | None = None) -> Snippet:
        return self.store.set_tags(self.resolve_id(snippet_id, namespace=namespace), tags)

    def edit(self, snippet_id: str, *, task: str | None = None, code: str | None = None,
             tags: Sequence[str] | None = None, namespace: str | None = None) -> SavedSnippet:
        """Change a snippet's task, code or tags (``None`` keeps what it has).

        New task or code make a new version: saved like any snippet (redacted, source
        ``manual``, same namespace, parent = the old id) and the old one deleted, so no
        lookup serves the replaced code again. Run counts and votes start afresh: they
        were earned by the old code. Tags alone change in place.
        """
        old = self.get(snippet_id)
        new_task = old.task if task is None else task
        new_code = old.code if code is None else code
        new_tags = list(old.tags if tags is None else tags)
        if new_task.strip() == old.task.strip() and code_hash(new_code) == old.code_hash:
            same = sorted({t.strip() for t in new_tags if t.strip()}) == old.tags
            snippet = old if same else self.set_tags(old.id, new_tags, namespace=old.namespace)
            return SavedSnippet(snippet, False, [])
        saved = self.save(new_task, new_code, SaveOptions(
            source="manual", namespace=old.namespace, input_schema=old.input_schema,
            parent_id=old.id, kernel=old.kernel, tags=tuple(new_tags), language=old.language))
        if saved.snippet.id == old.id:  # only white space changed: the same snippet
            return saved
        self.store.delete(old.id)  # after the save: a failure never loses both
        return replace(saved, replaced=old.id)

    def version(self) -> int:
        """Changes with every write to the snippets (saves, edits, votes, tags, deletes)."""
        return self.store.version()

    def record_use(self, snippet_id: str, *, success: bool | None) -> None:
        self.store.record_use(snippet_id, success=success)

    def record_evidence(self, snippet_id: str, *, confirmed: Sequence[str] = (),
                        refuted: Sequence[str] = ()) -> Snippet:
        """Remember what the model (or a failed run) said about a snippet's substitutions:
        ``confirmed`` evidence keys (``Match.pending``: ``"<literal>/<value class>"``,
        ``shape/...``, ``order/...``), ``refuted`` literal indices or change keys; a
        refutation outweighs any confirmation."""
        return self.store.add_evidence(snippet_id, confirmed=confirmed, refuted=refuted)

    def list_snippets(
        self, *, namespace: str | None = None, all_namespaces: bool = False, limit: int = 50,
        offset: int = 0, sort: str = "recent",
    ) -> list[Snippet]:
        namespaces = None if all_namespaces else self.namespaces(namespace)
        return self.store.list_snippets(namespaces, limit=limit, offset=offset, sort=sort)

    def log_run(self, outcome: TaskOutcome, *, avoided_cost: float = 0.0) -> RunRecord:
        """Append a finished task to the run log (task and error text redacted first)."""
        match = outcome.match
        totals = outcome.usage_totals()
        snippet = match.snippet if match is not None and match.tier != "miss" else None
        record = RunRecord(
            run_id=outcome.run_id, task=redact_text(outcome.request.task), at=time.time(),
            namespace=match.namespace if match is not None else "",
            tier="refresh" if outcome.request.refresh else outcome.tier,
            score=match.score if match is not None else 0.0,
            snippet_id=snippet.id if snippet is not None and match is not None
            and match.served else "",
            reference_id=match.reference.id if match is not None and match.reference else "",
            saved_id=outcome.saved.id if outcome.saved else "",
            model=",".join(sorted({a.model for a in outcome.adaptations})),
            model_calls=outcome.model_calls,
            input_tokens=int(totals["input_tokens"]), output_tokens=int(totals["output_tokens"]),
            cache_read_tokens=int(totals["cache_read_tokens"]),
            cache_write_tokens=int(totals["cache_write_tokens"]),
            cost_usd=totals["cost_usd"], saved_cost_usd=avoided_cost,
            timings=dict(outcome.timings), total_s=outcome.timings.get("total", 0.0),
            outcome=str(outcome.status.value),
            error=redact_text(outcome.error.describe()) if outcome.error else "",
            repairs=outcome.repairs, face=outcome.request.face,
        )
        self.store.append_run(record)
        return record

    def run_stats(self, since: float | None = None) -> dict[str, Any]:
        """Hit rates, model calls avoided, cost and latency from the run log."""
        return run_stats(self.store.runs(since))

    def stored_namespaces(self) -> list[str]:
        """The namespaces that hold at least one snippet, sorted."""
        return self.store.namespaces()

    def count(self, namespace: str | None = None, *, all_namespaces: bool = False) -> int:
        """How many snippets the namespaces a lookup searches hold (or the whole store)."""
        return self.store.count(None if all_namespaces else self.namespaces(namespace))

    def maintain(self, *, build_vector_index: bool | None = None) -> dict[str, Any]:
        # An existing table needs no vector size, so no embedding model is loaded for it.
        store = self.store if self.store.exists() else self._writable_store()
        return store.maintain(build_vector_index=build_vector_index)

    def stats(self) -> dict[str, Any]:
        """Snippet counts per namespace and source (run statistics come from the run log)."""
        rows = self.store.snippet_facets()
        per_namespace: dict[str, dict[str, int]] = {}
        for row in rows:
            bucket = per_namespace.setdefault(row["namespace"], {"snippets": 0})
            bucket["snippets"] += 1
            bucket[row["source"] or "unknown"] = bucket.get(row["source"] or "unknown", 0) + 1
        return {
            "store": self.store.uri,
            "snippets": len(rows),
            "namespaces": per_namespace,
            "uses": int(sum(r["use_count"] for r in rows)),
            "successes": int(sum(r["success_count"] for r in rows)),
            "failures": int(sum(r["failure_count"] for r in rows)),
        }
