"""Tiered lookup: exact, slot, semantic, miss.

1. ``exact``  -- a stored snippet has the same task hash (same exact key, input
   schema, language, in a searched namespace): its code is reused as is.
2. ``slot``   -- a stored snippet has the same template, and the evidence says
   where each new value goes (declared parameters, or the model's confirmation):
   the code with the new values substituted is reused. No model call for 1 and 2.
3. ``semantic`` -- the best reference for the model to adapt: a same-template
   snippet with a *proposed* substitution for the model to confirm, an exact
   match that may not be served (an imported cell), or the best-scoring result
   of hybrid retrieval (vector nearest neighbours plus full-text matches) at or
   above the threshold. Its code is never served as is.
4. ``miss``   -- nothing scores high enough; the model writes fresh code.

What may be served, and on what evidence, is decided in ``_serving``.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..snippet import Match, Snippet, Tier
from ..task import TaskAnalysis
from ._serving import decide_slot, servable

if TYPE_CHECKING:
    from ..store import SnippetStore

__all__ = ["blend_score", "lexical_overlap", "lookup", "quality", "rank_candidates"]

_STOPWORDS = frozenset(
    {
        "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "by", "from",
        "as", "at", "is", "are", "be", "it", "its", "this", "that", "these", "those", "print",
        "show", "display", "return", "give", "me", "my", "please", "then", "using", "use",
        "python", "code",
    }
)


def _content_words(template: str) -> set[str]:
    words = re.findall(r"[a-z][a-z0-9_]+|<\w+>", template.lower())
    # A light stemmer: plural and -ing/-ed forms compare equal ("numbers" ~ "number").
    return {re.sub(r"(?:ing|ed|es|s)$", "", w) or w for w in words if w not in _STOPWORDS}


def lexical_overlap(template_a: str, template_b: str) -> float:
    """Jaccard overlap of the content words of two task templates, in [0, 1]."""
    a, b = _content_words(template_a), _content_words(template_b)
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def quality(snippet: Snippet, now: float | None = None) -> float:
    """A snippet's track record in [0, 1]; a brand-new snippet scores 0.6.

    ``0.5 * success + 0.3 * votes + 0.2 * recency`` where
    success = (successes + 1) / (successes + failures + 2) (0.5 when unknown),
    votes = (up + 1) / (up + down + 2) (0.5 when unvoted), and
    recency = exp(-days since last use / 90).
    """
    success = (snippet.success_count + 1) / (snippet.success_count + snippet.failure_count + 2)
    votes = (snippet.votes_up + 1) / (snippet.votes_up + snippet.votes_down + 2)
    recency = math.exp(-snippet.age_days(now) / 90.0)
    return 0.5 * success + 0.3 * votes + 0.2 * recency


#: Quality of a snippet with no history: the neutral point of the blend.
NEUTRAL_QUALITY = 0.6


def blend_score(
    similarity: float,
    lexical: float,
    snippet_quality: float,
    *,
    text_weight: float = 0.15,
    quality_weight: float = 0.1,
) -> tuple[float, dict[str, float]]:
    """The score a semantic candidate is ranked and thresholded by::

        score = (1 - text_weight) * similarity + text_weight * lexical
                + quality_weight * (quality - 0.6)

    ``similarity`` is the cosine similarity of the task embeddings, ``lexical`` the
    content-word overlap of the templates, ``quality`` the track record (see
    :func:`quality`). Quality is centred on a new snippet's 0.6, so a brand-new
    snippet scores on similarity and words alone and can pass the threshold
    without votes; a proven snippet gains at most ``0.04`` and a failing one
    loses at most ``0.06`` (with the default weight 0.1).
    """
    similarity = float(np.clip(similarity, -1.0, 1.0))
    score = (
        (1.0 - text_weight) * similarity
        + text_weight * lexical
        + quality_weight * (snippet_quality - NEUTRAL_QUALITY)
    )
    parts = {"similarity": similarity, "lexical": lexical, "quality": snippet_quality}
    return score, parts


def rank_candidates(
    analysis: TaskAnalysis,
    candidates: Sequence[tuple[Snippet, float]],
    *,
    text_weight: float,
    quality_weight: float,
    now: float | None = None,
) -> list[tuple[Snippet, float, dict[str, float]]]:
    """Score (snippet, similarity) pairs with :func:`blend_score`, best first."""
    now = now or time.time()
    ranked = []
    for snippet, similarity in candidates:
        score, parts = blend_score(
            similarity,
            lexical_overlap(analysis.template, snippet.template),
            quality(snippet, now),
            text_weight=text_weight,
            quality_weight=quality_weight,
        )
        ranked.append((snippet, score, parts))
    ranked.sort(key=lambda item: -item[1])
    return ranked


#: How many same-template snippets the slot tier tries at most (a substitution each).
_SLOT_TRIES = 16


def lookup(
    analysis: TaskAnalysis,
    *,
    store: SnippetStore,
    namespaces: Sequence[str],
    embed: Callable[[str], Any] | None = None,
    threshold: float = 0.6,
    top_k: int = 5,
    use_slots: bool = True,
    text_weight: float = 0.15,
    quality_weight: float = 0.1,
    trusted_namespaces: Collection[str] | None = None,
) -> Match:
    """Find what to do for ``analysis`` in ``namespaces`` (searched in order).

    ``embed`` is a callable ``text -> unit vector``; it is only called when the
    exact and slot tiers have nothing (so those never load the model). Code from a
    namespace outside ``trusted_namespaces`` (default: every searched one) is
    served with ``Match.trusted`` False.
    """
    now = time.time()
    order = {ns: i for i, ns in enumerate(namespaces)}
    trusted = set(namespaces) if trusted_namespaces is None else set(trusted_namespaces)

    def fit(snippets: Sequence[Snippet]) -> list[Snippet]:
        usable = [s for s in snippets if s.language == analysis.language]
        # Servable first, then the searched order of namespaces, then the track record.
        usable.sort(key=lambda s: (not servable(s), order.get(s.namespace, len(order)),
                                   -quality(s, now)))
        return usable

    def certain(snippet: Snippet) -> dict[str, float]:
        return {"similarity": 1.0, "lexical": 1.0, "quality": quality(snippet, now)}

    # Exact and slot candidates come back from one query. Many snippets may share a
    # template, so when that query is full the exact key is asked on its own: a crowded
    # template must never hide the exact snippet.
    exact_hashes = [analysis.task_hash(ns) for ns in namespaces]
    wants_slots = use_slots and bool(analysis.literals)
    probe_limit = 200
    found = store.by_task_or_template(
        exact_hashes, analysis.template_hash if wants_slots else None, namespaces,
        limit=probe_limit)
    exact = [s for s in found if s.task_hash in exact_hashes]
    if not exact and len(found) >= probe_limit:
        exact = store.by_task_hash(exact_hashes, namespaces)
    reference: Match | None = None
    for snippet in fit(exact):
        if snippet.task_hash != analysis.task_hash(snippet.namespace):
            continue
        if servable(snippet):
            return Match(
                tier="exact", analysis=analysis, score=1.0, score_parts=certain(snippet),
                snippet=snippet, code=snippet.code, namespace=snippet.namespace,
                evidence="exact", trusted=snippet.namespace in trusted,
            )
        # The same task, but not code we serve (imported, unhealthy): the best reference.
        reference = reference or Match(
            tier="semantic", analysis=analysis, score=1.0, score_parts=certain(snippet),
            snippet=snippet, namespace=snippet.namespace)
    same_template = fit([s for s in found if s.template_hash == analysis.template_hash]) if (
        wants_slots) else []
    proposal: Match | None = None
    # A crowded template (hundreds of rows) must not cost a substitution each: once a
    # proposal is in hand, only snippets with evidence (declared or confirmed values)
    # could still serve, and only the first few of them are tried.
    tried = 0
    for snippet in same_template:
        if proposal is not None and not (snippet.params or snippet.evidence.get("confirmed")):
            continue
        tried += 1
        if tried > _SLOT_TRIES:
            break
        decision = decide_slot(snippet, analysis)
        if decision.substitution is None:
            continue
        match = Match(
            tier="slot" if decision.served else "semantic", analysis=analysis, score=1.0,
            score_parts=certain(snippet), snippet=snippet,
            code=decision.substitution.code if decision.served else None,
            substitutions=list(decision.substitution.changes), namespace=snippet.namespace,
            evidence=decision.evidence, trusted=snippet.namespace in trusted,
            proposal=None if decision.served else decision.substitution.code,
            slots=list(decision.doubtful), pending=list(decision.pending),
        )
        if decision.served:
            return match
        proposal = proposal or match
    if proposal is not None:
        return proposal
    if reference is not None:
        return reference

    if embed is None:
        return Match(tier="miss", analysis=analysis)
    embedded: list[np.ndarray] = []

    def vector_of_task() -> np.ndarray:
        # Called by the store once its full-text query is under way: they overlap.
        embedded.append(np.asarray(embed(analysis.task), dtype=np.float32))
        return embedded[0]

    k = max(1, top_k)
    # Outlines: ranking reads no code, so the store reads the rows of none of the
    # candidates (from memory when it can); only the chosen one is read in full below.
    nearest = store.hybrid_search(vector_of_task, analysis.task, namespaces, k, outlines=True)
    vector = embedded[0] if embedded else vector_of_task()  # no table yet: a save needs it
    candidates = [(snippet, similarity) for snippet, similarity in nearest
                  if snippet.language == analysis.language]
    ranked = rank_candidates(
        analysis, candidates, text_weight=text_weight,
        quality_weight=quality_weight, now=now,
    )
    for outline, score, parts in ranked:
        best = outline if outline.code else next(iter(store.get_many([outline.id])), None)
        if best is None:  # deleted since the search: the next one
            continue
        tier: Tier = "semantic" if score >= threshold else "miss"
        return Match(
            tier=tier, analysis=analysis, score=score, score_parts=parts, snippet=best,
            namespace=best.namespace, vector=vector,
        )
    return Match(tier="miss", analysis=analysis, vector=vector)
