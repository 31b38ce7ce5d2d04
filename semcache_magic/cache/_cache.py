"""The snippet cache: one object the magic, CLI and server use for store work.

It resolves namespaces, redacts secrets before anything is written, analyses
tasks, embeds them (only when a tier needs it) and runs the tiered lookup.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import SemCache, resolve_namespace, search_namespaces, trusted_namespaces
from ..errors import (
    AmbiguousIdError,
    ConfigurationError,
    SnippetNotFoundError,
    StoreError,
    TaskError,
)
from ..snippet import SOURCES, Match, RunRecord, SaveOptions, Snippet
from ..store import SnippetStore, check_id
from ..task import (
    TaskAnalysis,
    analyse_task,
    clean_task_text,
    declared_parameters,
    imported_libraries,
    redact,
    redact_text,
)
from ._embedder import STATUS_LOADING, Embedder, get_embedder
from ._lookup import lookup, rank_candidates
from ._stats import run_stats

if TYPE_CHECKING:
    from ..outcome import TaskOutcome

__all__ = ["SavedSnippet", "ScoredSnippet", "SnippetCache", "code_hash"]


@dataclass
class SavedSnippet:
    """What :meth:`SnippetCache.save` (or :meth:`SnippetCache.edit`) did.

    ``replaced`` is the id of the snippet an edit replaced (empty otherwise).
    """

    snippet: Snippet
    created: bool
    redacted: list[str]
    replaced: str = ""


@dataclass
class ScoredSnippet:
    """A search hit."""

    snippet: Snippet
    score: float
    parts: dict[str, float]


#: Ids sharing a typed prefix that are read to tell them apart (4 hex characters already
#: single out one snippet in 65,536; more are listed only to say the prefix is ambiguous).
_PREFIX_CANDIDATES = 50


def code_hash(code: str) -> str:
    """Hash of the code with trailing white space ignored."""
    canonical = "\n".join(line.rstrip() for line in code.strip().splitlines())
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def _snippet_id(namespace: str, task_hash: str, code_digest: str) -> str:
    return hashlib.sha256(f"{namespace}\0{task_hash}\0{code_digest}".encode()).hexdigest()[:16]


class SnippetCache:
    """Save, find and curate snippets under one configuration."""

    def __init__(
        self,
        config: SemCache | None = None,
        *,
        embedder: Embedder | None = None,
        store: SnippetStore | None = None,
    ) -> None:
        self.config = config or SemCache().apply_env()
        self._embedder = embedder
        self._store = store

    # -- collaborators (created on first use) ------------------------------------------

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            config = self.config
            self._embedder = get_embedder(
                config.embedding_model, backend=config.embedding_backend,
                onnx_dir=config.onnx_dir or None, threads=config.embedding_threads or None,
                service=config.embedding_service, service_idle=config.embedding_service_idle)
        return self._embedder

    @property
    def store(self) -> SnippetStore:
        if self._store is None:
            store = SnippetStore(
                self.config.store_uri,
                embedder_name=self.config.embedding_model or "",
                storage_options={str(k): str(v) for k, v in self.config.storage_options.items()},
                optimize_every=self.config.optimize_every,
                vector_index_min_rows=self.config.vector_index_min_rows,
                vector_cache_rows=self.config.vector_cache_rows,
                timeout=self.config.store_timeout,
            )
            # Rows keyed by an older task analysis (another exact key) are re-keyed once,
            # so an upgrade does not turn every exact hit into a model call.
            with contextlib.suppress(StoreError):  # a read-only or broken store still reads
                store.rekey(self._rekeyed)
            self._store = store
        return self._store

    def _rekeyed(self, snippet: Snippet) -> Snippet:
        analysis = analyse_task(snippet.task, input_schema=snippet.input_schema,
                                language=snippet.language, max_chars=len(snippet.task) + 1)
        return replace(
            snippet, task_norm=analysis.normalised, template=analysis.template,
            template_hash=analysis.template_hash, task_hash=analysis.task_hash(snippet.namespace),
            literals=analysis.literals,
            params=declared_parameters(snippet.code, analysis.literals))

    def _writable_store(self) -> SnippetStore:
        store = self.store
        if not store.dim:
            store.dim = self.embedder.dim
            store.embedder_name = self.embedder.name
        return store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    # -- analysis ------------------------------------------------------------------------

    def analyse(
        self,
        task: str | bytes,
        *,
        input_schema: Mapping[str, str] | None = None,
        language: str = "python",
    ) -> TaskAnalysis:
        """Redact and analyse a task (lookups and saves see the same text)."""
        text = redact_text(clean_task_text(task, max_chars=self.config.max_task_chars))
        return analyse_task(text, input_schema=input_schema, language=language,
                            max_chars=self.config.max_task_chars)

    def trusted_namespaces(self) -> list[str]:
        """Namespaces whose code runs without a confirmation (see config)."""
        return trusted_namespaces(self.config)

    def namespaces(self, namespace: str | None = None) -> list[str]:
        """The namespaces a lookup searches (see :func:`config.search_namespaces`)."""
        return search_namespaces(namespace, self.config)

    # -- lookup ----------------------------------------------------------------------------

    def lookup(
        self,
        task: str | bytes | TaskAnalysis,
        *,
        namespace: str | None = None,
        input_schema: Mapping[str, str] | None = None,
        threshold: float | None = None,
        top_k: int | None = None,
        use_slots: bool | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> Match:
        """Run the tiered lookup for ``task``.

        ``on_wait`` is told, in words, what the lookup waits for when the store or the
        embedding model is still loading (a first task right after ``%load_ext``).
        """
        analysis = task if isinstance(task, TaskAnalysis) else self.analyse(
            task, input_schema=input_schema)
        # Asked before touching self.store: opening it imports lancedb (and checks keys).
        if on_wait is not None and (self._store is None or not self._store.connected):
            on_wait("opening the snippet store…")
        namespaces = self.namespaces(namespace)
        self._embed_early(analysis, namespaces)
        return lookup(
            analysis,
            store=self.store,
            namespaces=namespaces,
            embed=self._embed_telling(on_wait),
            threshold=self.config.threshold if threshold is None else threshold,
            top_k=self.config.top_k if top_k is None else top_k,
            use_slots=self.config.use_slots if use_slots is None else use_slots,
            text_weight=self.config.text_weight,
            quality_weight=self.config.quality_weight,
            trusted_namespaces=self.trusted_namespaces(),
        )

    def _embed_early(self, analysis: TaskAnalysis, namespaces: Sequence[str]) -> None:
        """Start embedding the task while the exact and slot tiers probe the store, when
        the store had no snippet with its exact or template hash as the mirror last saw
        it (the semantic tier will need the vector). Only in the embedding service, whose
        process computes beside this one's probe; a wrong guess leaves it a few
        milliseconds of work."""
        prefetch = getattr(self.embedder, "prefetch", None)
        if prefetch is None or not getattr(self.embedder, "loaded", False):
            return
        hashes = [analysis.task_hash(ns) for ns in namespaces] + [analysis.template_hash]
        if self.store.mirror.may_match(hashes) is False:
            prefetch(analysis.task)

    def _embed_telling(self, on_wait: Callable[[str], None] | None) -> Callable[[str], Any]:
        """``embed_one``, which first tells ``on_wait`` each loading step it waits for."""
        embedder = self.embedder
        if on_wait is None:
            return embedder.embed_one
        tell: Callable[[str], None] = on_wait

        def embed(text: str) -> Any:
            if embedder.loaded:
                return embedder.embed_one(text)
            said: list[str] = []

            def relay(status: str) -> None:
                if status.endswith("…") and status not in said:  # loading, exporting
                    said.append(status)
                    tell(status)

            relay(embedder.status if embedder.status.endswith("…") else STATUS_LOADING)
            with embedder.watching(relay):
                return embedder.embed_one(text)

        return embed

    def open(self) -> None:
        """Open the store now (the first open imports lancedb: seconds); warming calls it."""
        self.store.count()

    def search(
        self, text: str, *, namespace: str | None = None, limit: int = 10,
        min_score: float | None = None,
    ) -> list[ScoredSnippet]:
        """Hybrid (vector + full-text) search, best first, for browsing; hits below
        ``min_score`` (default ``search_floor``) are not matches and are left out."""
        analysis = self.analyse(text)
        vector = self.embedder.embed_one(analysis.task)
        namespaces = self.namespaces(namespace)
        candidates = self.store.hybrid_search(vector, analysis.task, namespaces, limit)
        ranked = rank_candidates(
            analysis, candidates, text_weight=self.config.text_weight,
            quality_weight=self.config.quality_weight,
        )
        floor = self.config.search_floor if min_score is None else min_score
        return [ScoredSnippet(s, score, parts) for s, score, parts in ranked[:limit]
                if score >= floor]

    # -- writes ----------------------------------------------------------------------------

    def prepare(
        self, task: str, code: str, options: SaveOptions | None = None, **changes: Any,
    ) -> tuple[Snippet, list[str]]:
        """The snippet :meth:`save` would store (redacted, analysed, with its
        content-derived id) and the kinds of secrets removed; writes and embeds nothing.

        ``options`` (or keyword ``changes`` to it, e.g. ``source="imported"``) say
        where the code comes from; see :class:`~semcache_magic.snippet.SaveOptions`.
        """
        opts = replace(options or SaveOptions(), **changes)
        if opts.source not in SOURCES:
            raise ConfigurationError(f"unknown source {opts.source!r}", hint=f"one of {SOURCES}")
        if not isinstance(code, str) or not code.strip():
            raise TaskError("the code is empty", hint="pass the code with --code or --code-file")
        if opts.parent_id:
            check_id(opts.parent_id)
        task_redaction, code_redaction = redact(task), redact(code)
        context_redaction = redact(opts.context_code)  # earlier cells hold secrets too
        analysis = self.analyse(task_redaction.text, input_schema=opts.input_schema,
                                language=opts.language)
        ns = resolve_namespace(opts.namespace, self.config)
        clean_code = code_redaction.text.strip("\n") + "\n"
        context = context_redaction.text.strip("\n")
        context = context + "\n" if context.strip() else ""
        digest = code_hash(clean_code)
        task_hash = analysis.task_hash(ns)
        snippet = Snippet(
            id=_snippet_id(ns, task_hash, digest),
            namespace=ns,
            task=analysis.task,
            task_norm=analysis.normalised,
            template=analysis.template,
            template_hash=analysis.template_hash,
            task_hash=task_hash,
            code=clean_code,
            code_hash=digest,
            literals=analysis.literals,
            input_schema=dict(analysis.input_schema),
            libraries=imported_libraries(context + clean_code),
            source=opts.source,
            parent_id=opts.parent_id or "",
            model=opts.model or "",
            language=opts.language,
            kernel=opts.kernel or "",
            tags=sorted({t.strip() for t in opts.tags if t and t.strip()}),
            embedder=self.embedder.name,
            params=declared_parameters(clean_code, analysis.literals),
            origin=dict(opts.origin or {}),
            context_code=context,
            free_names=sorted({str(name) for name in opts.free_names}),
        )
        return snippet, task_redaction.found + code_redaction.found + context_redaction.found

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored (one query per 500 ids)."""
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            found.update(s.id for s in self.store.get_many(ids[start: start + 500]))
        return found

    def save(
        self, task: str, code: str, options: SaveOptions | None = None, *,
        successes: int = 0, vector: np.ndarray | None = None, **changes: Any,
    ) -> SavedSnippet:
        """Store ``code`` for ``task`` (secrets redacted). Saving the same code for the
        same task again counts a use instead of adding a row.

        ``vector`` is the embedding of ``task`` as :meth:`analyse` returns it, when the
        caller already has one (a lookup's ``Match.vector``): the task is not embedded twice.
        """
        snippet, found = self.prepare(task, code, options, **changes)
        if vector is None:
            vector = self.embedder.embed_one(snippet.task)
        stored, created = self._writable_store().upsert(snippet, vector, successes=successes)
        return SavedSnippet(stored, created, found)

    def save_many(
        self, items: Sequence[Mapping[str, Any]], *, namespace: str | None = None,
        source: str = "manual",
    ) -> list[SavedSnippet]:
        """Bulk save of ``{"task", "code", ...}`` mappings: one embedding batch, one append."""
        prepared = []
        for item in items:
            snippet, found = self.prepare(
                str(item.get("task", "")), str(item.get("code", "")), SaveOptions(
                    source=str(item.get("source") or source),
                    namespace=item.get("namespace") or namespace,
                    input_schema=item.get("input_schema"),
                    parent_id=str(item.get("parent_id", "")), model=str(item.get("model", "")),
                    kernel=str(item.get("kernel", "")), tags=tuple(item.get("tags") or ()),
                    language=str(item.get("language") or "python"),
                    origin=item.get("origin"), context_code=str(item.get("context_code") or ""),
                    free_names=tuple(item.get("free_names") or ())))
            prepared.append((snippet, found))
        stored = self.add_prepared([s for s, _ in prepared])
        return [SavedSnippet(s, created, found)
                for (s, created), (_, found) in zip(stored, prepared, strict=True)]

    def add_prepared(self, snippets: Sequence[Snippet]) -> list[tuple[Snippet, bool]]:
        """Store snippets made by :meth:`prepare`: one embedding batch, one append; a
        snippet already stored counts a use. Returns each with whether it was created."""
        if not snippets:
            return []
        vectors = self.embedder.embed([s.task for s in snippets])
        return self._writable_store().add_many(list(zip(snippets, vectors, strict=True)))

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
