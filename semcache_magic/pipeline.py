"""One pipeline for a task: lookup -> (adapt | generate) -> run -> repair -> save -> log.

Every face (the ``%%cached_task`` magic, its widget, ``semcache run``, the
server) builds a :class:`~semcache_magic.outcome.TaskRequest`, calls
:meth:`Pipeline.run` and renders the :class:`~semcache_magic.outcome.Event`
objects it emits (listed in :mod:`semcache_magic.outcome`); none of them holds
business logic. Events are emitted on the calling thread, in order.

The stages, each behind its package's front door:

1. ``cache``: analyse and look the task up (exact, slot, semantic, miss);
2. ``model``: adapt the reference or write fresh code, unless the cache served it;
3. ``run``: run it in an isolated kernel; on failure ``model`` repairs it;
4. ``cache``: save what worked (with provenance) and log the run.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from .cache import SnippetCache, same_program
from .config import SemCache
from .errors import (
    AdaptationError,
    ModelRequiredError,
    SemcacheError,
    StoreError,
    UntrustedCodeError,
)
from .options import check_seconds
from .outcome import Event, EventKind, TaskOutcome, TaskRequest, TaskStatus
from .snippet import Match, SaveOptions, Snippet

if TYPE_CHECKING:
    from .model import Adaptation, ClaudeAdapter, CodeContext
    from .run import KernelRunner, RunResult

__all__ = ["Pipeline"]

Emit = Callable[[Event], None]


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
                from .run import get_runner

                self._runner = get_runner(self.config)
            return self._runner
        if kernel not in self._runners:
            from .run import KernelRunner

            self._runners[kernel] = KernelRunner(self.config, kernel_name=kernel)
        return self._runners[kernel]

    def adapter(self, model: str | None = None) -> ClaudeAdapter:
        key = model or ""
        if key not in self._adapters:
            from .model import ClaudeAdapter

            config = self.config.derive(model=model) if model else self.config
            self._adapters[key] = ClaudeAdapter(config)
        return self._adapters[key]

    def warm(self, *, between: Callable[[], object] | None = None) -> None:
        """Load the slow parts, most needed first; blocks, so call it on a background thread.

        First what every task needs: the kernel pool (its kernels start in their own
        processes) and the store (the first open imports lancedb). Then the embedding
        model, which semantic lookups and saves need (it loads in its own thread, or in
        the user's embedding service). Then ``between`` is called -- the magic waits there
        while a first task runs -- and the Claude SDK is imported (only when a key is set):
        ~1-2 s of Python holding the GIL, which a first exact hit must not wait behind.
        """
        self.runner().warm()
        with contextlib.suppress(SemcacheError):  # the first real use reports it
            self.cache.open()
        self.cache.embedder.warm()
        if between is not None:
            between()
        self.adapter().warm()

    def close(self) -> None:
        for adapter in self._adapters.values():
            adapter.close()
        for runner in self._runners.values():
            runner.shutdown()
        self.cache.close()

    # -- the task ----------------------------------------------------------------------

    def run(self, request: TaskRequest, on_event: Emit | None = None) -> TaskOutcome:
        """Run ``request`` to its end; errors end up in the outcome, not raised.

        Only bad input (:class:`TaskError`, :class:`ConfigurationError`, a
        :class:`TransferError` for inputs that cannot be sent, a
        :class:`KernelStartError` for a kernelspec that is not installed) and
        KeyboardInterrupt propagate; everything that fails later is reported in
        the outcome and the run log.
        """
        from .run import describe_inputs

        emit = on_event or (lambda event: None)
        started = time.perf_counter()
        outcome = TaskOutcome(status=TaskStatus.ERROR, request=request,
                              run_id=uuid.uuid4().hex[:16])
        analysis = self.cache.analyse(request.task,
                                      input_schema=describe_inputs(request.inputs))
        try:
            with _stage(emit, outcome, "searching"):
                outcome.match = Match(tier="miss", analysis=analysis)
                if not request.refresh:
                    try:
                        outcome.match = self.cache.lookup(
                            analysis, namespace=request.namespace,
                            threshold=request.threshold, top_k=request.top_k,
                            on_wait=_waiting(emit, "searching"))
                    except StoreError as err:  # a broken cache must not cost the task
                        self._warn(outcome, emit, f"the cache is unavailable, so this "
                                   f"counts as a miss: {err.describe()}")
            emit(Event(EventKind.MATCH, {"match": outcome.match}))
            self._choose_code(request, outcome, emit)
            if request.dry_run:
                outcome.status = TaskStatus.DRY_RUN
                return outcome
            self._run_and_repair(request, outcome, emit)
            if outcome.ok and request.save:
                try:
                    self.save(outcome, emit)
                except StoreError as err:  # the result stands; only the saving failed
                    self._warn(outcome, emit, f"the code ran, but was not saved: "
                               f"{err.describe()}")
        except UntrustedCodeError as err:
            outcome.status, outcome.error = TaskStatus.NEEDS_TRUST, err
            emit(Event(EventKind.ERROR, {"error": err}))
        except ModelRequiredError as err:
            outcome.status, outcome.error = TaskStatus.NEEDS_MODEL, err
            emit(Event(EventKind.ERROR, {"error": err}))
        except AdaptationError as err:
            outcome.status, outcome.error = TaskStatus.MODEL_ERROR, err
            emit(Event(EventKind.ERROR, {"error": err}))
        except KeyboardInterrupt:
            outcome.status = TaskStatus.CANCELLED
            raise
        finally:
            outcome.timings["total"] = time.perf_counter() - started
            self._log(outcome)
        return outcome

    def _choose_code(self, request: TaskRequest, outcome: TaskOutcome, emit: Emit) -> None:
        match = outcome.match
        assert match is not None
        if request.code is not None:  # reviewed code runs as given: no model call
            outcome.code, outcome.origin = request.code, "reviewed"
            emit(Event(EventKind.CODE, {"code": outcome.code, "origin": outcome.origin}))
            return
        if match.served:
            outcome.code, outcome.origin, outcome.evidence = match.code, match.tier, match.evidence
            if not match.trusted and not request.trust:
                # Someone else's code: show it, run it only after a yes.
                emit(Event(EventKind.CODE, {"code": outcome.code, "origin": outcome.origin}))
                raise UntrustedCodeError(
                    f"this code comes from the namespace {match.namespace!r}, which you have "
                    "not trusted; it did not run")
        else:
            if not request.allow_model:
                raise ModelRequiredError(
                    f"the task needs the model (tier {match.tier}) but model calls are off")
            if not request.dry_run:
                # Before paying for a model call, make sure the code could run at all: a
                # deadline, a kernel, inputs that can be sent (served code skips this: the
                # runner reports the same errors, at no cost).
                check_seconds(request.timeout, "timeout")
                self.runner(request.kernel).check_kernel()
            if request.inputs and not request.dry_run:
                from .run import check_sendable

                check_sendable(request.inputs)
            reference = match.reference
            stage = "adapting" if reference is not None else "generating"
            with _stage(emit, outcome, stage):
                adapter, context = self.adapter(request.model), self._context(match)
                if not adapter.ready:
                    _waiting(emit, stage)("loading the Claude SDK…")
                on_text = _text_relay(emit)
                if reference is not None:
                    adaptation = adapter.adapt(match.analysis, reference, context=context,
                                               on_text=on_text, proposal=match.proposal)
                else:
                    adaptation = adapter.generate(match.analysis, context=context,
                                                  on_text=on_text)
            self._adapted(outcome, emit, adaptation)
            outcome.code, outcome.evidence = adaptation.code, "model"
            outcome.origin = "adapted" if reference is not None else "generated"
            if match.proposal is not None and reference is not None:
                self._judge_proposal(match, adaptation, outcome, emit)
        emit(Event(EventKind.CODE, {"code": outcome.code, "origin": outcome.origin}))

    def _judge_proposal(self, match: Match, adaptation: Adaptation, outcome: TaskOutcome,
                        emit: Emit) -> None:
        """The model's answer to a proposed substitution is evidence for the next time:
        the same program confirms the substituted slots, another program refutes them."""
        assert match.snippet is not None and match.proposal is not None
        confirmed = adaptation.confirmed or same_program(adaptation.code, match.proposal)
        refutes = [str(slot) for slot in match.slots] + [
            key for key in match.pending if key.startswith(("shape/", "order/"))]
        if not (match.pending if confirmed else refutes):
            return
        try:
            self.cache.record_evidence(match.snippet.id,
                                       confirmed=match.pending if confirmed else (),
                                       refuted=() if confirmed else refutes)
        except StoreError as err:  # evidence is bookkeeping: the task goes on
            self._warn(outcome, emit, f"could not record the model's answer: {err.describe()}")

    @staticmethod
    def _context(match: Match) -> CodeContext:
        from .model import CodeContext

        libraries = sorted(set(match.snippet.libraries if match.snippet else []))
        return CodeContext(input_schema=dict(match.analysis.input_schema), libraries=libraries)

    def _run_and_repair(self, request: TaskRequest, outcome: TaskOutcome, emit: Emit) -> None:
        runner = self.runner(request.kernel)
        budget = self.config.max_repairs if request.max_repairs is None else request.max_repairs
        if request.code is not None:
            budget = 0  # the user reviewed this exact code: a repair would run other code
        while True:
            assert outcome.code is not None
            stage = "running" if outcome.repairs == 0 else f"running (repair {outcome.repairs})"
            with _stage(emit, outcome, stage, key="running"):
                if not runner.pool_state().get("ready"):
                    _waiting(emit, stage)("starting a kernel…")
                result = runner.run(
                    outcome.code, timeout=request.timeout, inputs=request.inputs,
                    outputs=request.outputs, cwd=os.getcwd(),
                    on_output=lambda output: emit(Event(EventKind.OUTPUT, {"output": output})))
            outcome.run = result
            emit(Event(EventKind.RUN, {"result": result}))
            if result.truncated:
                self._warn(outcome, emit, f"the output was cut at SemCache.output_limit "
                           f"({self.config.output_limit:,} bytes); {result.dropped_bytes:,} "
                           "bytes were dropped")
            outcome.status = TaskStatus(result.status)
            if result.ok or result.status == "cancelled":
                return
            if outcome.origin in ("exact", "slot"):
                # Served code failed: that counts against it even if a repair then works.
                self._served_failed(outcome)
            # A transfer error is about the inputs/outputs: new code would not help.
            transfer = (result.error or {}).get("ename") == "TransferError"
            if transfer or outcome.repairs >= budget or not request.allow_model:
                outcome.error = _run_error(result)
                emit(Event(EventKind.ERROR, {"error": outcome.error}))
                return
            outcome.repairs += 1
            match = outcome.match
            assert match is not None
            with _stage(emit, outcome, "repairing"):
                repair = self.adapter(request.model).repair(
                    match.analysis, outcome.code, _error_text(result),
                    context=self._context(match), on_text=_text_relay(emit))
            self._adapted(outcome, emit, repair)
            if repair.code.strip() == outcome.code.strip():
                # Running the same code again would fail the same way.
                outcome.error = _run_error(result)
                self._warn(outcome, emit, "the repair returned the same code, so it was "
                           "not run again")
                emit(Event(EventKind.ERROR, {"error": outcome.error}))
                return
            outcome.code, outcome.origin = repair.code, "repaired"
            emit(Event(EventKind.CODE, {"code": outcome.code, "origin": outcome.origin}))

    def save(self, outcome: TaskOutcome, emit: Emit | None = None) -> Snippet | None:
        """Save a successful outcome (also the widget's "save" after ``--no-save``)."""
        if not outcome.ok or outcome.code is None or outcome.match is None:
            return None
        emit = emit or (lambda event: None)
        match, request = outcome.match, outcome.request
        with _stage(emit, outcome, "saving"):
            if outcome.origin in ("exact", "slot") and match.snippet is not None:
                # Served code is counted on the snippet that served it; a slot serving adds
                # no row of its own (its evidence is the parent's, and a row would let a
                # substitution become a source for more substitutions).
                self.cache.record_use(match.snippet.id, success=True)
                saved, created = match.snippet, False
            else:
                parent = match.snippet.id if match.snippet is not None and (
                    outcome.origin not in ("generated", "reviewed")) else ""
                if outcome.origin == "reviewed" and match.reference is not None:
                    parent = match.reference.id
                models = [a.model for a in outcome.adaptations]
                options = SaveOptions(
                    source=outcome.source, namespace=request.namespace,
                    input_schema=match.analysis.input_schema, parent_id=parent,
                    model=models[-1] if models else "",
                    kernel=request.kernel or self.config.kernel_name)
                result = self.cache.save(request.task, outcome.code, options, successes=1,
                                         vector=match.vector)
                saved, created = result.snippet, result.created
        outcome.saved = saved
        emit(Event(EventKind.SAVED, {"snippet": saved, "created": created}))
        return saved

    def _adapted(self, outcome: TaskOutcome, emit: Emit, adaptation: Adaptation) -> None:
        outcome.adaptations.append(adaptation)
        if adaptation.redacted:  # the model saw <redacted> there: say why
            kinds = ", ".join(sorted(set(adaptation.redacted)))
            self._warn(outcome, emit, f"{len(adaptation.redacted)} secret(s) were redacted "
                       f"from the request to the model: {kinds}")

    @staticmethod
    def _warn(outcome: TaskOutcome, emit: Emit, message: str) -> None:
        outcome.warnings.append(message)
        emit(Event(EventKind.WARNING, {"message": message}))

    def _served_failed(self, outcome: TaskOutcome) -> None:
        """Count the failure on the served snippet; a failed substitution refutes its slots."""
        match = outcome.match
        if match is None or match.snippet is None:
            return
        # Bookkeeping only: the outcome already says what happened.
        with contextlib.suppress(StoreError):
            self.cache.record_use(match.snippet.id, success=False)
            if outcome.origin == "slot" and match.slots:
                self.cache.record_evidence(match.snippet.id,
                                           refuted=[str(slot) for slot in match.slots])

    def _log(self, outcome: TaskOutcome) -> None:
        """Append the run to the run log; a failing log never fails the task."""
        avoided = 0.0
        if outcome.origin in ("exact", "slot") and outcome.code:
            from .model import avoided_cost

            avoided = avoided_cost(outcome.request.model or self.config.model,
                                   outcome.request.task, outcome.code, dict(self.config.prices))
        # The run log is statistics: never let it cost the user their result.
        with contextlib.suppress(SemcacheError):
            self.cache.log_run(outcome, avoided_cost=avoided)


class _stage:
    """Time a stage into ``outcome.timings`` and emit started/finished events."""

    def __init__(self, emit: Emit, outcome: TaskOutcome, name: str,
                 key: str | None = None) -> None:
        self.emit, self.outcome, self.name, self.key = emit, outcome, name, key or name

    def __enter__(self) -> None:
        self.started = time.perf_counter()
        self.emit(Event(EventKind.STAGE, {"stage": self.name, "state": "started"}))

    def __exit__(self, *exc: object) -> None:
        seconds = time.perf_counter() - self.started
        self.outcome.timings[self.key] = self.outcome.timings.get(self.key, 0.0) + seconds
        state = "finished" if exc[0] is None else "failed"
        self.emit(Event(EventKind.STAGE, {"stage": self.name, "state": state,
                                          "seconds": seconds}))


def _waiting(emit: Emit, stage: str) -> Callable[[str], None]:
    """Tells the faces what ``stage`` waits for (see the ``wait`` event)."""
    return lambda detail: emit(Event(EventKind.WAIT, {"stage": stage, "detail": detail}))


def _text_relay(emit: Emit) -> Callable[[str], None]:
    return lambda chunk: emit(Event(EventKind.MODEL_TEXT, {"text": chunk}))


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

