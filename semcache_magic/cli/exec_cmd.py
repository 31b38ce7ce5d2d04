"""``semcache exec FILE.py``: run a file in an isolated kernel and show what it printed.

The same runner ``%%cached_task`` uses, so it doubles as an operations check
("do kernels start here, with this kernelspec?")::

    semcache exec analysis.py --timeout 30
    SEMCACHE_KERNEL=py311 semcache exec check.py --json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from ..options import check_seconds
from ..view import print_output

__all__ = ["register"]

EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 130


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    sub = subparsers.add_parser(
        "exec", parents=[common], help="run a Python file in an isolated kernel",
        description="Run FILE in a fresh isolated kernel (kernelspec SemCache.kernel_name, "
        "working directory: the current one) and print its output as it arrives. "
        "Exit 0 if it ran cleanly, 1 on an error, timeout or dead kernel.",
    )
    sub.add_argument("file", metavar="FILE.py", help="the Python (IPython) source to run")
    sub.add_argument(
        "--timeout", type=float, metavar="S", default=None,
        help="seconds before the run is stopped (default: SemCache.run_timeout, "
        "$SEMCACHE_RUN_TIMEOUT)",
    )
    sub.set_defaults(handler=run_file)


def run_file(args: argparse.Namespace, ctx: Any) -> int:
    path = Path(args.file)
    try:
        code = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigurationError(f"cannot read {args.file}: {reason}",
                                 hint="pass a readable UTF-8 Python file") from exc
    timeout = check_seconds(args.timeout, "--timeout")

    from ..run import KernelRunner  # jupyter_client only when a command needs it

    # One run: a warm pool would only start a kernel nobody uses.
    runner = KernelRunner(ctx.config, pool_size=0)
    try:
        result = runner.run(code, timeout=timeout,
                            on_output=None if ctx.json else print_output)
    finally:
        runner.shutdown()
    if ctx.json:
        ctx.emit(result.to_json())
    if result.ok:
        return EXIT_OK
    print(f"semcache: {result.status}: {result.message}", file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED if result.status == "cancelled" else EXIT_ERROR
