"""`semcache import` on a folder of real notebooks, and whether what it imports runs.

Imports the folder into a fresh store (real embedding model) in one call and prints:
files, code cells, snippets imported, cells and files skipped by reason, seconds, peak
memory, the share of snippets with no free names, the share of tasks that are duplicates.
Then every snippet with no free names is exported as a script (context + code) and run in
plain Python in an empty folder; failures are sorted into missing package (named),
missing file, network (there is no internet here: URLs fail) and other -- the last are
bugs to look at, and are listed.

    python tests/bench/bench_import.py [FOLDER] [--jobs N] [--no-run] [--extra-path DIR]

``--extra-path`` adds a folder of packages the notebooks import but the project does not
need (``pip install --target DIR seaborn``) to the scripts' path only.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("LANCEDB_LOG", "error")

BENCH = Path("/work/shared/bench/notebooks")
# Fail fast instead of hanging on a URL: there is no network here.
RUNNER = ("import runpy, socket, sys; socket.setdefaulttimeout(5); "
          "runpy.run_path(sys.argv[1], run_name='__main__')")
_OUTCOMES = [
    ("missing package", re.compile(r"ModuleNotFoundError|No module named")),
    ("network", re.compile(r"timed out|URLError|HTTPError|urlopen error|ConnectionError|gaierror|"
                           r"Name or service not known|Temporary failure in name resolution|"
                           r"NameResolutionError|Max retries exceeded|Network is unreachable|"
                           r"RemoteDataError|getaddrinfo")),
    ("missing file", re.compile(r"FileNotFoundError|No such file or directory")),
]


def percent(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f}%)" if whole else "0/0"


def run_script(path: Path, extra: str | None, timeout: float) -> tuple[str, str]:
    """(outcome, last line of stderr) of running one exported script alone."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    if extra:
        env["PYTHONPATH"] = extra
    with tempfile.TemporaryDirectory() as folder:
        try:
            done = subprocess.run([sys.executable, "-c", RUNNER, str(path)], cwd=folder,
                                  capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return "timeout", f"over {timeout:.0f} s"
    if done.returncode == 0:
        return "ok", ""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else f"exit {done.returncode}"
    for outcome, pattern in _OUTCOMES:
        if pattern.search(done.stderr):
            if outcome == "missing package":
                named = re.search(r"No module named '([\w.]+)'", done.stderr)
                outcome += f" ({named.group(1).split('.')[0]})" if named else ""
            return outcome, last
    return "other", last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=BENCH)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--no-run", dest="execute", action="store_false")
    parser.add_argument("--extra-path", help="packages for the scripts only (pip --target)")
    args = parser.parse_args(argv)

    from semcache_magic.cache import SnippetCache, get_embedder
    from semcache_magic.config import SemCache
    from semcache_magic.share import export_snippets, import_files

    with tempfile.TemporaryDirectory() as home:
        cache = SnippetCache(SemCache(store=str(Path(home) / "store")))
        embedder = get_embedder("")
        embedder.embed_one("load the model before the clock starts")
        cache._embedder = embedder
        stages: dict[str, float] = {}

        def progress(stage: str, done: int, total: int) -> None:
            stages.setdefault(stage, time.perf_counter())

        start = time.perf_counter()
        report = import_files(cache, [args.folder], progress=progress)
        seconds = time.perf_counter() - start
        saving = time.perf_counter() - stages.get("saving", time.perf_counter())
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        harvest, items = report.harvest, report.items
        print(f"files: {len(harvest.files) + len(harvest.skipped_files)} "
              f"(read {len(harvest.files)}, skipped {len(harvest.skipped_files)})")
        print(f"code cells: {harvest.code_cells}  imported: {report.count('new')}")
        reasons = collections.Counter(re.sub(r" of .*| \(.*", "", s.reason)
                                      for s in report.skipped if s.cell is not None)
        for reason, count in reasons.most_common():
            print(f"  skipped  {count:5d}  {reason}")
        for skip in harvest.skipped_files:
            print(f"  skipped file  {skip.path}: {skip.reason}")
        print(f"import: {seconds:.2f} s, of which reading and slicing "
              f"{seconds - saving:.2f} s, embedding and storing {saving:.2f} s (model loaded "
              f"before); peak memory {peak_mb:.0f} MB")
        alone = [i.snippet for i in items if not i.snippet.free_names]
        print(f"no free names after slicing: {percent(len(alone), len(items))}")
        free = collections.Counter(n for i in items for n in i.snippet.free_names)
        if free:
            print("  most common free names:",
                  ", ".join(f"{n} x{k}" for n, k in free.most_common(8)))
        tasks = collections.Counter(i.snippet.task.casefold() for i in items)
        print(f"duplicate tasks: {percent(sum(k - 1 for k in tasks.values()), len(items))}")
        if not args.execute or not alone:
            return 0
        paths = export_snippets(cache, Path(home) / "scripts", ids=[s.id for s in alone])
        print(f"running {len(paths)} exported snippets with no free names (20 s each)...")
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            outcomes = list(pool.map(lambda p: run_script(p, args.extra_path, 20.0), paths))
        counts = collections.Counter(outcome for outcome, _ in outcomes)
        print(f"  run in plain Python: {percent(counts.get('ok', 0), len(paths))}")
        for outcome, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"    {outcome:40} {count}")
        for path, (outcome, last) in zip(paths, outcomes, strict=True):
            if outcome in ("other", "timeout"):
                print(f"  - {path.name} ({outcome}): {last[:140]}")
        cache.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
