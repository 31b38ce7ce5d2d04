"""The warm pool: ready kernels kept for the next run, on the runner's event loop.

How a kernel starts and stops is handed in by :mod:`semcache_magic.run` (``_runner``) (the
module that owns jupyter_client); this module only decides *when*: hand out a
ready kernel or start one, refill in the background, retire kernels unused for
``kernel_idle_timeout`` or of a kernelspec no longer configured, and stop
everything on close. Not thread-safe: every call happens on the runner's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..errors import KernelStartError

__all__ = ["KernelPool", "PooledKernel"]

log = logging.getLogger(__name__)


@dataclass(eq=False)
class PooledKernel:
    """A started kernel: its manager, the client created with it, and bookkeeping."""

    manager: Any  # AsyncKernelManager
    client: Any  # AsyncKernelClient; reused because a new one costs ~200 ms
    name: str
    pid: int | None
    cwd: str  # where the kernel process started
    env: dict[str, str]  # the environment it was started with
    idle_timer: asyncio.TimerHandle | None = None
    next_check: float = 0.0  # when liveness is next polled during a run
    stopping: bool = False


StartKernel = Callable[[str, str], Awaitable[PooledKernel]]
StopKernel = Callable[[PooledKernel, bool], Awaitable[None]]


class KernelPool:
    """Ready kernels of the configured kernelspec; ``setting(name)`` reads the config."""

    def __init__(self, start: StartKernel, stop: StopKernel,
                 setting: Callable[[str], Any]) -> None:
        self._start_kernel, self._stop_kernel, self._setting = start, stop, setting
        self.live: set[PooledKernel] = set()  # every kernel process we own, until stopped
        self._ready: deque[PooledKernel] = deque()
        self._starting: set[asyncio.Future[None]] = set()
        self._stopping: set[asyncio.Future[None]] = set()
        self._changed: asyncio.Event | None = None
        self._closed = False

    def state(self) -> dict[str, Any]:
        pids = sorted(k.pid for k in self.live if k.pid is not None)
        return {"ready": len(self._ready), "starting": len(self._starting),
                "live": len(self.live), "pids": pids}

    async def start(self, name: str, cwd: str) -> PooledKernel:
        """A new kernel outside the pool (a run that cannot wait for one)."""
        kernel = await self._start_kernel(name, cwd)
        self.live.add(kernel)
        return kernel

    async def acquire(self, name: str, cwd: str) -> PooledKernel:
        """A ready kernel of ``name``: from the pool, the one being warmed, or a new one."""
        limit = float(self._setting("kernel_start_timeout"))
        deadline = time.monotonic() + limit
        while True:
            while self._ready:
                kernel = self._ready.popleft()
                if kernel.idle_timer is not None:
                    kernel.idle_timer.cancel()
                try:
                    if kernel.name == name and await kernel.manager.is_alive():
                        return kernel
                except BaseException:  # cancelled mid-check: the kernel is in no one's hands
                    self.stop(kernel, graceful=False)
                    raise
                self.stop(kernel, graceful=False)
            if not self._starting:
                return await self.start(name, cwd)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KernelStartError(f"no {name!r} kernel was ready within {limit:g} s",
                                       hint="raise SemCache.kernel_start_timeout")
            if self._changed is None:
                self._changed = asyncio.Event()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def top_up(self, cwd: str) -> None:
        """Start kernels in the background until ``pool_size`` are ready or starting."""
        if self._closed:
            return
        name = str(self._setting("kernel_name"))
        for kernel in [k for k in self._ready if k.name != name]:  # kernel_name was changed
            self._ready.remove(kernel)
            self.stop(kernel, graceful=False)
        missing = int(self._setting("pool_size")) - len(self._ready) - len(self._starting)
        for _ in range(max(0, missing)):
            self._starting.add(asyncio.ensure_future(self._fill(name, cwd)))

    def stop(self, kernel: PooledKernel, *, graceful: bool) -> None:
        """Shut ``kernel`` down in the background (once)."""
        if kernel.stopping:
            return
        kernel.stopping = True
        if kernel.idle_timer is not None:
            kernel.idle_timer.cancel()
        task = asyncio.ensure_future(self._stop(kernel, graceful))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def close(self) -> None:
        """Stop starting, kill every kernel, and wait (bounded) until they are gone."""
        self._closed = True
        for task in list(self._starting):
            task.cancel()  # a half-started kernel is killed by the start function's cleanup
        if self._starting:
            await asyncio.wait(set(self._starting), timeout=5)
        for kernel in list(self.live):
            self.stop(kernel, graceful=False)
        if self._stopping:
            await asyncio.wait(set(self._stopping), timeout=10)

    async def _fill(self, name: str, cwd: str) -> None:
        kernel: PooledKernel | None = None
        try:
            kernel = await self.start(name, cwd)
        except KernelStartError as exc:
            # Not lost: the next run starts its own kernel and raises this where it is seen.
            log.debug("semcache: could not warm a kernel: %s", exc)
        finally:
            self._starting.discard(asyncio.current_task())
        if kernel is not None:
            if self._closed or name != self._setting("kernel_name"):
                self.stop(kernel, graceful=False)
            else:
                idle = float(self._setting("kernel_idle_timeout"))
                if idle > 0:
                    loop = asyncio.get_running_loop()
                    kernel.idle_timer = loop.call_later(idle, self._reap, kernel)
                self._ready.append(kernel)
        if self._changed is not None:
            self._changed.set()  # wakes runs waiting in acquire(), kernel or not
        self._changed = asyncio.Event()

    def _reap(self, kernel: PooledKernel) -> None:
        if kernel in self._ready:
            self._ready.remove(kernel)
            self.stop(kernel, graceful=False)

    async def _stop(self, kernel: PooledKernel, graceful: bool) -> None:
        try:
            await self._stop_kernel(kernel, graceful)
        finally:
            self.live.discard(kernel)
