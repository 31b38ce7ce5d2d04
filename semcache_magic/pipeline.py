"""One pipeline for a task: lookup -> (adapt | generate) -> run -> repair -> save -> log.

Every face (the ``%%cached_task`` magic, its widget, ``semcache run``, the
server) builds a :class:`TaskRequest`, calls :meth:`Pipeline.run` and renders
the :class:`Event` objects it emits; none of them holds business logic.

Stages and the events they emit (``Event.kind``):

``stage``       ``{"stage", "state": "started"|"finished", "seconds"}`` for searching,
                adapting/generating, running, repairing, saving
``match``       ``{"match": Match}``: the lookup's answer (tier, score, reference)
``model_text``  ``{"text": chunk}``: Claude's answer as it streams
``code``        ``{"code", "origin"}``: the program about to run (origin: exact, slot,
                adapted, generated, repaired)
``output``      ``{"output": nbformat output}``: the isolated kernel's outputs, live
``run``         ``{"result": RunResult}``: one run finished (ok or not)
``saved``       ``{"snippet": Snippet, "created": bool}``
``error``       ``{"error": SemcacheError}``: a stage failed (the outcome says how it ended)
``warning``     ``{"message"}``: something went wrong that did not stop the task (the
                cache could not be read or written)

Events are emitted on the calling thread, in order.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .cache import SnippetCache
from .config import SemCache
from .errors import (
    AdaptationError,
    ModelRequiredError,
    SemcacheError,
    StoreError,
    TransferError,
)
from .snippet import Match, Snippet

if TYPE_CHECKING:
    from .adapter import Adaptation, ClaudeAdapter
    from .kernel import KernelRunner
    from .run_result import RunResult

__all__ = ["Event", "Pipeline", "TaskOutcome", "TaskRequest", "describe_inputs"]


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
    face: str = "magic"


@dataclass
class Event:
    kind: str
    data: dict[str, Any]


@dataclass
class TaskOutcome:
    """How a task ended, and everything the faces show about it."""

    status: str  # ok | error | timeout | died | cancelled | model_error | dry_run
    request: TaskRequest
    match: Match | None = None
    code: str | None = None
    origin: str = ""  # exact | slot | adapted | generated | repaired
    run: RunResult | None = None
    adaptations: list[Adaptation] = field(default_factory=list)
    saved: Snippet | None = None
    error: SemcacheError | None = None
    repairs: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    run_id: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def tier(self) -> str:
        return self.match.tier if self.match is not None else "miss"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

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
        return {"exact": "manual", "slot": "slot", "adapted": "adapted",
                "generated": "generated", "repaired": "adapted"}.get(self.origin, "generated")

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
            "status": self.status,
            "error": self.error.describe() if self.error else None,
            "saved_id": self.saved.id if self.saved else None,
            "model_calls": self.model_calls,
            "repairs": self.repairs,
            "usage": self.usage_totals(),
            "warnings": list(self.warnings),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


def describe_inputs(values: Mapping[str, Any]) -> dict[str, str]:
    """Input schema: names -> type descriptions, never values.

    DataFrames include their column names and dtypes and arrays their dtype and
    rank, because code written for one shape does not fit another.
    """
    schema: dict[str, str] = {}
    for name, value in values.items():
        kind = type(value)
        label = kind.__name__ if kind.__module__ == "builtins" else (
            f"{kind.__module__.split('.')[0]}.{kind.__name__}")
        columns = getattr(value, "dtypes", None)
        if label == "pandas.DataFrame" and columns is not None:
            label += "[" + ", ".join(f"{c}: {t}" for c, t in columns.items()) + "]"
        elif label == "numpy.ndarray":
            label += f"[{getattr(value, 'dtype', '?')}, {getattr(value, 'ndim', '?')}d]"
        schema[str(name)] = label
    return schema


class Pipeline:
    """Runs tasks against one cache, kernel runner and adapter configuration."""

    def __init__(
        self,
        config: SemCache | None = None,
        *,
        cache: SnippetCache | None = None,
        runner: KernelRunner | None = None,
    ) -> None:
        self.config = config or SemCache().apply_env()
        self.cache = cache or SnippetCache(self.config)
        self._runner = runner
        self._runners: dict[str, KernelRunner] = {}
        self._adapters: dict[str, ClaudeAdapter] = {}

    # -- collaborators ----------------------------------------------------------------

    def runner(self, kernel: str | None = None) -> KernelRunner:
        if not kernel or kernel == self.config.kernel_name:
            if self._runner is None:
                from .kernel import get_runner

                self._runner = get_runner(self.config)
            return self._runner
        if kernel not in self._runners:
            from .kernel import KernelRunner

            self._runners[kernel] = KernelRunner(self.config, kernel_name=kernel)
        return self._runners[kernel]

    def adapter(self, model: str | None = None) -> ClaudeAdapter:
        key = model or ""
        if key not in self._adapters:
            from .adapter import ClaudeAdapter

            config = self.config.derive(model=model) if model else self.config
            self._adapters[key] = ClaudeAdapter(config)
        return self._adapters[key]

    def warm(self) -> None:
        """Start the slow parts in the background: model load, kernel pool."""
        if self.config.warm_embedder:
            self.cache.embedder.warm()
        self.runner().warm()

    def close(self) -> None:
        for adapter in self._adapters.values():
            adapter.close()
        for runner in self._runners.values():
            runner.shutdown()
        self.cache.close()

    # -- the task ----------------------------------------------------------------------

    def run(
        self, request: TaskRequest, on_event: Callable[[Event], None] | None = None
    ) -> TaskOutcome:
        """Run ``request`` to its end; errors end up in the outcome, not raised.

        Only bad input (:class:`TaskError`, :class:`ConfigurationError`, a
        :class:`TransferError` for inputs that cannot be sent) and KeyboardInterrupt
        propagate; everything that fails later is reported in
        the outcome and the run log.
        """
        emit = on_event or (lambda event: None)
        started = time.perf_counter()
        outcome = TaskOutcome(status="error", request=request, run_id=uuid.uuid4().hex[:16])
        schema = describe_inputs(request.inputs)
        analysis = self.cache.analyse(request.task, input_schema=schema)  # bad task: raises
        try:
            with _stage(emit, outcome, "searching"):
                outcome.match = Match(tier="miss", analysis=analysis)
                if not request.refresh:
                    try:
                        outcome.match = self.cache.lookup(
                            analysis, namespace=request.namespace,
                            threshold=request.threshold, top_k=request.top_k)
                    except StoreError as err:  # a broken cache must not cost the task
                        self._warn(outcome, emit, f"the cache is unavailable, so this "
                                   f"counts as a miss: {err.describe()}")
            emit(Event("match", {"match": outcome.match}))
            self._choose_code(request, outcome, emit)
            if request.dry_run:
                outcome.status = "dry_run"
                return outcome
            self._run_and_repair(request, outcome, emit)
            if outcome.ok and request.save:
                try:
                    self.save(outcome, emit)
                except StoreError as err:  # the result stands; only the saving failed
                    self._warn(outcome, emit, f"the code ran, but was not saved: "
                               f"{err.describe()}")
            elif not outcome.ok and outcome.origin in ("exact", "slot"):
                self._record_use(outcome, success=False)
        except ModelRequiredError as err:
            outcome.status, outcome.error = "needs_model", err
            emit(Event("error", {"error": err}))
        except AdaptationError as err:
            outcome.status, outcome.error = "model_error", err
            emit(Event("error", {"error": err}))
        except KeyboardInterrupt:
            outcome.status = "cancelled"
            raise
        finally:
            outcome.timings["total"] = time.perf_counter() - started
            self._log(outcome)
        return outcome

    def _choose_code(self, request: TaskRequest, outcome: TaskOutcome,
                     emit: Callable[[Event], None]) -> None:
        match = outcome.match
        assert match is not None
        if match.served:
            outcome.code, outcome.origin = match.code, match.tier
        else:
            if not request.allow_model:
                raise ModelRequiredError(
                    f"the task needs the model (tier {match.tier}) but model calls are off")
            if request.inputs and not request.dry_run:
                # Before paying for a model call, make sure the inputs can be sent at all
                # (served code skips this: the runner reports the same error, pickling once).
                from .transfer import unpicklable

                refused = unpicklable(request.inputs)
                if refused:
                    raise TransferError(
                        "cannot send " + "; ".join(f"{k} ({v})" for k, v in refused.items())
                        + " into the isolated kernel")
            reference = match.reference
            stage = "adapting" if reference is not None else "generating"
            with _stage(emit, outcome, stage):
                adapter, context = self.adapter(request.model), self._context(match)
                on_text = _text_relay(emit)
                if reference is not None:
                    adaptation = adapter.adapt(match.analysis, reference, context=context,
                                               on_text=on_text)
                else:
                    adaptation = adapter.generate(match.analysis, context=context,
                                                  on_text=on_text)
            outcome.adaptations.append(adaptation)
            outcome.code = adaptation.code
            outcome.origin = "adapted" if reference is not None else "generated"
        emit(Event("code", {"code": outcome.code, "origin": outcome.origin}))

    def _context(self, match: Match) -> Any:
        from .adapter import CodeContext

        libraries = sorted(set(match.snippet.libraries if match.snippet else []))
        return CodeContext(input_schema=dict(match.analysis.input_schema), libraries=libraries)

    def _run_and_repair(self, request: TaskRequest, outcome: TaskOutcome,
                        emit: Callable[[Event], None]) -> None:
        runner = self.runner(request.kernel)
        budget = self.config.max_repairs if request.max_repairs is None else request.max_repairs
        while True:
            assert outcome.code is not None
            stage = "running" if outcome.repairs == 0 else f"running (repair {outcome.repairs})"
            with _stage(emit, outcome, stage, key="running"):
                result = runner.run(
                    outcome.code, timeout=request.timeout, inputs=request.inputs,
                    outputs=request.outputs, cwd=os.getcwd(),
                    on_output=lambda output: emit(Event("output", {"output": output})))
            outcome.run = result
            emit(Event("run", {"result": result}))
            if result.truncated:
                self._warn(outcome, emit, f"the output was cut at SemCache.output_limit "
                           f"({self.config.output_limit:,} bytes); {result.dropped_bytes:,} "
                           "bytes were dropped")
            outcome.status = result.status
            if result.ok or result.status == "cancelled":
                return
            # A transfer error is about the inputs/outputs: new code would not help.
            transfer = (result.error or {}).get("ename") == "TransferError"
            if transfer or outcome.repairs >= budget or not request.allow_model:
                outcome.error = _run_error(result)
                emit(Event("error", {"error": outcome.error}))
                return
            outcome.repairs += 1
            match = outcome.match
            assert match is not None
            with _stage(emit, outcome, "repairing"):
                repair = self.adapter(request.model).repair(
                    match.analysis, outcome.code, _error_text(result),
                    context=self._context(match), on_text=_text_relay(emit))
            outcome.adaptations.append(repair)
            outcome.code, outcome.origin = repair.code, "repaired"
            emit(Event("code", {"code": outcome.code, "origin": outcome.origin}))

    def save(self, outcome: TaskOutcome,
             emit: Callable[[Event], None] | None = None) -> Snippet | None:
        """Save a successful outcome (also the widget's "save" after ``--no-save``)."""
        if not outcome.ok or outcome.code is None or outcome.match is None:
            return None
        emit = emit or (lambda event: None)
        match, request = outcome.match, outcome.request
        with _stage(emit, outcome, "saving"):
            if outcome.origin == "exact" and match.snippet is not None:
                self.cache.record_use(match.snippet.id, success=True)
                saved, created = match.snippet, False
            else:
                if outcome.origin == "slot" and match.snippet is not None:
                    self.cache.record_use(match.snippet.id, success=True)
                parent = match.snippet.id if match.snippet is not None and (
                    outcome.origin != "generated") else ""
                models = [a.model for a in outcome.adaptations]
                result = self.cache.save(
                    request.task, outcome.code, source=outcome.source,
                    namespace=request.namespace, input_schema=match.analysis.input_schema,
                    parent_id=parent, model=models[-1] if models else "",
                    kernel=request.kernel or self.config.kernel_name, successes=1)
                saved, created = result.snippet, result.created
        outcome.saved = saved
        emit(Event("saved", {"snippet": saved, "created": created}))
        return saved

    @staticmethod
    def _warn(outcome: TaskOutcome, emit: Callable[[Event], None], message: str) -> None:
        outcome.warnings.append(message)
        emit(Event("warning", {"message": message}))

    def _record_use(self, outcome: TaskOutcome, *, success: bool) -> None:
        if outcome.match is not None and outcome.match.snippet is not None:
            # Bookkeeping only: the outcome already says what happened.
            with contextlib.suppress(StoreError):
                self.cache.record_use(outcome.match.snippet.id, success=success)

    def _log(self, outcome: TaskOutcome) -> None:
        """Append the run to the run log; a failing log never fails the task."""
        match = outcome.match
        totals = outcome.usage_totals()
        snippet = match.snippet if match is not None and match.tier != "miss" else None
        row = {
            "run_id": outcome.run_id, "task": outcome.request.task,
            "namespace": match.namespace if match is not None and match.namespace else "",
            "tier": "refresh" if outcome.request.refresh else outcome.tier,
            "score": match.score if match is not None else 0.0,
            "snippet_id": snippet.id if snippet is not None and match is not None
            and match.served else "",
            "reference_id": match.reference.id if match is not None and match.reference
            else "",
            "saved_id": outcome.saved.id if outcome.saved else "",
            "model": ",".join(sorted({a.model for a in outcome.adaptations})),
            "model_calls": outcome.model_calls,
            "input_tokens": totals["input_tokens"], "output_tokens": totals["output_tokens"],
            "cache_read_tokens": totals["cache_read_tokens"],
            "cache_write_tokens": totals["cache_write_tokens"],
            "cost_usd": totals["cost_usd"],
            "saved_cost_usd": self._avoided_cost(outcome),
            "timings": outcome.timings, "total_s": outcome.timings.get("total", 0.0),
            "outcome": outcome.status,
            "error": outcome.error.describe() if outcome.error else "",
            "repairs": outcome.repairs, "face": outcome.request.face,
        }
        # The run log is statistics: never let it cost the user their result.
        with contextlib.suppress(SemcacheError):
            self.cache.record_run(row)

    def _avoided_cost(self, outcome: TaskOutcome) -> float:
        """Estimated cost of the model call an exact/slot hit avoided."""
        if outcome.origin not in ("exact", "slot") or not outcome.code:
            return 0.0
        from .adapter import Usage, estimate_cost
        from .prompts import SYSTEM_PROMPT

        # An adapt request carries the system prompt, task and reference, and returns the code.
        chars_in = len(SYSTEM_PROMPT) + 2 * len(outcome.request.task) + len(outcome.code) + 800
        usage = Usage(input_tokens=chars_in // 4, output_tokens=len(outcome.code) // 4 + 20)
        model = outcome.request.model or self.config.model
        return estimate_cost(model, usage, dict(self.config.prices))


class _stage:
    """Time a stage into ``outcome.timings`` and emit started/finished events."""

    def __init__(self, emit: Callable[[Event], None], outcome: TaskOutcome, name: str,
                 key: str | None = None) -> None:
        self.emit, self.outcome, self.name, self.key = emit, outcome, name, key or name

    def __enter__(self) -> None:
        self.started = time.perf_counter()
        self.emit(Event("stage", {"stage": self.name, "state": "started"}))

    def __exit__(self, *exc: object) -> None:
        seconds = time.perf_counter() - self.started
        self.outcome.timings[self.key] = self.outcome.timings.get(self.key, 0.0) + seconds
        state = "finished" if exc[0] is None else "failed"
        self.emit(Event("stage", {"stage": self.name, "state": state, "seconds": seconds}))


def _text_relay(emit: Callable[[Event], None]) -> Callable[[str], None]:
    return lambda chunk: emit(Event("model_text", {"text": chunk}))


def _error_text(result: RunResult) -> str:
    """What the repair request shows the model about a failed run."""
    if result.error:
        text = str(result.error.get("text") or "\n".join(result.error.get("traceback") or []))
        return text or f"{result.error.get('ename')}: {result.error.get('evalue')}"
    return result.message or f"the run ended with status {result.status}"


def _run_error(result: RunResult) -> SemcacheError:
    try:
        result.raise_for_status()
    except SemcacheError as err:
        return err
    return SemcacheError(result.message or f"the run ended with status {result.status}")
