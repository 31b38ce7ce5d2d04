"""The LanceDB snippet store, on real LanceDB directories (fast word-hash embeddings)."""

from __future__ import annotations

import multiprocessing

import pytest
from conftest import WordHashEmbedder, read_only

from semcache_magic.cache import SnippetCache
from semcache_magic.config import SemCache
from semcache_magic.errors import (
    ConfigurationError,
    SnippetNotFoundError,
    StoreSchemaError,
    StoreUnavailableError,
)
from semcache_magic.outcome import TaskOutcome, TaskRequest, TaskStatus
from semcache_magic.snippet import Match


def test_save_then_exact_lookup(fast_cache: SnippetCache) -> None:
    saved = fast_cache.save("Print the factorial of 6", "import math\nprint(math.factorial(6))")
    assert saved.created
    match = fast_cache.lookup("print the factorial of 6.")
    assert match.tier == "exact"
    assert match.snippet is not None and match.snippet.id == saved.snippet.id
    assert match.code == "import math\nprint(math.factorial(6))\n"
    assert saved.snippet.libraries == ["math"]


def test_saving_the_same_code_again_counts_instead_of_duplicating(
    fast_cache: SnippetCache,
) -> None:
    first = fast_cache.save("Print 1", "print(1)")
    again = fast_cache.save("print 1.", "print(1)\n\n", successes=1)
    assert not again.created and again.snippet.id == first.snippet.id
    assert fast_cache.store.count() == 1
    stored = fast_cache.get(first.snippet.id)
    assert stored.use_count == 1 and stored.success_count == 1
    other = fast_cache.save("Print 1", "print(2 - 1)")
    assert other.created and fast_cache.store.count() == 2


def test_new_rows_are_found_after_indexes_exist(fast_cache: SnippetCache) -> None:
    fast_cache.save_many([{"task": f"Task number {i} about cats", "code": f"print({i})"}
                          for i in range(300)])
    report = fast_cache.maintain(build_vector_index=True)
    assert "vector_index" in report
    fresh = fast_cache.save("Compute the zebra checksum", "print('zebra')")
    assert fast_cache.lookup("Compute the zebra checksum").tier == "exact"
    hits = fast_cache.search("zebra checksum", limit=3)
    assert hits and hits[0].snippet.id == fresh.snippet.id


def test_counts_votes_tags_and_delete(fast_cache: SnippetCache) -> None:
    sid = fast_cache.save("Print 2", "print(2)").snippet.id
    fast_cache.record_use(sid, success=True)
    fast_cache.record_use(sid, success=False)
    fast_cache.vote(sid, up=True)
    fast_cache.vote(sid, up=False)
    fast_cache.vote(sid, up=False)
    fast_cache.set_tags(sid, ["b", "a", "a", " "])
    s = fast_cache.get(sid[:6])  # a unique prefix works
    assert (s.use_count, s.success_count, s.failure_count) == (2, 1, 1)
    assert (s.votes_up, s.votes_down, s.tags) == (1, 2, ["a", "b"])
    assert not s.healthy  # voted down: no longer served without the model
    assert fast_cache.lookup("Print 2").tier != "exact"
    fast_cache.delete(sid)
    with pytest.raises(SnippetNotFoundError):
        fast_cache.get(sid)


@pytest.mark.parametrize("bad_id", ["nope", "x' OR '1'='1", "../../etc/passwd", "", "a" * 100])
def test_unknown_and_malicious_ids_are_not_found(fast_cache: SnippetCache, bad_id: str) -> None:
    fast_cache.save("Print 3", "print(3)")
    with pytest.raises(SnippetNotFoundError):
        fast_cache.get(bad_id)
    with pytest.raises(KeyError):  # also a KeyError for callers who know only builtins
        fast_cache.delete(bad_id)
    assert fast_cache.store.count() == 1


