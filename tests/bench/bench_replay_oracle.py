"""Replay the families through ``%%cached_task`` against an oracle model.

The pipeline path as a notebook user drives it: an IPython ``InteractiveShell`` with
``%load_ext semcache_magic`` on a fresh store, and a local Messages-API server whose
every answer is the *true* program of the task in the request (seed tasks: their
seed code; queries: their ``truth``; a query with no truth: a program printing its
``expect``). So a model call can only produce right code, and any wrong output served
without a model call is the cache's fault.

1. every family's seed task runs once (a miss: the oracle writes the seed code, it is saved);
2. ``--passes`` passes (default 2) run every query, in file order.

For each run: tier, whether the model was called (the server's call count), and the
printed stdout (the magic relays the kernel's outputs into the cell; ``--quiet`` keeps
only those, and IPython's ``capture_output`` catches them), compared with the truth's
output. Then every stored snippet runs on its own and is checked against the truth of
its own task: a *poisoned row* is stored code that is wrong for the task it is stored
under.

    .venv/bin/python bench_replay_oracle.py [--data FILE] [--passes N] [--families N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("LANCEDB_LOG", "error")

from benchdata import (
    DEFAULT_DATA,
    KINDS,
    Query,
    expected_outputs,
    is_legit,
    load_families,
    normalise_task,
    queries_of,
    run_many,
    short,
    task_key,
)
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

# -- the product's internals: every import of semcache_magic is here ----------------------
# (model_server is moving to semcache_magic.demo; the rest goes through the magic and CLI.)
from semcache_magic.demo import ModelServer, RecordedRequest

MAGICS_CLASS = "SemcacheMagics"  # found by name in the shell's registry, as bench_magic does
SEMCACHE = Path(sys.executable).with_name("semcache")
MAGIC_LINE = "--quiet --timeout 20"


def request_task(body: dict[str, Any]) -> str | None:
    """The ``<task>`` section of a Messages request, as the pipeline wrote it."""
    return RecordedRequest("POST", "/v1/messages", {}, body).section("task")


def request_kind(body: dict[str, Any]) -> str:
    request = RecordedRequest("POST", "/v1/messages", {}, body)
    if request.section("reference_code") is not None:
        return "adapt"
    if request.section("error") is not None:
        return "repair"
    return "generate"


def magics_of(shell: Any) -> Any:
    return next(m for m in shell.magics_manager.registry.values()
                if type(m).__name__ == MAGICS_CLASS)


def record_outcomes(shell: Any, sink: list[Any]) -> None:
    """Keep each pipeline outcome (tier, status) of the magic's runs in ``sink``."""
    pipeline = magics_of(shell).pipeline
    original: Callable[..., Any] = pipeline.run

    def run(request: Any, on_event: Any = None) -> Any:
        outcome = original(request, on_event=on_event)
        sink.append(outcome)
        return outcome

    pipeline.run = run


def close_extension(shell: Any) -> None:
    pipeline = getattr(magics_of(shell), "_pipeline", None)
    if pipeline is not None:
        pipeline.close()


def stored_snippets(store: Path) -> list[dict[str, Any]]:
    env = dict(os.environ, SEMCACHE_STORE=str(store))
    done = subprocess.run([str(SEMCACHE), "--store", str(store), "list", "--json",
                           "--all-namespaces", "--limit", "100000"],
                          capture_output=True, text=True, env=env, timeout=300, check=True)
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


# -- the oracle ---------------------------------------------------------------------------

class Oracle:
    """A ``ModelServer`` handler: the true program of the request's ``<task>``, verbatim."""

    def __init__(self, queries: list[Query]) -> None:
        self.programs: dict[str, str] = {}
        self.conflicts: list[str] = []
        for q in queries:
            program = q.truth if q.truth is not None else f"print({q.expect!r})\n"
            key = normalise_task(q.task)
            if self.programs.setdefault(key, program) != program:
                self.conflicts.append(q.task)
        self.unknown: list[str] = []
        self.kinds: dict[str, int] = defaultdict(int)

    def __call__(self, body: dict[str, Any]) -> str:
        self.kinds[request_kind(body)] += 1
        task = request_task(body)
        program = self.programs.get(normalise_task(task or ""))
        if program is None:
            self.unknown.append(task or "(no <task> section)")
            program = "raise SystemExit('oracle: no true program for this task')\n"
        return f"```python\n{program.rstrip()}\n```"


