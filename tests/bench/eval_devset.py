"""Run the development set through the cache and report what it would serve.

For each family: save the seed snippet; look every query up. A query is
*served* when the exact or slot tier answers without the model; a served
program is *right* when running it prints the query's ``expect``. Without a
model in the loop, parameter changes of seeds that declare nothing are only
*proposals* (counted, and checked, but not served). Recall@1 is whether the seed
is the top candidate for a paraphrase.

    python tests/bench/eval_devset.py [TASKS.jsonl]

Default input: ../shared/bench/tasks.jsonl beside the project, else the copy
in tests/data/. Prints a table and the requirement checks; exits 1 if one fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("LANCEDB_LOG", "error")

HERE = Path(__file__).resolve().parent
CANDIDATES = [HERE.parents[2] / "shared" / "bench" / "tasks.jsonl",
              HERE.parent / "data" / "tasks.jsonl"]


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    return done.stdout.strip() if done.returncode == 0 else "<error>"


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else next(p for p in CANDIDATES if p.exists())
    families = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    from semcache_magic.cache import SnippetCache
    from semcache_magic.config import SemCache

    with tempfile.TemporaryDirectory() as tmp:
        cache = SnippetCache(SemCache(store=str(Path(tmp) / "store")))
        started = time.perf_counter()
        cache.save_many([{"task": f["seed_task"], "code": f["seed_code"]} for f in families])
        seed_s = time.perf_counter() - started
        rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        wrong: list[str] = []
        for family in families:
            for query in family["queries"]:
                kind = query["kind"]
                match = cache.lookup(query["task"])
                row = rows[kind]
                row["queries"] += 1
                row[f"tier_{match.tier}"] += 1
                if match.snippet is not None and match.snippet.task == family["seed_task"]:
                    row["seed_top1"] += 1
                if match.served:
                    row["served"] += 1
                    if run_python(match.code or "") == query["expect"]:
                        row["served_right"] += 1
                    else:
                        row["served_wrong"] += 1
                        wrong.append(f"{kind}: {query['task']!r} ({match.tier})")
                elif match.proposal is not None:
                    # Not served: the model confirms or corrects it. Is the proposal right?
                    row["proposals"] += 1
                    row["proposals_right"] += run_python(match.proposal) == query["expect"]
        cache.close()

    print(f"development set: {path} ({len(families)} families, seeded in {seed_s:.1f} s)")
    header = f"{'kind':<11}{'queries':>8}{'served':>8}{'right':>7}{'wrong':>7}" \
             f"{'exact':>7}{'slot':>6}{'semantic':>10}{'miss':>6}{'recall@1':>10}"
    print(header)
    for kind in ("exact", "param", "paraphrase", "different", "ambiguous"):
        r = rows.get(kind)
        if not r:
            continue
        recall = r["seed_top1"] / r["queries"]
        print(f"{kind:<11}{r['queries']:>8}{r['served']:>8}{r['served_right']:>7}"
              f"{r['served_wrong']:>7}{r['tier_exact']:>7}{r['tier_slot']:>6}"
              f"{r['tier_semantic']:>10}{r['tier_miss']:>6}{recall:>10.2f}")
    checks = {
        "every exact query served and right": rows["exact"]["served_right"]
        == rows["exact"]["queries"],
        "0 served wrong in any kind": not wrong,
        "paraphrase recall@1 >= 0.9": rows["paraphrase"]["seed_top1"]
        >= 0.9 * rows["paraphrase"]["queries"],
    }
    print(f"param queries served by the slot tier: {rows['param']['tier_slot']} of "
          f"{rows['param']['queries']} (the seeds declare no parameters and no model is in "
          f"the loop); proposed to the model: {rows['param']['proposals']}, of which "
          f"{rows['param']['proposals_right']} would print the right answer")
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    for line in wrong:
        print(f"  served wrong: {line}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
