"""Shared by the benchmarks in this folder: the data file, truth outputs, running code.

Nothing here imports semcache_magic: the data and the judging of outputs stand apart
from the product, so a product refactor never changes what "right" means.

A data file holds one family a line::

    {"id", "seed_task", "seed_code",
     "queries": [{"kind", "task", "truth"?, "trap"?, "expect"}]}

A query's expected output is what its ``truth`` program prints (stripped stdout); a
query without ``truth`` (the dev set) expects its ``expect`` text.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import unicodedata
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DEFAULT_DATA", "KINDS", "Query", "RunResult", "expected_outputs", "is_legit",
    "load_families", "normalise_task", "run_many", "run_python", "short", "task_key",
]

DEFAULT_DATA = Path("/work/shared/bench/adversarial.jsonl")
KINDS = ("exact", "param", "paraphrase", "different", "ambiguous")
TRAILING_PUNCT = ".?!;:,"  # what the task analyser strips from the end of a task
RUN_TIMEOUT = 20.0


@dataclass
class Query:
    """One task to look up, with what it should print."""

    family: str
    index: int  # -1 for the seed
    kind: str  # "seed" for the family's seed task
    task: str
    trap: str
    truth: str | None  # the true program, if the data gives one
    expect: str  # the data's stated output
    expected: str = ""  # filled by expected_outputs(): the truth's output, else expect
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.family}[{self.index}]" if self.index >= 0 else f"{self.family}[seed]"


@dataclass
class RunResult:
    stdout: str
    ok: bool  # exit code 0 within the timeout
    error: str = ""

    @property
    def shown(self) -> str:
        return self.stdout if self.ok else f"<crash: {self.error}>"


def load_families(path: Path, limit: int | None = None) -> list[dict]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    families = [json.loads(line) for line in lines]
    return families[:limit] if limit else families


def queries_of(families: Iterable[dict], *, seeds: bool = False) -> list[Query]:
    out: list[Query] = []
    for family in families:
        if seeds:
            out.append(Query(family["id"], -1, "seed", family["seed_task"], "",
                             family["seed_code"], ""))
        for i, q in enumerate(family["queries"]):
            out.append(Query(family["id"], i, q["kind"], q["task"], q.get("trap", ""),
                             q.get("truth"), str(q.get("expect", "")).strip()))
    return out


def run_python(code: str, python: str = sys.executable,
               timeout: float = RUN_TIMEOUT) -> RunResult:
    """Run ``code`` in a fresh interpreter in an empty directory: stripped stdout."""
    with tempfile.TemporaryDirectory(prefix="semcache-bench-run-") as cwd:
        try:
            done = subprocess.run([python, "-c", code], check=False, capture_output=True,
                                  text=True, timeout=timeout, cwd=cwd)
        except subprocess.TimeoutExpired:
            return RunResult("", False, f"timeout after {timeout:g} s")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return RunResult(done.stdout.strip(), False, last)
    return RunResult(done.stdout.strip(), True)


def run_many(codes: list[str], python: str = sys.executable, workers: int = 4) -> list[RunResult]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda c: run_python(c, python), codes))


def expected_outputs(queries: list[Query], python: str = sys.executable) -> list[str]:
    """Fill ``expected`` (truth output, else expect); return warnings about the data."""
    with_truth = [q for q in queries if q.truth is not None]
    results = run_many([q.truth or "" for q in with_truth], python)
    warnings = []
    for q, result in zip(with_truth, results, strict=True):
        if not result.ok:
            warnings.append(f"{q.label}: the truth program crashed: {result.error}")
        q.expected = result.stdout
        if q.kind != "seed" and result.ok and q.expect and result.stdout != q.expect:
            warnings.append(f"{q.label}: truth prints {short(result.stdout)!r}, "
                            f"expect says {short(q.expect)!r} (judging by the truth)")
    for q in queries:
        if q.truth is None:
            q.expected = q.expect
    return warnings


def is_legit(trap: str) -> bool:
    """A query the cache may rightly serve with substituted values ('legit', 'legit case'...)."""
    return trap.startswith("legit")


def normalise_task(task: str) -> str:
    """The text the product keeps of a task: NFC, stripped (what the `<task>` section holds)."""
    return unicodedata.normalize("NFC", task).strip()


def task_key(task: str) -> str:
    """A loose key like the analyser's normalised task: case, white space, trailing punctuation.

    Looser than the analyser (it lower-cases literals too), so it is only a fallback
    after a verbatim match.
    """
    return " ".join(normalise_task(task).lower().split()).rstrip(TRAILING_PUNCT + " ")


def short(text: str | None, width: int = 70) -> str:
    flat = " ⏎ ".join((text or "").splitlines()) if text else ""
    return flat if len(flat) <= width else flat[: width - 1] + "…"
