"""What a face asks the pipeline for, what the pipeline reports, and how a task ended.

* :class:`TaskRequest` -- a task and its options, built by a face;
* :class:`Event` -- one progress report (:class:`EventKind`), emitted in order;
* :class:`TaskOutcome` -- how the task ended (:class:`TaskStatus`), with its match,
  the code that ran, the model calls, the run and the saved snippet.

Events (``Event.kind`` and ``Event.data``):

``stage``       ``{"stage", "state": "started"|"finished"|"failed", "seconds"}`` for
                searching, adapting/generating, running, repairing, saving
``wait``        ``{"stage", "detail"}``: the stage waits for something still loading, said
                in words (``"loading the embedding model…"``, ``"opening the snippet
                store…"``, ``"starting a kernel…"``, ``"loading the Claude SDK…"``); only
                a first task after ``%load_ext`` normally sees one. The stage's
                ``finished`` event ends the wait.
``match``       ``{"match": Match}``: the lookup's answer (tier, score, reference)
``model_text``  ``{"text": chunk}``: Claude's answer as it streams
``code``        ``{"code", "origin"}``: the program about to run (origin: exact, slot,
                adapted, generated, repaired, reviewed)
``output``      ``{"output": nbformat output}``: the isolated kernel's outputs, live
``run``         ``{"result": RunResult}``: one run finished (ok or not)
``saved``       ``{"snippet": Snippet, "created": bool}``
``error``       ``{"error": SemcacheError}``: a stage failed (the outcome says how it ended)
``warning``     ``{"message"}``: something went wrong that did not stop the task (the
                cache could not be read or written)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from .errors import SemcacheError
from .snippet import Match, Snippet

if TYPE_CHECKING:
    from .model import Adaptation
    from .run import RunResult

__all__ = ["Event", "EventKind", "TaskOutcome", "TaskRequest", "TaskStatus"]


class EventKind(str, Enum):
    """What an :class:`Event` reports (compares equal to its string value)."""

    STAGE = "stage"
    WAIT = "wait"
    MATCH = "match"
    MODEL_TEXT = "model_text"
    CODE = "code"
    OUTPUT = "output"
    RUN = "run"
    SAVED = "saved"
    ERROR = "error"
    WARNING = "warning"

    def __str__(self) -> str:  # f-strings show the value, as for a plain string
        return str(self.value)


class TaskStatus(str, Enum):
    """How a task ended (compares equal to its string value, which the run log stores)."""

    OK = "ok"
    ERROR = "error"  # the code raised, after any repairs
    TIMEOUT = "timeout"
    DIED = "died"  # the kernel died
    CANCELLED = "cancelled"
    MODEL_ERROR = "model_error"
    NEEDS_MODEL = "needs_model"  # the cache could not serve it and model calls were off
    NEEDS_TRUST = "needs_trust"  # served code from an untrusted namespace awaits a yes
    DRY_RUN = "dry_run"

    def __str__(self) -> str:  # f-strings show the value, as for a plain string
        return str(self.value)

    @property
    def label(self) -> str:
        """The status in words, for people."""
        return _STATUS_LABELS[self]


_STATUS_LABELS = {
    TaskStatus.OK: "done", TaskStatus.ERROR: "failed", TaskStatus.TIMEOUT: "timed out",
    TaskStatus.DIED: "the kernel died", TaskStatus.CANCELLED: "cancelled",
    TaskStatus.MODEL_ERROR: "the model failed", TaskStatus.NEEDS_MODEL: "needs the model",
    TaskStatus.NEEDS_TRUST: "waiting for you to trust the code",
    TaskStatus.DRY_RUN: "dry run (nothing ran)",
}


@dataclass
class TaskRequest:
    """What a face asks for. ``None`` options fall back to the configuration."""

    task: str
    namespace: str | None = None
    threshold: float | None = None
    top_k: int | None = None
    refresh: bool = False  # skip the cache and write fresh code
    save: bool = True
    dry_run: bool = False  # show the reference and the proposed code; run nothing
    timeout: float | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    outputs: Sequence[str] = ()
    kernel: str | None = None
    model: str | None = None
    max_repairs: int | None = None
    allow_model: bool = True
    trust: bool = False  # run served code from an untrusted namespace (the user said yes)
    #: Code the user reviewed (a dry run's proposal): it runs exactly as given, with no
    #: model call and no repair; the lookup still runs, for provenance.
    code: str | None = None
    face: str = "magic"


@dataclass
class Event:
    kind: EventKind
    data: dict[str, Any]


@dataclass
class TaskOutcome:
    """How a task ended, and everything the faces show about it."""

    status: TaskStatus
    request: TaskRequest
    match: Match | None = None
    code: str | None = None
    origin: str = ""  # exact | slot | adapted | generated | repaired | reviewed
    run: RunResult | None = None
    adaptations: list[Adaptation] = field(default_factory=list)
    saved: Snippet | None = None
    error: SemcacheError | None = None
    repairs: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    run_id: str = ""
    warnings: list[str] = field(default_factory=list)
    #: Why the code that ran was trusted: ``exact``, ``declared``, ``confirmed`` (served
    #: without the model), ``model`` (the model wrote, adapted or confirmed it).
    evidence: str = ""

    @property
    def tier(self) -> str:
        return self.match.tier if self.match is not None else "miss"

    @property
    def ok(self) -> bool:
        return self.status == TaskStatus.OK

    @property
    def model_calls(self) -> int:
        return len(self.adaptations)

    @property
    def reference(self) -> Snippet | None:
        return self.match.reference if self.match is not None else None

    @property
    def ran_snippet(self) -> Snippet | None:
        """The stored snippet whose code ran: the one saved, or the one served."""
        if self.saved is not None:
            return self.saved
        return self.match.snippet if self.match is not None and self.match.served else None

    @property
    def source(self) -> str:
        """The snippet ``source`` a save of this outcome records."""
        if self.origin == "reviewed":  # a model's proposal the user read, then ran
            return "adapted" if self.reference is not None else "generated"
        return {"adapted": "adapted", "generated": "generated",
                "repaired": "adapted"}.get(self.origin, "generated")

    def usage_totals(self) -> dict[str, float]:
        totals = {"input_tokens": 0.0, "output_tokens": 0.0, "cache_read_tokens": 0.0,
                  "cache_write_tokens": 0.0, "cost_usd": 0.0}
        for a in self.adaptations:
            totals["input_tokens"] += a.usage.input_tokens
            totals["output_tokens"] += a.usage.output_tokens
            totals["cache_read_tokens"] += a.usage.cache_read_input_tokens
            totals["cache_write_tokens"] += a.usage.cache_creation_input_tokens
            totals["cost_usd"] += a.usage.cost_usd
        return totals

    def to_json(self) -> dict[str, Any]:
        """The ``semcache run --json`` object."""
        snippet = self.match.snippet if self.match is not None and self.tier != "miss" else None
        run = self.run
        return {
            "tier": self.tier,
            "snippet_id": snippet.id if snippet else None,
            "code": self.code,
            "stdout": run.stdout if run else "",
            "stderr": run.stderr if run else "",
            "outputs": run.outputs if run else [],
            "status": self.status.value,
            "error": self.error.describe() if self.error else None,
            "saved_id": self.saved.id if self.saved else None,
            "model_calls": self.model_calls,
            "repairs": self.repairs,
            "usage": self.usage_totals(),
            "warnings": list(self.warnings),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }
