"""The nouns every stage shares.

* :class:`Snippet` -- one stored piece of code and what it is for;
* :class:`SaveOptions` -- the provenance a save records with it;
* :class:`Match` -- what a lookup found for a task (tier, score, reference, code);
* :class:`RunRecord` -- one row of the run log.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any
from typing import Literal as TypingLiteral

from .task import Literal, TaskAnalysis

__all__ = ["SOURCES", "TIERS", "Match", "RunRecord", "SaveOptions", "Snippet", "Tier"]

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
    #: Declared parameters: index of a task literal -> the variable of the code's
    #: parameters block bound to it (see :mod:`semcache_magic.task`).
    params: dict[int, str] = field(default_factory=dict)
    #: What the model said about slot substitutions of this snippet: ``confirmed``
    #: holds ``"<literal index>/<value class>"`` entries (the model answered the
    #: substitution of such a value with the same program) and the keys of shape or
    #: order changes it accepted (``shape/...``, ``order/...``); ``refuted`` holds
    #: literal indices and change keys it rejected (or whose served code failed).
    evidence: dict[str, list[str]] = field(default_factory=dict)
    #: Where an imported snippet came from: ``{"path": ..., "cell": ...}`` (else empty).
    origin: dict[str, Any] = field(default_factory=dict)
    #: Code an imported cell needs from earlier cells of its notebook (its backward slice).
    context_code: str = ""
    #: Names the code uses that neither it nor ``context_code`` defines.
    free_names: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """Fit to be served without the model: not voted down, and a failure outweighed by
        at least two successes more (one failure demotes a snippet that ran once)."""
        return self.votes_down <= self.votes_up and (
            self.failure_count == 0 or self.success_count >= 2 * self.failure_count + 1)

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
        # JSON object keys are strings; literal indices are ints.
        values["params"] = {int(k): str(v) for k, v in (values.get("params") or {}).items()}
        return cls(**values)


@dataclass(frozen=True)
class SaveOptions:
    """What a save records besides the task and the code.

    ``namespace`` ``None`` is the configured save namespace; ``source`` is one of
    :data:`SOURCES`; ``parent_id`` the snippet this code was derived from; ``origin``,
    ``context_code`` and ``free_names`` describe a cell imported from a notebook.
    """

    source: str = "manual"
    namespace: str | None = None
    input_schema: Mapping[str, str] | None = None
    parent_id: str = ""
    model: str = ""
    kernel: str = ""
    tags: tuple[str, ...] | list[str] = ()
    language: str = "python"
    #: Where an imported cell came from: ``{"path": ..., "cell": ...}``.
    origin: Mapping[str, Any] | None = None
    #: The earlier statements of its notebook the code needs (redacted like the code).
    context_code: str = ""
    #: Names the code needs that neither it nor ``context_code`` defines.
    free_names: tuple[str, ...] | list[str] = ()


@dataclass
class Match:
    """The outcome of a lookup.

    ``tier`` is ``exact`` or ``slot`` (``code`` is runnable as is, no model call),
    ``semantic`` (``snippet`` is a *reference* for the model to adapt; ``code`` is
    ``None``) or ``miss``. ``score`` is the blended score of ``snippet`` and
    ``score_parts`` its components (see :func:`semcache_magic.cache.blend_score`).
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
    #: Why code is served without the model: ``exact`` (the same task), ``declared``
    #: (values bound in the code's parameters block), ``confirmed`` (the model confirmed
    #: this substitution before); ``proposal`` when a substitution awaits the model's
    #: confirmation (``proposal`` holds its code); empty otherwise.
    evidence: str = ""
    proposal: str | None = None
    #: The changed values whose place is not promised by a marked parameters block:
    #: what a correction by the model, or a failure of served code, refutes.
    slots: list[int] = field(default_factory=list)
    #: The evidence a confirmation of ``proposal`` earns (see ``Snippet.evidence``).
    pending: list[str] = field(default_factory=list)
    #: False when the served code comes from a namespace the user has not marked
    #: trusted: it is shown, and runs only after the user confirms (``--trust``).
    trusted: bool = True
    #: The task's embedding when the lookup computed one (a save reuses it).
    vector: Any = None

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
            "evidence": self.evidence or None,
            "proposal": self.proposal,
            "trusted": self.trusted,
        }


@dataclass
class RunRecord:
    """One row of the run log: what a task cost, how it was answered and how it ended.

    Built by :meth:`semcache_magic.cache.SnippetCache.log_run`; ``at`` is seconds
    since the epoch; ``timings`` maps stage names to seconds.
    """

    run_id: str
    task: str
    at: float = 0.0
    namespace: str = ""
    tier: str = "miss"  # exact | slot | semantic | miss | refresh
    score: float = 0.0
    snippet_id: str = ""  # the snippet served without the model
    reference_id: str = ""  # the snippet the model adapted
    saved_id: str = ""
    model: str = ""
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    saved_cost_usd: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    total_s: float = 0.0
    outcome: str = ""  # a TaskStatus value
    error: str = ""
    repairs: int = 0
    face: str = ""  # magic | cli | server

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
