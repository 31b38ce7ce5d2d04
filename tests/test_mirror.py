"""The store's mirror in memory: exact vectors for the semantic tier, listings and
namespaces, all in step with the table.

Real LanceDB directories; other writers are other processes or other store objects.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from semcache_magic.cache import SnippetCache
from semcache_magic.config import SemCache
from semcache_magic.store import SnippetStore

TESTS = Path(__file__).parent
DIM = 384


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _fill(cache: SnippetCache, vectors: np.ndarray, namespace: str | None = None,
          start: int = 0) -> list[str]:
    store = cache._writable_store()
    items = []
    for i, vector in enumerate(vectors, start):
        snippet, _ = cache.prepare(f"Task number {i} about things", f"print({i})\n",
                                   namespace=namespace)
        items.append((snippet, vector))
    store.add_many(items)
    return [s.id for s, _ in items]


def _exact(store: SnippetStore, query: np.ndarray, namespaces: list[str], k: int) -> list[str]:
    """Brute force over every stored vector: what the cache must agree with."""
    table = store._table(store.SNIPPETS, create=False)
    data = table.search().select(["id", "namespace", "vector"]).limit(None).to_arrow()
    keep = [ns in namespaces for ns in data.column("namespace").to_pylist()]
    ids = [i for i, ok in zip(data.column("id").to_pylist(), keep, strict=True) if ok]
    vectors = np.array(data.column("vector").to_pylist(), dtype=np.float32)[keep]
    order = np.argsort(-(vectors @ query), kind="stable")[:k]
    return [ids[i] for i in order]


@pytest.fixture
def cache(fast_cache: SnippetCache) -> SnippetCache:
    return fast_cache


def test_candidates_are_the_exact_nearest_of_the_searched_namespaces(
    cache: SnippetCache,
) -> None:
    rng = np.random.default_rng(1)
    mine = cache.namespaces()[0]
    _fill(cache, _unit(rng, 300))
    _fill(cache, _unit(rng, 200), namespace="team", start=300)
    store = cache.store
    table = store._table(store.SNIPPETS)
    for query in _unit(rng, 5):
        assert store.mirror.nearest_ids(table, query, [mine], 10) == _exact(
            store, query, [mine], 10)
        both = [mine, "team"]
        assert store.mirror.nearest_ids(table, query, both, 10) == _exact(store, query, both, 10)
        assert store.mirror.nearest_ids(table, query, ["team"], 7) == _exact(
            store, query, ["team"], 7)
    assert store.mirror.vector_count == 500
    # The hybrid search: the exact vector neighbours plus full-text ones, each scored with
    # its stored vector.
    query = _unit(rng, 1)[0]
    found = {s.id: sim for s, sim in store.hybrid_search(lambda: query, "Task number 7",
                                                         [mine], 5)}
    assert set(_exact(store, query, [mine], 10)) <= set(found)
    table_rows = table.search().where(f"id IN ('{next(iter(found))}')").select(
        ["vector"]).to_arrow()
    stored = np.array(table_rows.column("vector").to_pylist()[0], dtype=np.float32)
    assert found[next(iter(found))] == pytest.approx(float(stored @ query), abs=1e-6)


def test_rows_written_updated_and_deleted_elsewhere_are_seen(
    cache: SnippetCache, store_uri: str
) -> None:
    rng = np.random.default_rng(2)
    mine = cache.namespaces()[0]
    ids = _fill(cache, _unit(rng, 50))
    store = cache.store
    table = store._table(store.SNIPPETS)
    probe = _unit(rng, 1)[0]
    store.mirror.nearest_ids(table, probe, [mine], 5)
    assert store.mirror.vector_count == 50

    # Another process adds rows; this one must see them on its next search.
    code = (
        "import sys, numpy as np\n"
        f"sys.path.insert(0, {str(TESTS)!r})\n"
        "from conftest import WordHashEmbedder\n"
        "from semcache_magic.cache import SnippetCache\n"
        "from semcache_magic.config import SemCache\n"
        f"cache = SnippetCache(SemCache(store={store_uri!r}), embedder=WordHashEmbedder())\n"
        "v = np.zeros(384, dtype=np.float32); v[7] = 1.0\n"
        "s, _ = cache.prepare('Written by the other process', 'print(7)\\n')\n"
        "cache._writable_store().add_many([(s, v)])\n"
        "print(s.id)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    other_id = done.stdout.strip().splitlines()[-1]
    axis = np.zeros(DIM, dtype=np.float32)
    axis[7] = 1.0
    assert store.mirror.nearest_ids(table, axis, [mine], 1) == [other_id]

    # Updates move rows (a use is counted): no duplicates, nothing lost.
    cache.record_use(ids[0], success=True)
    cache.vote(ids[1], up=True)
    assert store.mirror.nearest_ids(table, axis, [mine], 60) == _exact(store, axis, [mine], 60)
    assert store.mirror.vector_count == 51

    # A deletion through another store object (as another process would).
    other = SnippetCache(SemCache(store=store_uri), embedder=cache.embedder)
    other.delete(other_id)
    other.close()
    assert other_id not in store.mirror.nearest_ids(table, axis, [mine], 60)
    assert store.mirror.vector_count == 50

    # Compaction rewrites every row: still the same answer.
    cache.maintain()
    table = store._table(store.SNIPPETS)
    assert store.mirror.nearest_ids(table, probe, [mine], 10) == _exact(store, probe, [mine], 10)
    assert store.mirror.vector_count == 50


def test_namespaces_larger_than_the_limit_are_left_to_lancedb(store_uri: str) -> None:
    from conftest import WordHashEmbedder

    cache = SnippetCache(SemCache(store=store_uri, vector_cache_rows=40),
                         embedder=WordHashEmbedder())
    rng = np.random.default_rng(3)
    _fill(cache, _unit(rng, 60))
    store, mine = cache.store, cache.namespaces()[0]
    table = store._table(store.SNIPPETS)
    query = _unit(rng, 1)[0]
    assert store.mirror.nearest_ids(table, query, [mine], 5) is None  # not cached
    found = store.hybrid_search(query, "", [mine], 5)
    assert [s.id for s, _ in found] == _exact(store, query, [mine], 10)[:len(found)]
    cache.close()


def test_a_lookup_embeds_while_the_full_text_query_runs(cache: SnippetCache) -> None:
    import threading

    cache.save("Reverse the string 'notebook' and print it", "print('notebook'[::-1])")
    threads: list[str] = []
    embed_one = cache.embedder.embed_one

    def embed(text: str) -> Any:
        threads.extend(t.name for t in threading.enumerate())
        return embed_one(text)

    cache.embedder.embed_one = embed  # type: ignore[method-assign]
    match = cache.lookup("Print the string 'notebook' backwards", threshold=0.0)
    assert match.tier == "semantic" and match.snippet is not None
    assert any(name.startswith("semcache-store") for name in threads)


def test_listings_rank_every_row_and_follow_other_writers(
    cache: SnippetCache, store_uri: str
) -> None:
    import time

    rng = np.random.default_rng(4)
    ids = _fill(cache, _unit(rng, 30))
    time.sleep(0.01)
    newest = _fill(cache, _unit(rng, 1), start=30)[0]
    mine = cache.namespaces()[0]
    assert [s.id for s in cache.list_snippets(limit=1)] == [newest]
    listed = cache.list_snippets(limit=100)
    times = [s.updated_at for s in listed]
    assert len(listed) == 31 and times == sorted(times, reverse=True)
    assert [s.id for s in cache.list_snippets(limit=5, offset=1)] == [s.id for s in listed[1:6]]

    # Uses and votes rank every row (not a sample), and follow the counts as they change.
    for _ in range(3):
        cache.record_use(ids[17], success=True)
    cache.record_use(ids[4], success=True)
    assert [s.id for s in cache.list_snippets(limit=2, sort="uses")] == [ids[17], ids[4]]
    cache.vote(ids[9], up=True)
    cache.vote(ids[2], up=False)
    by_votes = cache.list_snippets(limit=100, sort="votes")
    assert by_votes[0].id == ids[9] and by_votes[-1].id == ids[2]

    # Namespaces: one written by another store object appears; it goes with its last row.
    other = SnippetCache(SemCache(store=store_uri, namespace="project:x"),
                         embedder=cache.embedder)
    saved = other.save("Print the project's name", "print('x')")
    assert cache.stored_namespaces() == sorted([mine, "project:x"])
    assert cache.list_snippets(namespace="project:x")[0].id == saved.snippet.id
    other.delete(saved.snippet.id)
    other.close()
    assert cache.stored_namespaces() == [mine]
    assert cache.list_snippets(namespace="project:x") == []


def test_rows_that_moved_since_the_last_look_are_read_by_id(
    cache: SnippetCache, store_uri: str
) -> None:
    from semcache_magic.store._queries import rows_of

    ids = _fill(cache, _unit(np.random.default_rng(5), 5))
    store = cache.store
    cache.list_snippets()  # the mirror now knows every row id
    other = SnippetCache(SemCache(store=store_uri), embedder=cache.embedder)
    other.record_use(ids[0], success=True)  # moves the row: its old row id is gone
    other.close()
    table = store._table(store.SNIPPETS)
    rows = rows_of(table, ids, ["id", "use_count"], store.mirror).to_pylist()
    assert sorted(r["id"] for r in rows) == sorted(ids)
    assert {r["id"]: r["use_count"] for r in rows}[ids[0]] == 1


def test_the_probe_skips_its_query_only_while_nothing_changed(
    cache: SnippetCache, store_uri: str
) -> None:
    _fill(cache, _unit(np.random.default_rng(6), 20))
    assert cache.lookup("Sort the list of prices descending").tier in ("semantic", "miss")
    store = cache.store
    table = store._table(store.SNIPPETS)
    new = cache.analyse("Print the answer 42")
    hashes = [new.task_hash(cache.namespaces()[0]), new.template_hash]
    assert store.mirror.surely_absent(table, hashes)  # in step, never seen: no query
    other = SnippetCache(SemCache(store=store_uri), embedder=cache.embedder)
    other.save("Print the answer 42", "print(42)")
    other.close()
    assert not store.mirror.surely_absent(table, hashes)  # the table moved on
    assert cache.lookup("print the answer 42").tier == "exact"


def test_a_snippet_read_lately_is_read_again_once_it_changed(
    cache: SnippetCache, store_uri: str
) -> None:
    ids = _fill(cache, _unit(np.random.default_rng(7), 3))
    store = cache.store
    cache.list_snippets()  # the mirror is reading the table
    first = store.get_many([ids[0]])[0]
    kept = store.get_many([ids[0]])[0]
    assert kept == first and kept is not first  # callers may change what they get
    other = SnippetCache(SemCache(store=store_uri), embedder=cache.embedder)
    other.record_use(ids[0], success=True)
    other.close()
    assert store.get_many([ids[0]])[0].use_count == 1
    assert [s.id for s in store.get_many([ids[1], ids[0], "0" * 16])] == [ids[1], ids[0]]


def test_one_lookup_sees_one_version_and_the_next_sees_the_write(
    cache: SnippetCache, store_uri: str
) -> None:
    """Inside steady() (a lookup) the table's version is read once: a write that lands
    meanwhile is not half-seen; the next lookup sees it."""
    _fill(cache, _unit(np.random.default_rng(8), 10))
    cache.lookup("Sort the list of prices descending")  # the mirror reads the table
    store = cache.store
    table = store._table(store.SNIPPETS)
    new = cache.analyse("Print the answer 43")
    hashes = [new.task_hash(cache.namespaces()[0]), new.template_hash]
    other = SnippetCache(SemCache(store=store_uri), embedder=cache.embedder)
    with store.mirror.steady():
        assert store.mirror.surely_absent(table, hashes)
        other.save("Print the answer 43", "print(43)")
        assert store.mirror.surely_absent(table, hashes)  # the version read at the start
    other.close()
    assert not store.mirror.surely_absent(table, hashes)
    assert cache.lookup("print the answer 43").tier == "exact"
