"""The cache stage: find a snippet for a task, and keep what worked.

:class:`SnippetCache` is the one object the pipeline and the faces use: it
analyses and redacts tasks, embeds them (through :class:`Embedder`, only when a
tier needs a vector; onnxruntime on a cached ONNX export of the model, or
sentence-transformers), runs the tiered lookup (:func:`lookup`: exact, slot,
semantic, miss; ranked by :func:`blend_score`) and saves, curates and counts
snippets in the store. :func:`run_stats` turns the run log into statistics.
"""

from __future__ import annotations

from ._cache import SavedSnippet, ScoredSnippet, SnippetCache, code_hash
from ._embedder import BUNDLED_MODEL, Embedder, get_embedder
from ._lookup import NEUTRAL_QUALITY, blend_score, lexical_overlap, lookup, quality
from ._serving import SERVABLE_SOURCES, same_program, servable
from ._stats import format_stats, percentile, run_stats

__all__ = [
    "BUNDLED_MODEL",
    "NEUTRAL_QUALITY",
    "SERVABLE_SOURCES",
    "Embedder",
    "SavedSnippet",
    "ScoredSnippet",
    "SnippetCache",
    "blend_score",
    "code_hash",
    "format_stats",
    "get_embedder",
    "lexical_overlap",
    "lookup",
    "percentile",
    "quality",
    "run_stats",
    "same_program",
    "servable",
]
