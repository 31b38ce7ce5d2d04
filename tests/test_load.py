"""Load: two writer processes and a reader on one local store at once."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest
from conftest import WordHashEmbedder

from semcache_magic.cache import SnippetCache
from semcache_magic.config import SemCache

pytestmark = pytest.mark.slow

SAVES = 500


def _writer(store: str, name: str, count: int, result: multiprocessing.Queue) -> None:
    cache = SnippetCache(SemCache(store=store, optimize_every=200), embedder=WordHashEmbedder())
    errors = 0
    for i in range(count):
        try:
            cache.save(f"{name} computes table {i} of the report", f"print('{name}', {i})\n")
        except Exception as exc:  # counted, and reported by the test
            errors += 1
            result.put(("error", f"{name} {i}: {type(exc).__name__}: {exc}"))
    result.put(("done", name, errors))


def _reader(store: str, stop_after: float, result: multiprocessing.Queue) -> None:
    cache = SnippetCache(SemCache(store=store), embedder=WordHashEmbedder())
    lookups = failures = hits = 0
    deadline = time.monotonic() + stop_after
    while time.monotonic() < deadline:
        try:
            match = cache.lookup("seed task for the reader")
            hits += match.tier == "exact"
            cache.search("computes table report", limit=5)
            lookups += 1
        except Exception as exc:
            failures += 1
            result.put(("error", f"reader: {type(exc).__name__}: {exc}"))
    result.put(("reader", lookups, failures, hits))


def test_two_writers_and_a_reader_lose_duplicate_and_corrupt_nothing(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    seed = SnippetCache(SemCache(store=store), embedder=WordHashEmbedder())
    seed.save("Seed task for the reader", "print('seed')\n")
    ctx = multiprocessing.get_context("spawn")  # LanceDB does not survive fork
    results: multiprocessing.Queue = ctx.Queue()
    writers = [ctx.Process(target=_writer, args=(store, name, SAVES, results))
               for name in ("alpha", "beta")]
    reader = ctx.Process(target=_reader, args=(store, 20.0, results))
    for process in (*writers, reader):
        process.start()
    messages = []
    for process in (*writers, reader):
        process.join(600)
        assert process.exitcode == 0
    while not results.empty():
        messages.append(results.get())
    errors = [m[1] for m in messages if m[0] == "error"]
    assert errors == []
    (_, lookups, failures, hits), = [m for m in messages if m[0] == "reader"]
    assert lookups > 10 and failures == 0 and hits == lookups  # reads kept working

    cache = SnippetCache(SemCache(store=store), embedder=WordHashEmbedder())
    rows = cache.store._table("snippets").to_arrow().to_pylist()
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)) == 1 + 2 * SAVES  # nothing lost, nothing duplicated
    for row in rows:  # nothing corrupt: every row reads back whole and consistent
        if row["task"].startswith(("alpha", "beta")):
            name, _, _, i = row["task"].split()[:4]
            assert row["code"] == f"print('{name}', {i})\n"
        assert len(row["vector"]) == 384 and row["task_hash"] and row["template_hash"]
    assert cache.lookup("beta computes table 499 of the report").tier == "exact"
