"""The nouns of the cache: a stored :class:`Snippet` and a lookup :class:`Match`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from typing import Literal as TypingLiteral

from .task import Literal, TaskAnalysis

__all__ = ["SOURCES", "TIERS", "Match", "Snippet", "Tier"]

Tier = TypingLiteral["exact", "slot", "semantic", "miss"]
TIERS: tuple[str, ...] = ("exact", "slot", "semantic", "miss")

#: Where a snippet's code came from.
SOURCES: tuple[str, ...] = ("generated", "adapted", "slot", "manual", "imported")


@dataclass
class Snippet:
    """One stored piece of code and what it is for.

    Times are seconds since the epoch (UTC). ``input_schema`` maps input names to
    type names (never values). Counts and votes drive ranking.
    """

    id: str
    namespace: str
    task: str
    task_norm: str
    template: str
    template_hash: str
    task_hash: str
    code: str
    code_hash: str
    literals: tuple[Literal, ...] = ()
    input_schema: dict[str, str] = field(default_factory=dict)
    libraries: list[str] = field(default_factory=list)
    created_at: float = 0.0
    updated_at: float = 0.0
    last_used_at: float = 0.0
    use_count: int = 0
    success_count: int = 0
    failure_count: int = 0
    votes_up: int = 0
    votes_down: int = 0
    source: str = "manual"
    parent_id: str = ""
    model: str = ""
    language: str = "python"
    kernel: str = ""
    tags: list[str] = field(default_factory=list)
    embedder: str = ""

    @property
    def healthy(self) -> bool:
        """Fit to be served without the model: not voted down, not failing more than working."""
        return self.votes_down <= self.votes_up and self.failure_count <= self.success_count

    def age_days(self, now: float | None = None) -> float:
        reference = self.last_used_at or self.updated_at or self.created_at
        return max(0.0, ((now or time.time()) - reference) / 86400.0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (literals as ``{"kind", "text"}`` objects)."""
        data = asdict(self)
        data["literals"] = [lit.to_json() for lit in self.literals]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Snippet:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["literals"] = tuple(
            lit if isinstance(lit, Literal) else Literal.from_json(lit)
            for lit in (values.get("literals") or ())
        )
        return cls(**values)


@dataclass
class Match:
    """The outcome of a lookup.

    ``tier`` is ``exact`` or ``slot`` (``code`` is runnable as is, no model call),
    ``semantic`` (``snippet`` is a *reference* for the model to adapt; ``code`` is
    ``None``) or ``miss``. ``score`` is the blended score of ``snippet`` and
    ``score_parts`` its components (see :func:`semcache_magic.lookup.blend_score`).
    On a miss, ``snippet`` may still hold the best candidate below the threshold.
    """

    tier: Tier
    analysis: TaskAnalysis
    score: float = 0.0
    score_parts: dict[str, float] = field(default_factory=dict)
    snippet: Snippet | None = None
    code: str | None = None
    substitutions: list[tuple[str, str]] = field(default_factory=list)
    namespace: str = ""

    @property
    def served(self) -> bool:
        """True when the code can run without a model call."""
        return self.tier in ("exact", "slot") and self.code is not None

    @property
    def reference(self) -> Snippet | None:
        """The snippet the model should adapt (semantic tier only)."""
        return self.snippet if self.tier == "semantic" else None

    def to_json(self) -> dict[str, Any]:
        """The CLI's ``lookup --json`` object."""
        snippet = self.snippet if self.tier != "miss" else None
        return {
            "tier": self.tier,
            "score": round(float(self.score), 6),
            "score_parts": {k: round(float(v), 6) for k, v in self.score_parts.items()},
            "snippet_id": snippet.id if snippet else None,
            "reference_task": snippet.task if snippet else None,
            "reference_code": snippet.code if snippet else None,
            "code": self.code if self.served else None,
            "substitutions": [list(pair) for pair in self.substitutions],
            "namespace": self.namespace or None,
        }
