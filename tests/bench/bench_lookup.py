"""Lookup latency at 10k and 100k synthetic snippets.

Builds a store of synthetic snippets (varied task texts; random unit vectors so
building 100k rows does not take minutes of embedding), builds its indexes, then
times, through the public SnippetCache API with the real embedding model:

* exact lookups (a stored task, re-typed): the exact tier, no embedding;
* semantic lookups (unseen wording): embedding + hybrid search + ranking;
* the parts of a semantic lookup (embedding, exact/slot probe, hybrid search, and inside
  it the in-memory vector search);
* browsing: the newest 50 snippets (``list_snippets``, the sidebar's default view and
  ``semcache list``) and the namespaces that hold snippets.

The embedder's cache of recent tasks is off, so every lookup embeds. The first call of
each kind is made before timing (the store's in-memory mirror loads then); a write between
calls costs the mirror an incremental read, reported separately.

    python tests/bench/bench_lookup.py [--sizes 10000,100000] [--queries 200]

Targets (not assertions): exact < 5 ms and semantic < 20 ms median at 100k; newest-50 and
namespaces < 50 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LANCEDB_LOG", "error")

import numpy as np

VERBS = ["Print", "Compute", "Plot", "Count", "Sort", "Filter", "Group", "Merge", "Load",
         "Summarise", "Normalise", "Reverse", "Sample", "Rank", "Deduplicate", "Export"]
NOUNS = ["sales", "customers", "orders", "rainfall", "prices", "tickets", "sensors", "genes",
         "flights", "invoices", "users", "clicks", "reviews", "trades", "visits", "loans"]
WAYS = ["by month", "per region", "as a bar chart", "with a rolling mean", "as a histogram",
        "by category", "descending", "as a table", "for the top rows", "with outliers removed",
        "as percentages", "with a log scale", "by weekday", "per customer", "as JSON", "by year"]


def synthetic_task(i: int, rng: random.Random) -> str:
    return (f"{rng.choice(VERBS)} the {rng.choice(NOUNS)} {rng.choice(WAYS)} "
            f"using column c{i % 997} and limit {i}")


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def p90_ms(samples: list[float]) -> float:
    return sorted(samples)[int(0.9 * (len(samples) - 1))] * 1000


def build(cache, size: int, rng: random.Random) -> tuple[float, list[str]]:  # type: ignore[no-untyped-def]
    store = cache._writable_store()
    tasks = []
    np_rng = np.random.default_rng(size)
    started = time.perf_counter()
    batch = []
    for i in range(size):
        task = synthetic_task(i, rng)
        tasks.append(task)
        snippet, _ = cache.prepare(task, f"print({i})\n", source="manual", namespace=None,
                                    input_schema=None, parent_id="", model="", kernel="",
                                    tags=(), language="python")
        vector = np_rng.normal(size=store.dim or 384).astype(np.float32)
        batch.append((snippet, vector / np.linalg.norm(vector)))
        if len(batch) == 10_000:
            store.add_many(batch)
            batch = []
    if batch:
        store.add_many(batch)
    load_s = time.perf_counter() - started
    print(f"  loaded {size:,} rows in {load_s:.1f} s")
    return load_s, tasks


def time_calls(fn, items, warmup: int = 5) -> list[float]:  # type: ignore[no-untyped-def]
    for item in items[:warmup]:
        fn(item)
    samples = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        samples.append(time.perf_counter() - started)
    return samples


def measure(size: int, queries: int, rng: random.Random) -> dict[str, float]:
    from semcache_magic.cache import Embedder, SnippetCache
    from semcache_magic.config import SemCache

    print(f"== {size:,} snippets")
    with tempfile.TemporaryDirectory() as tmp:
        cache = SnippetCache(SemCache(store=str(Path(tmp) / "store"), optimize_every=0),
                             embedder=Embedder(query_cache_size=0))
        cache.embedder.embed_one("warm up")
        _, tasks = build(cache, size, rng)
        started = time.perf_counter()
        report = cache.maintain()
        index_s = time.perf_counter() - started
        print(f"  indexes and compaction: {index_s:.1f} s ({report})")
        # Variations the exact key folds: the sentence-start capital, spacing, a final full
        # stop (lowercasing all of it would not be: "JSON" and "json" may differ in meaning).
        exact_queries = [f"{t[0].lower()}{t[1:]}  ." for t in rng.sample(tasks, queries)]
        semantic_queries = [
            f"Show me {rng.choice(NOUNS)} {rng.choice(WAYS)} for analysis number {i}"
            for i in range(queries)]
        exact = time_calls(cache.lookup, exact_queries)
        tiers = {cache.lookup(q).tier for q in exact_queries[:20]}
        assert tiers == {"exact"}, tiers
        semantic = time_calls(cache.lookup, semantic_queries)
        analyses = [cache.analyse(q) for q in semantic_queries]
        namespaces = cache.namespaces()
        vectors = {a.task: cache.embedder.embed_one(a.task) for a in analyses}
        store, embedder = cache.store, cache.embedder
        table = store._table(store.SNIPPETS)
        parts = {
            "embed": time_calls(lambda a: embedder.embed_one(a.task), analyses),
            "exact+slot probe": time_calls(
                lambda a: store.by_task_or_template([a.task_hash(namespaces[0])],
                                                    a.template_hash, namespaces), analyses),
            "hybrid search": time_calls(
                lambda a: store.hybrid_search(vectors[a.task], a.task, namespaces, 5), analyses),
            "  vector, in memory": time_calls(
                lambda a: store.mirror.nearest_ids(table, vectors[a.task], namespaces, 10),
                analyses),
        }
        newest = time_calls(lambda _: cache.list_snippets(limit=50), list(range(30)))
        spaces = time_calls(lambda _: cache.stored_namespaces(), list(range(30)))
        # A write moves the table's version: the next read catches up incrementally.
        seen = tasks[:30]
        catch_up = []
        for task in seen:
            cache.record_use(cache.lookup(task).snippet.id, success=True)  # type: ignore[union-attr]
            started = time.perf_counter()
            cache.list_snippets(limit=50)
            catch_up.append(time.perf_counter() - started)
        row = {"size": size, "index_s": index_s, "exact": median_ms(exact),
               "exact_p90": p90_ms(exact), "semantic": median_ms(semantic),
               "semantic_p90": p90_ms(semantic), "newest": median_ms(newest),
               "namespaces": median_ms(spaces), "catch_up": median_ms(catch_up)}
        print(f"  exact lookup    median {row['exact']:.2f} ms  p90 {row['exact_p90']:.2f} ms")
        print(f"  semantic lookup median {row['semantic']:.2f} ms  "
              f"p90 {row['semantic_p90']:.2f} ms")
        for name, samples in parts.items():
            print(f"    {name:<19} median {median_ms(samples):.2f} ms")
        print(f"  newest 50       median {row['newest']:.2f} ms  (after a write: "
              f"{row['catch_up']:.2f} ms)")
        print(f"  namespaces      median {row['namespaces']:.2f} ms")
        cache.close()
    return row


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(7)
    results = [measure(size, args.queries, rng)
               for size in [int(s) for s in args.sizes.split(",")]]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nsize      index build   exact median   semantic median/p90     newest-50   "
          f"namespaces   (load average {load} on {os.cpu_count()} CPUs)")
    for row in results:
        print(f"{row['size']:<9} {row['index_s']:>8.1f} s   {row['exact']:>9.2f} ms   "
              f"{row['semantic']:>8.2f} / {row['semantic_p90']:>6.2f} ms   "
              f"{row['newest']:>7.2f} ms   {row['namespaces']:>7.2f} ms")
    print("targets at 100k: exact < 5 ms, semantic < 20 ms, newest-50 and namespaces < 50 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