# -- one run --------------------------------------------------------------------------------

@dataclass
class Run:
    phase: str  # seed | pass1 | pass2 ...
    query: str
    kind: str
    trap: str
    task: str
    tier: str
    origin: str
    status: str
    model_calls: int  # POST /v1/messages seen by the server during this run
    stdout: str  # what the cell printed
    expected: str
    relay_differs: bool  # the cell's stdout is not the run's stdout
    error: str
    code: str
    timings: dict[str, float]  # the pipeline's seconds per stage, and the cell's wall time

    @property
    def right(self) -> bool:
        return self.status == "ok" and self.stdout == self.expected

    @property
    def served_wrong(self) -> bool:
        return self.model_calls == 0 and not self.right

    @property
    def model_wrong(self) -> bool:
        return self.model_calls > 0 and not self.right


def run_task(shell: Any, server: ModelServer, outcomes: list[Any], phase: str,
             q: Query) -> Run:
    before, seen = server.calls, len(outcomes)
    error = ""
    started = time.perf_counter()
    with capture_output(display=False) as captured:
        try:
            shell.run_cell_magic("cached_task", MAGIC_LINE, q.task)
        except BaseException as exc:  # the magic raises the task's failure
            if isinstance(exc, KeyboardInterrupt):
                raise
            error = f"{type(exc).__name__}: {exc}"
    calls = server.calls - before
    cell_s = time.perf_counter() - started
    outcome = outcomes[-1] if len(outcomes) > seen else None
    stdout = captured.stdout.strip()
    run_stdout = (outcome.run.stdout.strip() if outcome is not None and outcome.run is not None
                  else "")
    return Run(
        phase=phase, query=q.label, kind=q.kind, trap=q.trap, task=q.task,
        tier=outcome.tier if outcome is not None else "error",
        origin=outcome.origin if outcome is not None else "",
        status=outcome.status if outcome is not None else "raised",
        model_calls=calls, stdout=stdout, expected=q.expected,
        relay_differs=outcome is not None and stdout != run_stdout,
        error=error, code=(outcome.code or "") if outcome is not None else "",
        timings={**(dict(outcome.timings) if outcome is not None else {}), "cell": cell_s},
    )


# -- report -----------------------------------------------------------------------------------

def tally(runs: list[Run], key: Callable[[Run], str]) -> dict[str, dict[str, int]]:
    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in runs:
        row = rows[key(r)]
        row["tasks"] += 1
        row["no_model"] += r.model_calls == 0
        row["served_wrong"] += r.served_wrong
        row["model_called"] += r.model_calls > 0
        row["model_wrong"] += r.model_wrong
        row[r.tier] += 1
    return rows


def kind_table(rows: dict[str, dict[str, int]]) -> list[str]:
    out = [(f"  {'kind':<12}{'tasks':>6}{'no-model':>9}{'served wrong':>13}{'model':>6}"
            f"{'model wrong':>12}{'exact':>7}{'slot':>6}{'sem':>5}{'miss':>6}")]
    order = [k for k in ("seed", *KINDS) if k in rows] + sorted(set(rows) - {"seed", *KINDS})
    total: dict[str, int] = defaultdict(int)
    for name in [*order, "total"]:
        r = total if name == "total" else rows[name]
        if name != "total":
            for k, v in r.items():
                total[k] += v
        out.append(f"  {name:<12}{r['tasks']:>6}{r['no_model']:>9}{r['served_wrong']:>13}"
                   f"{r['model_called']:>6}{r['model_wrong']:>12}{r['exact']:>7}{r['slot']:>6}"
                   f"{r['semantic']:>5}{r['miss']:>6}")
    return out


