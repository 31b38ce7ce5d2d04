"""One run on one kernel: the request, the messaging protocol, deadlines, interrupts.

:func:`prepare` and :func:`finish` run on the caller's side (checking the request,
pickling inputs, loading fetched values); :func:`perform` runs on the runner's loop
against the client and manager of a :class:`~.kernel_pool.PooledKernel`
(jupyter_client's async API, without importing it). Shaped like jupyter_client's
``execute_interactive`` and nbclient: a ``monotonic()`` deadline recomputed every
wait, messages filtered by parent ``msg_id``, stop on ``status: idle``, and kernel
liveness polled beside the channel so a dead kernel is told apart from a slow one.
"""

from __future__ import annotations

import contextlib
import os
import queue
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError
from . import _transfer as transfer
from ._pool import PooledKernel
from ._procs import SUBREAPER_CODE
from ._result import OutputCollector, OutputHook, RunResult, error_info, transfer_error

__all__ = ["RunJob", "discard_files", "finish", "perform", "prepare", "warm_up"]

POLL_S = 0.2  # how often a waiting run checks kernel liveness and cancellation
INTERRUPT_GRACE_S = 2.0  # after an interrupt, time to report where the code was before a kill
FETCH_MIN_S = 5.0  # fetching outputs gets this long even when the code used its whole timeout


@dataclass(eq=False)
class RunJob:
    """What one run asks for; built on the caller's thread, run on the runner's loop."""

    code: str
    timeout: float
    cwd: str
    output_names: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)  # see _env: without credentials
    memory_limit: int = 0  # bytes of address space the kernel may use (0: no limit)
    inputs_path: str | None = None
    outputs_path: str | None = None
    deliver: OutputHook | None = None
    started: float = field(default_factory=time.monotonic)
    submitted: float = 0.0
    cancelled: bool = False  # set from the caller's thread, read on the runner loop
    fetched: bool = False  # the kernel wrote outputs_path completely


def prepare(code: str, *, timeout: float, inputs: Mapping[str, Any] | None,
            outputs: Sequence[str], cwd: str | None, workdir: str,
            kernel_name: str, env: Mapping[str, str],
            memory_limit: int = 0) -> tuple[RunJob, RunResult | None]:
    """On the caller's thread: check the request and pickle the inputs.

    Returns the job, and a finished result instead when inputs cannot be sent:
    nothing runs with half its inputs.
    """
    names = (outputs,) if isinstance(outputs, str) else tuple(outputs)
    if timeout <= 0:
        raise ConfigurationError(f"timeout must be > 0 seconds, got {timeout:g}")
    invalid = transfer.bad_names([*names, *(inputs or {})])
    if invalid:
        raise ConfigurationError(f"invalid variable name(s): {', '.join(invalid)}",
                                 hint="inputs and outputs are Python identifiers")
    job = RunJob(code=code, timeout=timeout, output_names=names,
                 cwd=os.path.abspath(cwd) if cwd else os.getcwd(), env=dict(env),
                 memory_limit=max(0, int(memory_limit)))
    errors: dict[str, str] = {}
    if inputs:
        job.inputs_path, errors = transfer.write_inputs(inputs, workdir)
    if errors:
        result = RunResult(status="error", kernel_state="unused", transfer_errors=errors,
                           kernel_name=kernel_name, error=transfer_error("send", errors))
        result.timings = {"queue_s": 0.0, "execution_s": 0.0,
                          "total_s": time.monotonic() - job.started}
        return job, result
    if names:
        job.outputs_path = transfer.new_outputs_file(workdir)
    return job, None


def finish(job: RunJob, result: RunResult) -> RunResult:
    """On the caller's side: load fetched values; a value that did not arrive fails the run."""
    if job.fetched and job.outputs_path:
        values, errors = transfer.read_values(job.outputs_path)
        result.values.update(values)
        result.transfer_errors.update(errors)
    if result.transfer_errors and result.status == "ok":
        result.status = "error"
        result.error = transfer_error("fetch", result.transfer_errors)
    result.timings["total_s"] = time.monotonic() - job.started
    return result


def discard_files(job: RunJob) -> None:
    for path in (job.inputs_path, job.outputs_path):
        if path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


class _Halt(RuntimeError):
    """The kernel died, the deadline passed, or the caller cancelled."""

    def __init__(self, reason: str) -> None:
        super().__init__({"died": "the kernel died", "timeout": "no answer in time"}.get(
            reason, reason))
        self.reason = reason


async def perform(kernel: PooledKernel, job: RunJob, collector: OutputCollector,
                  result: RunResult, acquired: float) -> bool:
    """Run ``job`` on ``kernel`` into ``result``; True if the kernel ended healthy."""
    try:
        await _run(kernel, job, collector, result, acquired)
    except _Halt as halt:  # in plumbing, before or after the code
        await _halted(kernel, halt.reason, None, job, collector, result)
    return result.kernel_state == "alive"