def test_namespaces_are_isolated_and_resolved_once(store_uri: str) -> None:
    embedder = WordHashEmbedder()
    team = SnippetCache(SemCache(store=store_uri, namespace="team"), embedder=embedder)
    mine = SnippetCache(SemCache(store=store_uri), embedder=embedder)
    team.save("Print the team answer", "print(42)")
    assert team.lookup("Print the team answer").tier == "exact"
    assert mine.lookup("Print the team answer").tier != "exact"
    both = SnippetCache(SemCache(store=store_uri, search_namespaces=["personal", "team"]),
                        embedder=embedder)
    assert both.lookup("Print the team answer").tier == "exact"
    with pytest.raises(ConfigurationError):
        SemCache(namespace="bad namespace!")


def test_secrets_are_redacted_before_storing(fast_cache: SnippetCache) -> None:
    saved = fast_cache.save("Call the API with token=abc12345xyz",
                            'client = Client(api_key="sk-ant-api03-abcdefghijklmnopqrstuv")')
    assert saved.redacted
    stored = fast_cache.get(saved.snippet.id)
    assert "sk-ant" not in stored.code and "abc12345xyz" not in stored.task
    raw = fast_cache.store._table("snippets").to_arrow().to_pylist()
    assert not any("sk-ant" in str(row) or "abc12345xyz" in str(row) for row in raw)


def test_bad_uri_and_unwritable_store_give_clear_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigurationError, match="scheme"):
        _ = SnippetCache(SemCache(store="ftp://host/x"), embedder=WordHashEmbedder()).store
    locked = tmp_path / "locked"
    locked.mkdir()
    cache = SnippetCache(SemCache(store=str(locked / "store")), embedder=WordHashEmbedder())
    cache.save("Print 4", "print(4)")
    cache.close()
    with read_only(locked / "store"):
        cache = SnippetCache(SemCache(store=str(locked / "store")), embedder=WordHashEmbedder())
        with pytest.raises(StoreUnavailableError):
            cache.save("Print 5", "print(5)")
        assert cache.lookup("Print 4").tier == "exact"  # what was stored is still there
    assert cache.lookup("Print 4").tier == "exact"


def test_a_store_made_by_another_embedder_is_refused(store_uri: str) -> None:
    SnippetCache(SemCache(store=store_uri), embedder=WordHashEmbedder()).save("A", "print(1)")

    class Small(WordHashEmbedder):
        dim = 8

    other = SnippetCache(SemCache(store=store_uri), embedder=Small())
    with pytest.raises(StoreSchemaError):
        other.lookup("something else entirely")


def test_run_log_round_trip(fast_cache: SnippetCache) -> None:
    task = "use password hunter22 please"
    match = Match(tier="exact", analysis=fast_cache.analyse(task))
    fast_cache.log_run(TaskOutcome(status=TaskStatus.OK, request=TaskRequest(task=task),
                                   match=match, timings={"lookup": 0.01}))
    runs = fast_cache.store.runs()
    assert len(runs) == 1 and runs[0]["tier"] == "exact"
    assert runs[0]["timings"] == {"lookup": 0.01}
    assert "hunter22" not in runs[0]["task"]


def _save_many_in_child(store_uri: str, prefix: str, count: int) -> None:
    cache = SnippetCache(SemCache(store=store_uri), embedder=WordHashEmbedder())
    for i in range(count):
        cache.save(f"{prefix} task {i}", f"print('{prefix}', {i})")
    # And re-save a shared snippet so both processes upsert the same id.
    for _ in range(5):
        cache.save("Shared task", "print('shared')")


def test_two_processes_saving_at_once_lose_and_duplicate_nothing(store_uri: str) -> None:
    SnippetCache(SemCache(store=store_uri), embedder=WordHashEmbedder()).save("seed", "print(0)")
    ctx = multiprocessing.get_context("spawn")  # LanceDB does not survive fork
    procs = [ctx.Process(target=_save_many_in_child, args=(store_uri, p, 40)) for p in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    cache = SnippetCache(SemCache(store=store_uri), embedder=WordHashEmbedder())
    rows = cache.store._table("snippets").to_arrow().to_pylist()
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == 1 + 80 + 1
    shared = cache.lookup("Shared task")
    assert shared.tier == "exact" and shared.snippet is not None
    assert shared.snippet.use_count == 9  # 10 saves: 1 insert + 9 repeats
