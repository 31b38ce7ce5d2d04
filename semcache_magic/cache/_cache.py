"""The snippet cache: one object the magic, CLI and server use for store work.

It resolves namespaces, redacts secrets before anything is written, analyses
tasks, embeds them (only when a tier needs it) and runs the tiered lookup.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import SemCache, resolve_namespace, search_namespaces, trusted_namespaces
from ..errors import (
    ConfigurationError,
    StoreError,
    TaskError,
)
from ..snippet import SOURCES, Match, SaveOptions, Snippet
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
from ._curation import SnippetCuration
from ._embedder import STATUS_LOADING, Embedder, get_embedder
from ._lookup import lookup, rank_candidates
from ._results import SavedSnippet, ScoredSnippet, code_hash

if TYPE_CHECKING:
    pass

__all__ = ["SavedSnippet", "ScoredSnippet", "SnippetCache", "code_hash"]


def _snippet_id(namespace: str, task_hash: str, code_digest: str) -> str:
    return hashlib.sha256(f"{namespace}\0{task_hash}\0{code_digest}".encode()).hexdigest()[:16]


class SnippetCache(SnippetCuration):
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
        with self.store.mirror.steady():  # one version of the store for the whole lookup
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
