"""Fixtures for isolated kernels: one shared runner, and process-table checks.

Kernels are real (ipykernel processes); nothing of ours is mocked. Starting a
kernel costs ~0.5 s of CPU, so tests share the session ``kernel_runner``
(pool_size 1) unless they test the runner's own life cycle.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported in the fixture: collecting other tests needs no jupyter_client
    from semcache_magic.run import KernelRunner

__all__ = ["kernel_processes", "pid_alive", "settled", "wait_until"]


def kernel_processes(parent: int | None = None) -> dict[int, str]:
    """Live ipykernel processes (pid -> command line), only ``parent``'s children if given.

    Reads /proc, so zombies (exited, not yet reaped) do not count as running.
    """
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        # stat is "pid (comm) state ppid ...": comm may hold spaces, so split after ")".
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if "ipykernel" not in cmdline or state in ("Z", "X"):
            continue
        if parent is None or int(ppid) == parent:
            found[int(entry.name)] = cmdline.strip()
    return found


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie is not running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll ``predicate`` until true or ``timeout`` s pass (generous: for liveness only)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def settled(runner: KernelRunner) -> bool:
    """The pool is full and nothing else runs: no kernel starting or stopping."""
    state = runner.pool_state()
    return state["ready"] >= int(runner.setting("pool_size")) and state["live"] == state["ready"]


@pytest.fixture(scope="session")
def kernel_runner() -> Iterator[KernelRunner]:
    """One warm runner for the session; on teardown its kernels must all be gone."""
    from semcache_magic.config import SemCache
    from semcache_magic.run import KernelRunner

    runner = KernelRunner(SemCache(), pool_size=1, run_timeout=60.0, kernel_idle_timeout=0)
    runner.warm()
    try:
        yield runner
    finally:
        owned = set(runner.pool_state()["pids"])
        runner.shutdown()
        leftover = [pid for pid in owned if pid_alive(pid)]
        assert not leftover, f"kernel processes left running after shutdown: {leftover}"


@pytest.fixture
def warm_runner(kernel_runner: KernelRunner) -> KernelRunner:
    """The session runner, with its pool refilled (so timings exclude a kernel start)."""
    kernel_runner.warm()
    assert wait_until(lambda: settled(kernel_runner)), kernel_runner.pool_state()
    return kernel_runner


@pytest.fixture
def no_new_kernels(kernel_runner: KernelRunner) -> Iterator[Callable[[], dict[int, str]]]:
    """Yields a function listing kernel children started since the test began.

    Waits first for the session runner's pool to settle, so its refills do not count.
    """
    kernel_runner.warm()
    assert wait_until(lambda: settled(kernel_runner)), kernel_runner.pool_state()
    before = set(kernel_processes(parent=os.getpid()))

    def new() -> dict[int, str]:
        return {pid: cmd for pid, cmd in kernel_processes(parent=os.getpid()).items()
                if pid not in before}

    yield new