def trap_table(per_pass: dict[str, dict[str, dict[str, int]]]) -> list[str]:
    phases = list(per_pass)
    head = f"{'trap':<44}{'tasks':>6}" + "".join(
        f"  {p + ' nomod/wrong/mwrong':>24}" for p in phases)
    traps = sorted({t for rows in per_pass.values() for t in rows},
                   key=lambda t: (not is_legit(t), -sum(per_pass[p][t]["served_wrong"]
                                                         for p in phases), t))
    out = [head]
    for trap in traps:
        cells = "".join(
            f"  {per_pass[p][trap]['no_model']:>14}/{per_pass[p][trap]['served_wrong']:>3}"
            f"/{per_pass[p][trap]['model_wrong']:>5}" for p in phases)
        out.append(f"{(trap or '(none)')[:43]:<44}{per_pass[phases[0]][trap]['tasks']:>6}{cells}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help=f"families JSONL (default: {DEFAULT_DATA})")
    parser.add_argument("--passes", type=int, default=2, help="passes over the queries (2)")
    parser.add_argument("--families", type=int, help="only the first N families")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON summary on stdout (the report goes to stderr)")
    args = parser.parse_args(argv)
    out = sys.stderr if args.json else sys.stdout

    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    families = load_families(args.data, args.families)
    seeds = [q for q in queries_of(families, seeds=True) if q.kind == "seed"]
    queries = queries_of(families)
    started = time.perf_counter()
    for warning in expected_outputs(seeds + queries):
        say(f"data warning: {warning}")
    say(f"data: {args.data} ({len(families)} families, {len(queries)} queries); truth outputs "
        f"in {time.perf_counter() - started:.1f} s")

    oracle = Oracle(seeds + queries)
    for task in oracle.conflicts:
        say(f"data warning: two different true programs for the task {task!r} (oracle: first)")
    server = ModelServer(handler=oracle).start()
    tmp = tempfile.TemporaryDirectory(prefix="semcache-replay-")
    store = Path(tmp.name) / "store"
    for name in ("SEMCACHE_NAMESPACE", "SEMCACHE_SEARCH_NAMESPACES", "ANTHROPIC_AUTH_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(ANTHROPIC_API_KEY="sk-ant-oracle-bench", ANTHROPIC_BASE_URL=server.url,
                      SEMCACHE_HOME=tmp.name, SEMCACHE_STORE=str(store), SEMCACHE_UI="text")
    shell = InteractiveShell.instance()
    main_module = sys.modules["__main__"]
    shell.run_line_magic("load_ext", "semcache_magic")
    sys.modules["__main__"] = main_module  # the shell's user module breaks spawn otherwise
    outcomes: list[Any] = []
    record_outcomes(shell, outcomes)

    runs: list[Run] = []
    phases = ["seed"] + [f"pass{i}" for i in range(1, args.passes + 1)]
    wall: dict[str, float] = {}
    try:
        for phase in phases:
            started = time.perf_counter()
            for q in seeds if phase == "seed" else queries:
                runs.append(run_task(shell, server, outcomes, phase, q))
            wall[phase] = time.perf_counter() - started
            say(f"{phase}: {sum(r.phase == phase for r in runs)} tasks in {wall[phase]:.0f} s")
    finally:
        close_extension(shell)
        server.stop()

    # -- stored snippets against the truth of their own task --------------------------------
    rows = stored_snippets(store)
    by_text: dict[str, list[Query]] = defaultdict(list)
    by_key: dict[str, list[Query]] = defaultdict(list)
    for q in seeds + queries:
        by_text[normalise_task(q.task)].append(q)
        by_key[task_key(q.task)].append(q)
    checks = run_many([row["code"] for row in rows])
    poisoned, unmatched, ambiguous = [], [], []
    for row, result in zip(rows, checks, strict=True):
        owners = by_text.get(normalise_task(row["task"])) or by_key.get(task_key(row["task"]))
        if not owners:
            unmatched.append(row)
            continue
        expected = {q.expected for q in owners}
        if len(expected) > 1:
            ambiguous.append(row)
        if not (result.ok and result.stdout in expected):
            poisoned.append({"id": row["id"], "source": row.get("source"), "task": row["task"],
                             "owner": owners[0].label, "code": row["code"],
                             "got": result.shown, "expected": owners[0].expected,
                             "uses": row.get("use_count"), "ok_runs": row.get("success_count")})

    # -- report --------------------------------------------------------------------------------
    per_phase_kind = {p: tally([r for r in runs if r.phase == p], lambda r: r.kind)
                      for p in phases}
    per_pass_trap = {p: tally([r for r in runs if r.phase == p], lambda r: r.trap)
                     for p in phases[1:]}
    say()
    for phase in phases:
        say(f"{phase}:")
        for line in kind_table(per_phase_kind[phase]):
            say(line)
    say()
    say("median seconds per stage (runs that had the stage):")
    for phase in phases:
        stages: dict[str, list[float]] = defaultdict(list)
        for r in runs:
            if r.phase == phase:
                for stage, seconds in r.timings.items():
                    stages[stage].append(seconds)
        say(f"  {phase:<6} " + "  ".join(f"{k} {statistics.median(v):.3f}"
                                         for k, v in stages.items()))
    say()
    say("per trap (no-model / served wrong / model-call output wrong):")
    for line in trap_table(per_pass_trap):
        say(line)

    first = [r for r in runs if r.phase == "pass1" and r.kind == "param" and is_legit(r.trap)]
    legit_served = sum(r.model_calls == 0 for r in first)
    legit_right = sum(r.model_calls == 0 and r.right for r in first)
    say()
    say(f"legit* param queries served without the model in pass1: {legit_served}/{len(first)}"
        f" ({legit_served / len(first) if first else 0:.0%}); of them right: {legit_right}")
    say(f"model requests: {server.calls} ({dict(oracle.kinds)}); oracle asked for an unknown "
        f"task: {len(oracle.unknown)}")
    for task in oracle.unknown[:10]:
        say(f"  unknown task: {task!r}")
    relay = [r for r in runs if r.relay_differs]
    say(f"runs whose cell stdout differs from the kernel run's stdout: {len(relay)}")

    served_wrong = [r for r in runs if r.served_wrong]
    model_wrong = [r for r in runs if r.model_wrong]
    say()
    say(f"served wrong (no model call, output != truth): {len(served_wrong)}")
    for r in served_wrong:
        say(f"- {r.phase} {r.query} ({r.kind}, trap {r.trap!r}, tier {r.tier}, {r.status}): "
            f"{r.task!r}")
        say(f"    code: {short(r.code, 110)!r}")
        say(f"    got {short(r.stdout or r.error, 60)!r}  expected {short(r.expected, 60)!r}")
    say()
    say(f"model-call outputs that differ from the truth (pipeline bugs with an oracle): "
        f"{len(model_wrong)}")
    for r in model_wrong:
        say(f"- {r.phase} {r.query} ({r.kind}, tier {r.tier}, origin {r.origin}, {r.status}, "
            f"{r.model_calls} calls): {r.task!r}")
        say(f"    code: {short(r.code, 110)!r}")
        say(f"    got {short(r.stdout or r.error, 80)!r}  expected {short(r.expected, 60)!r}")
    say()
    say(f"stored snippets: {len(rows)}; poisoned rows (code wrong for its own task): "
        f"{len(poisoned)}; rows matching no task: {len(unmatched)}; rows whose task has "
        f"two truths: {len(ambiguous)}")
    for p in poisoned:
        say(f"- {p['id']} source {p['source']} (uses {p['uses']}, ok runs {p['ok_runs']}) "
            f"task of {p['owner']}: {p['task']!r}")
        say(f"    code: {short(p['code'], 110)!r}")
        say(f"    got {short(p['got'], 60)!r}  expected {short(p['expected'], 60)!r}")
    for row in unmatched:
        say(f"  unmatched row {row['id']}: {row['task']!r}")

    if args.json:
        print(json.dumps({
            "data": str(args.data), "families": len(families), "passes": args.passes,
            "wall_s": wall, "by_phase_kind": per_phase_kind, "by_pass_trap": per_pass_trap,
            "legit_param_pass1": {"queries": len(first), "served": legit_served,
                                  "served_right": legit_right},
            "model_requests": server.calls, "oracle_unknown": oracle.unknown,
            "served_wrong": [asdict(r) for r in served_wrong],
            "model_wrong": [asdict(r) for r in model_wrong],
            "stored": len(rows), "poisoned": poisoned,
            "unmatched": [r["id"] for r in unmatched],
        }, ensure_ascii=False, indent=1))
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