async def _run(kernel: PooledKernel, job: RunJob, collector: OutputCollector,
               result: RunResult, acquired: float) -> None:
    deadline = acquired + job.timeout
    report: dict[str, str] = {}
    # A pooled kernel started earlier: it must see the caller's directory and environment
    # as they are now, exactly as a freshly started one would.
    env, unset = transfer.env_changes(kernel.env, job.env)
    if job.inputs_path or job.cwd != kernel.cwd or env or unset or job.memory_limit:
        code = transfer.prelude_code(job.cwd, job.inputs_path, env, unset, job.memory_limit)
        report = await _plumb(kernel, code, deadline, job)
    result.timings["setup_s"] = time.monotonic() - acquired
    if report:
        cwd_error = report.pop(transfer.CWD_KEY, None)
        result.status = "error"
        result.transfer_errors.update(report)
        result.error = (error_info("OSError", f"cannot use {job.cwd} as the kernel's working "
                                   f"directory: {cwd_error}") if cwd_error
                        else transfer_error("send", report))
        return
    begun = time.monotonic()
    msg_id = kernel.client.execute(job.code, allow_stdin=False)
    try:
        await _watch(kernel, msg_id, deadline, job, collector)
    except _Halt as halt:
        await _halted(kernel, halt.reason, msg_id, job, collector, result)
        return
    finally:
        result.timings["execution_s"] = time.monotonic() - begun
    if collector.error is not None:
        result.status = "error"
    elif job.output_names and job.outputs_path:
        fetched = time.monotonic()
        code = transfer.epilogue_code(job.output_names, job.outputs_path)
        report = await _plumb(kernel, code, max(deadline, fetched + FETCH_MIN_S), job)
        result.transfer_errors.update(report)
        result.timings["fetch_s"] = time.monotonic() - fetched
        job.fetched = True


async def warm_up(kernel: PooledKernel, timeout: float) -> None:
    """Pay a fresh kernel's first-execute costs before a run waits on them, and make it
    the subreaper of what its code starts (see :mod:`._procs`)."""
    await _plumb(kernel, SUBREAPER_CODE, time.monotonic() + timeout, None)


async def _halted(kernel: PooledKernel, reason: str, msg_id: str | None, job: RunJob,
                  collector: OutputCollector, result: RunResult) -> None:
    if reason == "died" and kernel.stopping:  # killed by the runner's shutdown, not the code
        reason = "cancelled"
    result.status = reason
    if reason == "died":
        result.kernel_state = "dead"
        if msg_id is not None:
            await _drain(kernel, msg_id, collector)
        code = getattr(getattr(kernel.manager.provisioner, "process", None), "returncode", None)
        detail = f" (exit code {code})" if code is not None else ""
        result.error = error_info("KernelDied", f"the kernel died during the run{detail}")
        return
    result.kernel_state = "killed"  # the runner kills it; "interrupted" if it answered first
    if msg_id is not None:
        # An interrupt makes the kernel say where the code was stuck.
        with contextlib.suppress(Exception):
            await kernel.manager.interrupt_kernel()
        with contextlib.suppress(_Halt):
            await _watch(kernel, msg_id, time.monotonic() + INTERRUPT_GRACE_S, None, collector)
            result.kernel_state = "interrupted"
    traceback = collector.error["traceback"] if collector.error else []
    if reason == "timeout":
        message = f"the run exceeded its {job.timeout:g} s timeout and was stopped"
        result.error = error_info("TimeoutError", message, traceback)
    else:
        result.error = error_info("KeyboardInterrupt", "the run was cancelled", traceback)


async def _watch(kernel: PooledKernel, msg_id: str, deadline: float, job: RunJob | None,
                 collector: OutputCollector) -> None:
    """Feed the iopub output of ``msg_id`` to ``collector`` until the kernel is idle."""
    while True:
        msg = await _receive(kernel, kernel.client.get_iopub_msg, deadline, job)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status":
            if msg["content"].get("execution_state") == "idle":
                return
            continue
        collector.feed(msg["msg_type"], msg["content"])


async def _drain(kernel: PooledKernel, msg_id: str, collector: OutputCollector) -> None:
    """Keep what a dead kernel sent before it died."""
    with contextlib.suppress(queue.Empty):
        while True:
            msg = await kernel.client.get_iopub_msg(timeout=0.05)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] != "status":
                collector.feed(msg["msg_type"], msg["content"])


async def _plumb(kernel: PooledKernel, code: str, deadline: float,
                 job: RunJob | None) -> dict[str, str]:
    """Run plumbing silently (no outputs, no history, no execution count); its report."""
    msg_id = kernel.client.execute(code, silent=True, store_history=False, allow_stdin=False,
                                   stop_on_error=False,
                                   user_expressions={"report": transfer.REPORT_EXPRESSION})
    while True:
        reply = await _receive(kernel, kernel.client.get_shell_msg, deadline, job)
        if reply["parent_header"].get("msg_id") == msg_id:
            return transfer.parse_report(reply["content"])


async def _receive(kernel: PooledKernel, get: Callable[..., Awaitable[dict[str, Any]]],
                   deadline: float, job: RunJob | None) -> dict[str, Any]:
    while True:
        if job is not None and job.cancelled:
            raise _Halt("cancelled")
        now = time.monotonic()
        if now >= kernel.next_check:
            # A dead kernel never says "idle": ask the process, not the channel.
            if not await kernel.manager.is_alive():
                raise _Halt("died")
            kernel.next_check = now + POLL_S
        if now >= deadline:
            raise _Halt("timeout")
        with contextlib.suppress(queue.Empty):
            return await get(timeout=min(POLL_S, deadline - now))
