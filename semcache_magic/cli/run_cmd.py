"""``semcache run`` (the headless %%cached_task) and ``semcache demo`` (the quickstart)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..options import check_count, check_names, check_score, check_seconds
from . import EXIT_NEEDS_MODEL, EXIT_NEEDS_TRUST

if TYPE_CHECKING:
    from . import CliContext


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "run", parents=[common], help="run a task like %%cached_task, headless",
        description="Look the task up, adapt or generate code if needed, run it in an "
        "isolated kernel, save it on success. Progress goes to stderr, the code's output to "
        "stdout; with --json, one result object on stdout.",
    )
    p.add_argument("task", help="the task in plain language")
    p.add_argument("--in-json", metavar="FILE",
                   help="a JSON object of input variables to send into the kernel")
    p.add_argument("--out", metavar="X,Y", help="variables to fetch back (shown in --json)")
    p.add_argument("--no-model", action="store_true",
                   help="never call Claude: exit 3, running nothing, if the cache cannot serve")
    p.add_argument("--trust", action="store_true",
                   help="run served code from a namespace you have not trusted (else: shown, "
                   "exit 4)")
    p.add_argument("--dry-run", action="store_true", help="show the code; run nothing")
    p.add_argument("--refresh", action="store_true", help="skip the cache")
    p.add_argument("--no-save", action="store_true", help="do not save the result")
    p.add_argument("--timeout", type=float, help="seconds the run may take")
    p.add_argument("--threshold", type=float, help="lowest score for a semantic reference")
    p.add_argument("--kernel", help="kernelspec to run in")
    p.add_argument("--model", help="Claude model")
    p.add_argument("--max-repairs", type=int, help="repair attempts after a failed run")
    p.set_defaults(handler=cmd_run)

    p = subparsers.add_parser(
        "demo", parents=[common], help="execute the quickstart notebook headless",
        description="Run notebooks/quickstart.ipynb with nbclient against a temporary store "
        "(and the local demo model unless ANTHROPIC_API_KEY is set); print what each task "
        "did and where the executed notebook is.",
    )
    p.add_argument("--out", metavar="DIR", help="directory for the executed notebook")
    p.set_defaults(handler=cmd_demo)


def _inputs(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read --in-json {path!r}: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"--in-json {path!r} is not valid JSON") from exc
    if not isinstance(data, dict) or not all(
            isinstance(k, str) and k.isidentifier() for k in data):
        raise ConfigurationError("--in-json must hold an object of variable names to values")
    return data


def cmd_run(args: argparse.Namespace, ctx: CliContext) -> int:
    from ..outcome import TaskRequest
    from ..pipeline import Pipeline
    from ..view import TextView, print_output

    request = TaskRequest(
        task=args.task, threshold=check_score(args.threshold, "--threshold"),
        refresh=args.refresh, save=not args.no_save, dry_run=args.dry_run,
        timeout=check_seconds(args.timeout, "--timeout"), inputs=_inputs(args.in_json),
        outputs=check_names(args.out, "--out"), kernel=args.kernel, model=args.model,
        max_repairs=check_count(args.max_repairs, "--max-repairs", high=20),
        allow_model=not args.no_model, trust=args.trust, face="cli",
    )
    pipeline = Pipeline(ctx.config, cache=ctx.cache)
    view = None if ctx.json else TextView(sys.stderr, show_code=args.dry_run,
                                          model_allowed=not args.no_model)

    def on_event(event: Any) -> None:
        if event.kind == "output" and not ctx.json:
            print_output(event.data["output"], show_errors=False)  # the outcome says it
        elif view is not None:
            view(event)

    outcome = pipeline.run(request, on_event=on_event)
    if view is not None:
        view.finish(outcome)
    if ctx.json:
        data = outcome.to_json()
        if outcome.run is not None:
            data["values"] = {k: {"type": type(v).__name__, "repr": repr(v)[:2000]}
                              for k, v in outcome.run.values.items()}
        ctx.emit(data)
    elif args.dry_run and outcome.code:
        print(outcome.code, end="")
    if outcome.status in ("needs_model", "needs_trust"):
        if outcome.status == "needs_trust" and not ctx.json and outcome.code:
            print(outcome.code, end="", file=sys.stderr)  # what would run, for reading
        if ctx.json and outcome.error:  # else the text view has said it
            print(f"semcache: {outcome.error.describe()}", file=sys.stderr)
        return EXIT_NEEDS_MODEL if outcome.status == "needs_model" else EXIT_NEEDS_TRUST
    if outcome.status in ("ok", "dry_run"):
        return 0
    if ctx.json and outcome.error:
        print(f"semcache: error: {outcome.error.describe()}", file=sys.stderr)
    return 130 if outcome.status == "cancelled" else 1


def cmd_demo(args: argparse.Namespace, ctx: CliContext) -> int:
    from ..demo import run_quickstart, summarise

    print("semcache demo: executing the quickstart notebook (a miss, an exact hit, a slot "
          "hit, a semantic adaptation, inputs/outputs, stats)…", file=sys.stderr, flush=True)
    try:
        path = run_quickstart(args.out)
    except Exception as exc:  # nbclient's CellExecutionError and kernel failures
        first = str(exc).strip().splitlines()
        raise ConfigurationError(
            "the quickstart notebook failed: " + (first[-1] if first else type(exc).__name__),
            hint="the partially executed notebook is in the --out directory") from exc
    for task, _tier, said in summarise(path):
        print(f"{task[:58]:<58}  {said[:80]}")
    ctx.emit({"notebook": str(path)}, text=f"executed notebook: {path}")
    return 0
