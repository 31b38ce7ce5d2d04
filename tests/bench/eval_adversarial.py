"""What the lookup would serve without a model call, and whether it is right.

The lookup path exactly as a user drives it, through the ``semcache`` command line
on a fresh store:

1. ``semcache add --jsonl seeds.jsonl`` with every family's seed (task + code);
2. ``semcache lookup --jsonl queries.jsonl --json`` with every query;
3. every *served* result (tier exact or slot: code given without a model call) runs
   in a fresh interpreter (20 s timeout) and its stripped stdout is compared with
   what the query's ``truth`` program prints (``expect`` when there is no truth).
   A crash of served code is a wrong serving.

Prints a table per trap label and per kind (queries, served, right, wrong), every
wrong serving, and the share of ``legit*`` queries served. Exits 1 if anything was
served wrong, else 0.

    .venv/bin/python eval_adversarial.py [--data FILE.jsonl] [--store DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchdata import (
    DEFAULT_DATA,
    KINDS,
    Query,
    expected_outputs,
    is_legit,
    load_families,
    queries_of,
    run_many,
    short,
)

# The only contact with the product: its command line (it survives module moves).
SEMCACHE = Path(sys.executable).with_name("semcache")
SERVED_TIERS = ("exact", "slot")


def semcache(store: Path, *args: str) -> list[dict]:
    """Run ``semcache --store STORE ARGS --json``; one JSON value per stdout line."""
    env = dict(os.environ, LANCEDB_LOG="error")
    for name in ("SEMCACHE_STORE", "SEMCACHE_NAMESPACE", "SEMCACHE_SEARCH_NAMESPACES"):
        env.pop(name, None)  # the store and namespaces are this run's, not the caller's
    done = subprocess.run([str(SEMCACHE), "--store", str(store), *args, "--json"],
                          check=False, capture_output=True, text=True, env=env, timeout=600)
    if done.returncode not in (0, 1) or (done.returncode == 1 and not done.stdout.strip()):
        raise SystemExit(f"semcache {args[0]} failed ({done.returncode}): {done.stderr.strip()}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def table(title: str, rows: dict[str, dict[str, int]], order: list[str]) -> list[str]:
    out = [(f"{title:<44}{'queries':>8}{'served':>8}{'right':>7}{'wrong':>7}"
            f"{'exact':>7}{'slot':>6}{'sem':>5}{'miss':>6}{'err':>5}")]
    for name in order:
        r = rows[name]
        out.append(f"{(name or '(none)')[:43]:<44}{r['queries']:>8}{r['served']:>8}"
                   f"{r['right']:>7}{r['wrong']:>7}{r['exact']:>7}{r['slot']:>6}"
                   f"{r['semantic']:>5}{r['miss']:>6}{r['error']:>5}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help=f"families JSONL (default: {DEFAULT_DATA})")
    parser.add_argument("--store", type=Path,
                        help="a new, empty store directory to use and keep (default: a temp dir)")
    parser.add_argument("--families", type=int, help="only the first N families")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON summary on stdout (the report goes to stderr)")
    args = parser.parse_args(argv)
    report = sys.stderr if args.json else sys.stdout

    def say(line: str = "") -> None:
        print(line, file=report, flush=True)

    families = load_families(args.data, args.families)
    queries: list[Query] = queries_of(families)
    started = time.perf_counter()
    for warning in expected_outputs(queries):
        say(f"data warning: {warning}")
    truth_s = time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="semcache-eval-") as tmp:
        store = args.store or Path(tmp) / "store"
        if args.store and args.store.exists() and any(args.store.iterdir()):
            raise SystemExit(f"--store {args.store}: not empty; give a new directory")
        seeds = write_jsonl(Path(tmp) / "seeds.jsonl",
                            [{"task": f["seed_task"], "code": f["seed_code"]} for f in families])
        started = time.perf_counter()
        added = semcache(store, "add", "--jsonl", str(seeds))
        add_s = time.perf_counter() - started
        lookups = write_jsonl(Path(tmp) / "queries.jsonl", [{"task": q.task} for q in queries])
        started = time.perf_counter()
        results = semcache(store, "lookup", "--jsonl", str(lookups))
        lookup_s = time.perf_counter() - started
    if len(results) != len(queries):
        raise SystemExit(f"semcache lookup gave {len(results)} results for {len(queries)} tasks")

    served = [(q, r) for q, r in zip(queries, results, strict=True)
              if r.get("tier") in SERVED_TIERS and r.get("code") is not None]
    started = time.perf_counter()
    runs = run_many([r["code"] for _, r in served])
    run_s = time.perf_counter() - started
    verdict = {id(q): (run.ok and run.stdout == q.expected, run) for (q, _), run
               in zip(served, runs, strict=True)}

    by_trap: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_kind: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    wrong: list[dict] = []
    for q, r in zip(queries, results, strict=True):
        tier = r.get("tier", "error")
        for row in (by_trap[q.trap], by_kind[q.kind]):
            row["queries"] += 1
            row[tier] += 1
        if id(q) not in verdict:
            continue
        right, run = verdict[id(q)]
        for row in (by_trap[q.trap], by_kind[q.kind]):
            row["served"] += 1
            row["right" if right else "wrong"] += 1
        if not right:
            wrong.append({"query": q.label, "kind": q.kind, "trap": q.trap, "task": q.task,
                          "tier": tier, "code": r["code"], "got": run.shown,
                          "expected": q.expected, "substitutions": r.get("substitutions")})

    say(f"data: {args.data} ({len(families)} families, {len(queries)} queries); "
        f"{len([a for a in added if a.get('created')])} seeds added in {add_s:.1f} s, "
        f"lookup {lookup_s:.1f} s, truth runs {truth_s:.1f} s, served runs {run_s:.1f} s")
    say()
    traps = sorted(by_trap, key=lambda t: (not is_legit(t), -by_trap[t]["wrong"], t))
    for line in table("trap", by_trap, traps):
        say(line)
    say()
    for line in table("kind", by_kind, [k for k in KINDS if k in by_kind]
                      + sorted(set(by_kind) - set(KINDS))):
        say(line)
    total = {k: sum(r[k] for r in by_kind.values()) for k in ("queries", "served", "right",
                                                              "wrong")}
    say(f"{'total':<44}{total['queries']:>8}{total['served']:>8}{total['right']:>7}"
        f"{total['wrong']:>7}")
    legit = [by_trap[t] for t in by_trap if is_legit(t)]
    legit_n, legit_served = sum(r["queries"] for r in legit), sum(r["served"] for r in legit)
    legit_right = sum(r["right"] for r in legit)
    share = legit_served / legit_n if legit_n else 0.0
    say()
    say(f"legit* queries served without the model: {legit_served}/{legit_n} ({share:.0%}); "
        f"served right: {legit_right}")
    say()
    say(f"served wrong: {len(wrong)}")
    for w in wrong:
        say(f"- {w['query']} ({w['kind']}, trap {w['trap']!r}, tier {w['tier']}): {w['task']!r}")
        say(f"    substitutions: {w['substitutions']}")
        say(f"    served code: {short(w['code'], 110)!r}")
        say(f"    got {short(w['got'], 60)!r}  expected {short(w['expected'], 60)!r}")
    if args.json:
        print(json.dumps({"data": str(args.data), "queries": total["queries"],
                          "served": total["served"], "served_right": total["right"],
                          "served_wrong": total["wrong"], "legit_queries": legit_n,
                          "legit_served": legit_served, "legit_served_right": legit_right,
                          "by_trap": by_trap, "by_kind": by_kind, "wrong": wrong},
                         ensure_ascii=False, indent=1))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
