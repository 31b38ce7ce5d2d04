"""Isolated kernels: run code in a fresh ipykernel, served from a warm pool.

Usage::

    from semcache_magic.run import get_runner

    result = get_runner().run("summary = df.describe()", inputs={"df": df},
                              outputs=["summary"], timeout=30)
    result.raise_for_status()
    summary = result.values["summary"]

The runner owns a daemon thread running its own asyncio loop, where every kernel
manager and client lives. :meth:`KernelRunner.run` hands work over with
``run_coroutine_threadsafe`` and waits on a queue, so it behaves the same from a
script and from inside a running loop (a notebook kernel);
:meth:`~KernelRunner.run_async` awaits the same work from a caller's loop
(jupyter_server). Every run gets a fresh kernel, discarded afterwards; ``_pool``
keeps ``pool_size`` ready, ``_protocol`` holds the protocol of one run, and
``_kernels`` starts and stops the kernel processes (the only jupyter_client user).
Kernels are shut down after their run, after ``kernel_idle_timeout`` unused, at
interpreter exit, and, if this process is killed outright, by ipykernel itself (it
exits when its parent goes away). Settings are read from
:class:`~semcache_magic.config.SemCache` at each run, so
``%config`` changes apply to the next one.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import os
import queue
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from ..config import SemCache
from ..errors import ConfigurationError, ExecutionError
from ._env import kernel_environment
from ._kernels import require_kernelspec, shutdown_kernel, start_kernel, zmq_context
from ._pool import KernelPool, PooledKernel
from ._protocol import RunJob, discard_files, finish, perform, prepare
from ._result import OutputCollector, OutputHook, RunResult, error_info

__all__ = ["KernelRunner", "RunResult", "get_runner"]

log = logging.getLogger(__name__)

_SETTINGS = ("kernel_name", "pool_size", "run_timeout", "kernel_idle_timeout",
             "kernel_start_timeout", "output_limit", "run_env_allow", "run_memory_limit")
_DONE = object()


class KernelRunner:
    """Runs code strings in isolated kernels. Thread-safe; one per process is enough.

    ``config`` is the shared :class:`SemCache` (a fresh one with environment
    overrides when omitted); keyword ``overrides`` pin kernel settings for this
    runner only, e.g. ``KernelRunner(pool_size=0)``.
    """

    def __init__(self, config: SemCache | None = None, **overrides: Any) -> None:
        unknown = sorted(set(overrides) - set(_SETTINGS))
        if unknown:
            raise ConfigurationError(f"unknown kernel setting(s): {', '.join(unknown)}",
                                     hint=f"use {', '.join(_SETTINGS)}")
        SemCache().apply(**overrides)  # validated by the traits' own rules
        self.config = config if config is not None else SemCache().apply_env()
        self._overrides = {k: v for k, v in overrides.items() if v is not None}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._workdir: str | None = None
        self._closed = False
        # Below: touched only on the runner's loop.
        self._pool = KernelPool(self._start_kernel, shutdown_kernel, self.setting)
        self._runs: dict[asyncio.Future[Any], RunJob] = {}
        self._zmq: Any = None
        self._known_kernels: set[str] = set()
        _RUNNERS.add(self)

    def setting(self, name: str) -> Any:
        """The effective kernel setting: this runner's override, else the config's."""
        return self._overrides[name] if name in self._overrides else getattr(self.config, name)

    @property
    def closed(self) -> bool:
        return self._closed

    # -- public face -----------------------------------------------------------------
    def run(self, code: str, *, timeout: float | None = None,
            inputs: Mapping[str, Any] | None = None, outputs: Sequence[str] = (),
            cwd: str | None = None, on_output: OutputHook | None = None) -> RunResult:
        """Run ``code`` in a fresh kernel and return what happened.

        ``inputs`` are pickled into the kernel's globals first; ``outputs`` names
        globals fetched back into ``result.values``. ``cwd`` defaults to the
        current directory. ``on_output`` is called on this thread with each output
        as it arrives. Ctrl-C while waiting stops the kernel and returns a
        ``cancelled`` result. Raises :class:`KernelStartError` if no kernel starts.
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("KernelRunner.run() cannot be called on the runner's own loop")
        job, early = self._prepare(code, timeout, inputs, outputs, cwd)
        if early is not None:
            return early
        pending: queue.SimpleQueue[Any] = queue.SimpleQueue()
        if on_output is not None:
            job.deliver = pending.put
        try:
            future = self._launch(job)
            future.add_done_callback(lambda _: pending.put(_DONE))
            while True:
                try:
                    item = pending.get(timeout=0.5)  # a bounded wait keeps Ctrl-C prompt
                    if item is _DONE:
                        break
                    _call_hook(on_output, item)
                except queue.Empty:
                    continue
                except KeyboardInterrupt:
                    job.cancelled = True  # the loop interrupts, kills, and answers "cancelled"
            try:
                return finish(job, future.result())
            except concurrent.futures.CancelledError:  # the runner's loop went away under us
                return RunResult(status="cancelled", kernel_state="killed", error=error_info(
                    "KeyboardInterrupt", "the run was cancelled: the kernel runner shut down"))
        finally:
            discard_files(job)

    async def run_async(self, code: str, *, timeout: float | None = None,
                        inputs: Mapping[str, Any] | None = None, outputs: Sequence[str] = (),
                        cwd: str | None = None,
                        on_output: OutputHook | None = None) -> RunResult:
        """:meth:`run` for callers on an event loop; ``on_output`` runs on that loop.

        Cancelling the awaiting task kills the kernel and re-raises CancelledError.
        """
        # Pickling large inputs (and unpickling outputs) stays off the caller's loop.
        job, early = await asyncio.to_thread(self._prepare, code, timeout, inputs, outputs, cwd)
        if early is not None:
            return early
        try:
            if on_output is not None:
                caller, hook = asyncio.get_running_loop(), on_output

                def deliver(output: dict[str, Any]) -> None:
                    caller.call_soon_threadsafe(_call_hook, hook, output)

                job.deliver = deliver
            result = await asyncio.wrap_future(self._launch(job))
            return await asyncio.to_thread(finish, job, result)
        finally:
            discard_files(job)

    def check_kernel(self) -> None:
        """Raise :class:`KernelStartError` now if the kernelspec is not installed: a cheap
        look at the kernelspec files, so a task fails before a model call is paid for."""
        name = str(self.setting("kernel_name"))
        if name in self._known_kernels:
            return
        require_kernelspec(name)
        self._known_kernels.add(name)

    def warm(self) -> None:
        """Start filling the pool in the background; returns at once."""
        if self._closed or int(self.setting("pool_size")) <= 0:
            return
        loop = self._ensure_loop()
        loop.call_soon_threadsafe(self._pool.top_up, os.getcwd())

    def pool_state(self) -> dict[str, Any]:
        """Counts and pids of this runner's kernels (for tests and operations checks)."""
        state: dict[str, Any] = {"kernel_name": self.setting("kernel_name"),
                                 "pool_size": self.setting("pool_size"), "closed": self._closed,
                                 "ready": 0, "starting": 0, "live": 0, "pids": []}
        loop = self._loop
        if loop is None or not loop.is_running() or threading.current_thread() is self._thread:
            return state

        async def snapshot() -> dict[str, Any]:
            return {**state, **self._pool.state()}

        with contextlib.suppress(RuntimeError, concurrent.futures.TimeoutError):
            return asyncio.run_coroutine_threadsafe(snapshot(), loop).result(timeout=5)
        return state

    def shutdown(self) -> None:
        """Stop every kernel this runner owns, and its thread. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        _RUNNERS.discard(self)
        if loop is not None and thread is not None and thread.is_alive():
            if threading.current_thread() is thread:
                loop.create_task(self._close()).add_done_callback(lambda _: loop.stop())
            else:
                future = asyncio.run_coroutine_threadsafe(self._close(), loop)
                try:
                    future.result(timeout=30)
                except Exception:
                    log.warning("semcache: kernels did not shut down cleanly", exc_info=True)
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout=5)
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)

    # -- caller side -------------------------------------------------------------------
    def _prepare(self, code: str, timeout: float | None, inputs: Mapping[str, Any] | None,
                 outputs: Sequence[str], cwd: str | None) -> tuple[RunJob, RunResult | None]:
        seconds = float(self.setting("run_timeout") if timeout is None else timeout)
        return prepare(code, timeout=seconds, inputs=inputs, outputs=outputs, cwd=cwd,
                       workdir=self._ensure_workdir(),
                       kernel_name=str(self.setting("kernel_name")), env=self._environment(),
                       memory_limit=int(self.setting("run_memory_limit")))

    def _environment(self) -> dict[str, str]:
        """What a kernel sees of ``os.environ``: no credentials unless allow-listed."""
        return kernel_environment(os.environ, self.setting("run_env_allow"))

    def _launch(self, job: RunJob) -> concurrent.futures.Future[RunResult]:
        loop = self._ensure_loop()
        job.submitted = time.monotonic()
        return asyncio.run_coroutine_threadsafe(self._execute(job), loop)

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise ExecutionError("this kernel runner has been shut down",
                                     hint="use semcache_magic.run.get_runner() for a live one")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=_serve, args=(loop,), daemon=True,
                                          name="semcache-kernels")
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def _ensure_workdir(self) -> str:
        with self._lock:
            if self._workdir is None:
                # 0700: connection files, ipc sockets and pickled values stay private.
                self._workdir = tempfile.mkdtemp(prefix="semcache-kernels-")
            return self._workdir

    def _forget(self) -> None:
        """In a forked child: the parent's kernels and thread are not ours to touch."""
        self._closed, self._loop, self._thread = True, None, None
        self._lock = threading.Lock()

    # -- runner loop -------------------------------------------------------------------
    async def _execute(self, job: RunJob) -> RunResult:
        task = asyncio.current_task()
        assert task is not None  # run_coroutine_threadsafe always wraps it in a task
        self._runs[task] = job
        task.add_done_callback(lambda done: self._runs.pop(done, None))
        name = str(self.setting("kernel_name"))
        kernel = await self._pool.acquire(name, job.cwd)
        acquired = time.monotonic()
        result = RunResult(status="ok", kernel_name=name,
                           timings={"queue_s": acquired - job.submitted, "execution_s": 0.0})
        collector = OutputCollector(int(self.setting("output_limit")), job.deliver)
        clean = False

        def retire(_: object) -> None:
            # A clean kernel may finish its own shutdown (flushing files the code left
            # open); any other is killed. Both this and the refill begin with synchronous
            # work (a shutdown request, a fork), so they run as done callbacks: after the
            # caller has its result, and also when the run is cancelled.
            self._pool.stop(kernel, graceful=clean)
            self._pool.top_up(job.cwd)

        task.add_done_callback(retire)
        job.cancelled = job.cancelled or self._closed
        clean = await perform(kernel, job, collector, result, acquired)
        collector.finish(result)
        return result

    async def _start_kernel(self, name: str, cwd: str) -> PooledKernel:
        if self._zmq is None:
            self._zmq = zmq_context()  # shared: one io thread, not one per kernel
        return await start_kernel(
            name, cwd, workdir=self._ensure_workdir(), env=self._environment(),
            context=self._zmq, limit=float(self.setting("kernel_start_timeout")))

    async def _close(self) -> None:
        # Runs in flight stop their own kernels (stopping one under a run would cancel
        # the run's pending receive, and its caller would get no result).
        for job in self._runs.values():
            job.cancelled = True
        if self._runs:
            await asyncio.wait(set(self._runs), timeout=5)
        await self._pool.close()
        if self._zmq is not None:
            self._zmq.destroy(linger=0)
            self._zmq = None


def _call_hook(hook: OutputHook | None, output: dict[str, Any]) -> None:
    if hook is None:
        return
    try:
        hook(output)
    except Exception:  # a display sink must not break the run it is showing
        log.exception("semcache: an on_output callback failed")


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        leftovers = asyncio.all_tasks(loop)
        for task in leftovers:
            task.cancel()
        if leftovers:
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        loop.close()


_RUNNERS: weakref.WeakSet[KernelRunner] = weakref.WeakSet()
_shared: KernelRunner | None = None
_shared_lock = threading.Lock()


def get_runner(config: SemCache | None = None) -> KernelRunner:
    """The process-wide runner (created on first use, shut down at interpreter exit).

    Passing ``config`` makes the shared runner read its settings from it.
    """
    global _shared
    with _shared_lock:
        if _shared is None or _shared.closed:
            _shared = KernelRunner(config)
        elif config is not None:
            _shared.config = config
        return _shared


@atexit.register
def _shutdown_all() -> None:
    for runner in list(_RUNNERS):
        runner.shutdown()


def _forget_after_fork() -> None:
    global _shared
    for runner in list(_RUNNERS):
        runner._forget()
    _RUNNERS.clear()
    _shared = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
