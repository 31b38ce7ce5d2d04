"""``semcache freeze``: a copy of a notebook that runs without semcache."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from . import CliContext


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "freeze", parents=[common], help="write a copy of a notebook that runs without semcache",
        description="Replace every %%cached_task cell by the code that ran, read from the "
        "record its output keeps (no cache or model needed), and comment out semcache-only "
        "lines (%load_ext semcache_magic, %semcache, imports from semcache_magic). The copy "
        "runs in a plain Python kernel.",
    )
    p.add_argument("notebook", metavar="NOTEBOOK", help="an executed .ipynb")
    p.add_argument("-o", "--out", metavar="OUT",
                   help="where to write the copy (default: NOTEBOOK.frozen.ipynb beside it)")
    p.add_argument("--strict", action="store_true",
                   help="fail if a %%cached_task cell has no record (it was never run)")
    p.set_defaults(handler=cmd_freeze)


def cmd_freeze(args: argparse.Namespace, ctx: CliContext) -> int:
    from ..share import freeze_notebook

    try:
        target, report = freeze_notebook(args.notebook, args.out, strict=args.strict)
    except OSError as exc:
        raise ConfigurationError(f"cannot freeze {args.notebook!r}: {exc.strerror or exc}") \
            from exc
    except ValueError as exc:  # nbformat: not JSON, not a notebook
        if isinstance(exc, ConfigurationError):
            raise
        raise ConfigurationError(f"{args.notebook!r} is not a readable notebook: "
                                 f"{str(exc).splitlines()[0] if str(exc) else exc}") from exc
    if not ctx.json:
        for line in report.lines:
            print(line, file=sys.stderr)
    ctx.emit({"notebook": str(target), "frozen": report.frozen, "missing": report.missing,
              "cells": report.lines},
             text=f"frozen notebook: {target} ({report.frozen} tasks frozen"
             + (f", {report.missing} without a record)" if report.missing else ")"))
    return 0
