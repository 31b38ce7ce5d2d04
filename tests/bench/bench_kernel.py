"""Benchmark: running ``print(1)`` cold, from the warm pool, and in-process.

Run with the project's Python::

    .venv/bin/python tests/bench/bench_kernel.py [--runs N]

Prints medians (and p90) of wall time per run, seen by the caller:

- cold: a runner with ``pool_size=0``, so each run starts its own kernel;
- warm: ``pool_size=1``, waiting between runs until the pool has refilled
  (the gap a user leaves between cells), so each run takes a ready kernel;
- in-process: ``exec`` of the same code with stdout captured.

No assertions: the figures go in the issue note. Target: warm overhead over
in-process < 50 ms, and warm >= 20x faster than cold.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from semcache_magic.run import KernelRunner

CODE = "print(1)"


def _wait_ready(runner: KernelRunner, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = runner.pool_state()
        if state["ready"] >= 1 and state["live"] == state["ready"]:  # refilled, old one gone
            return
        time.sleep(0.05)
    raise RuntimeError("the pool did not refill")


def _timed(fn: Callable[[], object], runs: int, before: Callable[[], None] | None = None,
           ) -> list[float]:
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _check(runner: KernelRunner) -> Callable[[], object]:
    def once() -> object:
        result = runner.run(CODE)
        if result.stdout != "1\n":
            raise RuntimeError(f"unexpected result: {result.status} {result.stdout!r}")
        return result
    return once


def _in_process() -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(CODE, "<bench>", "exec"), {})


def _fmt(times: list[float]) -> str:
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"median {statistics.median(times) * 1000:9.2f} ms   p90 {p90 * 1000:9.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per mode (default 15)")
    args = parser.parse_args()

    cold_runner = KernelRunner(pool_size=0)
    warm_runner = KernelRunner(pool_size=1, kernel_idle_timeout=0)
    try:
        _check(cold_runner)()  # imports, page cache
        cold = _timed(_check(cold_runner), max(3, args.runs // 3))
        warm_runner.warm()
        _wait_ready(warm_runner)
        _check(warm_runner)()
        warm = _timed(_check(warm_runner), args.runs, before=lambda: _wait_ready(warm_runner))
        local = _timed(_in_process, max(args.runs, 1000))
    finally:
        cold_runner.shutdown()
        warm_runner.shutdown()

    cold_m, warm_m, local_m = (statistics.median(t) for t in (cold, warm, local))
    print(f"print(1), {args.runs} runs per mode ({len(cold)} cold)")
    print(f"  cold kernel start  {_fmt(cold)}")
    print(f"  warm pool          {_fmt(warm)}")
    print(f"  in-process exec    {_fmt(local)}")
    print(f"  cold / warm        {cold_m / warm_m:9.1f} x   (target >= 20 x)")
    print(f"  warm overhead      {(warm_m - local_m) * 1000:9.2f} ms  (target < 50 ms)")


if __name__ == "__main__":
    main()
