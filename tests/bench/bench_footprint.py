"""What semcache costs the user's kernel: memory, and the wait of a first task.

Each scenario runs in a fresh IPython process (``InteractiveShell``, text view) on one
seeded store, with the model answered by the local Messages-API server (in this process,
so its memory is not counted):

* ``at-once``: ``%load_ext``, then at once an exact task, a slot task and a semantic task.
  Prints the process's RSS before ``%load_ext``, after it and after each task (the added
  memory is the cost to the user's kernel), and each task's wall time;
* ``pause``: ``%load_ext``, 5 s of a person's pause, then an exact and a slot task;
* ``pause-semantic``: ``%load_ext``, 5 s, then a semantic task (a model call).

Every task's tier is checked from the run log, and the lines the text view printed while
a task waited are shown. The seed declares its parameters (``# parameters`` block), so
"Print the factorial of 9" is a slot hit for the seed "Print the factorial of 6".

    python tests/bench/bench_footprint.py [--pause 5] [--repeats 1]

Targets (not assertions): added memory < 300 MB; first exact task at once < 3 s; after the
pause < 0.3 s; first semantic task after the pause < 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("LANCEDB_LOG", "error")

SEED_TASK = "Print the factorial of 6"
SEED_CODE = "# parameters\nn = 6\nimport math\nprint(math.factorial(n))\n"
TASKS = {
    "exact": "Print the factorial of 6",
    "slot": "Print the factorial of 9",
    "semantic": "Show me the factorial of 7 computed with math",
}
SCENARIOS = {
    "at-once": (0.0, ["exact", "slot", "semantic"]),
    "pause": (None, ["exact", "slot"]),
    "pause-semantic": (None, ["semantic"]),
}

# Runs in the fresh process. Prints one JSON line last.
DRIVER = r"""
import io, json, os, sys, time, contextlib

def rss_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
pause, kinds, tasks = float(sys.argv[1]), sys.argv[2].split(","), json.loads(sys.argv[3])
report = {"rss": {"before": rss_mb()}, "seconds": {}, "lines": {}}
started = time.perf_counter()
ip.run_line_magic("load_ext", "semcache_magic")
report["seconds"]["load_ext"] = time.perf_counter() - started
report["rss"]["after load_ext"] = rss_mb()
time.sleep(pause)
for kind in kinds:
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        ip.run_cell("%%cached_task\n" + tasks[kind])
    report["seconds"][kind] = time.perf_counter() - started
    report["rss"]["after " + kind] = rss_mb()
    report["lines"][kind] = [l for l in out.getvalue().splitlines() if l.startswith("semcache:")]
magics = next(m for m in ip.magics_manager.registry.values()
              if type(m).__name__ == "SemcacheMagics")
runs = sorted(magics.pipeline.cache.store.runs(), key=lambda r: r["at"])
report["tiers"] = [r["tier"] for r in runs]
pid = magics.pipeline.cache.embedder.service_pid
report["service_rss"] = 0.0
if pid:
    with open(f"/proc/{pid}/status") as fh:
        report["service_rss"] = next(int(l.split()[1]) / 1024 for l in fh if l.startswith("VmRSS:"))
report["modules"] = sorted(m for m in ("torch", "sentence_transformers", "onnxruntime",
                                       "lancedb", "anthropic") if m in sys.modules)
print(json.dumps(report))
"""


def run_scenario(name: str, pause: float, seeded: Path, export: Path,
                 env: dict[str, str]) -> dict[str, object]:
    wait, kinds = SCENARIOS[name]
    # Each run on a fresh copy of the seeded store (a run saves what it ran), and with the
    # ONNX export linked into a fresh directory: its embedding service is not running yet,
    # as on a first %load_ext of the day (the export itself is made once, long before).
    run_dir = Path(tempfile.mkdtemp(prefix="semcache-footprint-run-"))
    store = run_dir / "store"
    shutil.copytree(seeded, store)
    onnx = run_dir / "onnx"
    (onnx / export.name).mkdir(parents=True)
    for path in export.iterdir():
        (onnx / export.name / path.name).symlink_to(path)
    if (export.parent / ".checksums").is_dir():
        shutil.copytree(export.parent / ".checksums", onnx / ".checksums")
    env = {**env, "SEMCACHE_HOME": str(store), "SEMCACHE_ONNX_DIR": str(onnx)}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(pause if wait is None else wait), ",".join(kinds),
         json.dumps(TASKS)],
        env=env, capture_output=True, text=True, timeout=600, check=False)
    shutil.rmtree(run_dir, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    tiers = report["tiers"]
    assert tiers == kinds, f"{name}: tiers {tiers} != {kinds}"
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pause", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each scenario")
    args = parser.parse_args()

    from semcache_magic.cache import SnippetCache
    from semcache_magic.config import SemCache
    from semcache_magic.demo import ModelServer

    home = tempfile.mkdtemp(prefix="semcache-footprint-")
    from semcache_magic.cache._onnx_cache import cache_root

    cache = SnippetCache(SemCache(store=str(Path(home) / "store")).apply_env())
    cache.save(SEED_TASK, SEED_CODE)
    backend = cache.embedder.backend
    root = cache_root(cache.config.onnx_dir or None)
    export = max((p for p in root.iterdir() if p.name.startswith("all-MiniLM-L6-v2-")
                  and (p / "manifest.json").is_file()), key=lambda p: p.stat().st_mtime)
    cache.close()
    server = ModelServer().start()
    env = {**os.environ, "SEMCACHE_UI": "text", "SEMCACHE_EMBEDDING_SERVICE_IDLE": "5",
           "ANTHROPIC_API_KEY": "sk-ant-bench", "ANTHROPIC_BASE_URL": server.url}
    print(f"embedding backend: {backend}; load average before: "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    results: dict[str, list[dict[str, object]]] = {}
    for _ in range(args.repeats):
        for name in SCENARIOS:
            report = run_scenario(name, args.pause, Path(home) / "store", export, env)
            results.setdefault(name, []).append(report)
    server.stop()

    def med(name: str, section: str, key: str) -> float:
        return statistics.median(float(r[section][key]) for r in results[name])  # type: ignore[index]

    first = results["at-once"][0]
    print(f"\nat once ({args.repeats} run(s), medians):")
    print(f"  %load_ext             {med('at-once', 'seconds', 'load_ext') * 1000:7.0f} ms")
    for kind in SCENARIOS["at-once"][1]:
        print(f"  first {kind:<9} task  {med('at-once', 'seconds', kind):7.2f} s")
    print("  RSS (MB):  " + ", ".join(f"{k} {med('at-once', 'rss', k):.0f}"
                                     for k in first["rss"]))  # type: ignore[attr-defined]
    added = med("at-once", "rss", "after semantic") - med("at-once", "rss", "before")
    print(f"  added memory after all three tiers: {added:.0f} MB (target < 300 MB); "
          f"heavy modules loaded: {first['modules']}")
    print(f"  the embedding service process (one per user, shared by every kernel): "
          f"{statistics.median(float(r['service_rss']) for r in results['at-once']):.0f} MB")
    print(f"after a {args.pause:.0f} s pause:")
    for kind in SCENARIOS["pause"][1]:
        print(f"  first {kind:<9} task  {med('pause', 'seconds', kind) * 1000:7.0f} ms")
    print(f"  first semantic task  {med('pause-semantic', 'seconds', 'semantic') * 1000:7.0f} ms")
    print("what the text view said during the first tasks (at once):")
    for kind, lines in first["lines"].items():  # type: ignore[attr-defined]
        for line in lines:
            print(f"  [{kind}] {line}")
    print(f"\nHEADLINE added {added:.0f} MB (< 300) | exact at once "
          f"{med('at-once', 'seconds', 'exact'):.2f} s (< 3) | exact after pause "
          f"{med('pause', 'seconds', 'exact'):.2f} s (< 0.3) | semantic after pause "
          f"{med('pause-semantic', 'seconds', 'semantic'):.2f} s (< 1.5) | load average "
          f"{os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
