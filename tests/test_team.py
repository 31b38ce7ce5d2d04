"""The shared team cache: LanceDB on a real local S3 server (moto), and namespaces."""

from __future__ import annotations

import json
import multiprocessing
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import WordHashEmbedder
from fixtures_s3 import s3_options

from semcache_magic.cache import SnippetCache
from semcache_magic.cli import main
from semcache_magic.config import SemCache, personal_namespace
from semcache_magic.errors import ConfigurationError, SnippetNotFoundError
from semcache_magic.share import promote_snippet

PER_CLIENT = 200


def _task(client: str, i: int) -> tuple[str, str]:
    # A word, not a number, tells the tasks apart: 200 tasks that differ only in a number
    # would share one template, and that is the slot tier's business, not this test's.
    word = "".join(chr(ord("a") + int(d)) for d in f"{i:03d}")
    return (f"Client {client} computes the {word} checksum of the {client} ledger",
            f"print('{client}', {i} * 7)\n")


def _client(uri: str, options: dict[str, str], name: str, other: str, barrier: Any,
            results: Any) -> None:
    """One teammate in its own (spawned) process: save PER_CLIENT snippets, then find
    the other's."""
    cache = SnippetCache(SemCache(store=uri, storage_options=options, namespace="team"),
                         embedder=WordHashEmbedder())
    items = [dict(zip(("task", "code"), _task(name, i), strict=True))
             for i in range(PER_CLIENT)]
    barrier.wait()  # both start on an empty bucket at once: the table is created in a race
    started = time.perf_counter()
    errors = []
    for item in items[:20]:  # single saves, as the magic makes them
        try:
            cache.save(item["task"], item["code"])
        except Exception as exc:  # reported to the parent, which fails the test
            errors.append(repr(exc)[:300])
    for start in range(20, PER_CLIENT, 6):  # and small batches, as imports make them
        try:
            cache.save_many(items[start: start + 6])
        except Exception as exc:
            errors.append(repr(exc)[:300])
    save_s = time.perf_counter() - started
    barrier.wait()
    found = []
    for i in (0, 19, 20, 101, PER_CLIENT - 1):
        match = cache.lookup(_task(other, i)[0])
        found.append(match.tier == "exact" and match.code == _task(other, i)[1])
    hits = cache.search(f"{other} ledger checksum", limit=5)
    found.append(bool(hits) and all(f"Client {other}" in h.snippet.task for h in hits))
    results.put({"name": name, "errors": errors, "save_s": save_s, "found": found})
    cache.close()


@pytest.mark.slow
def test_two_processes_share_one_s3_cache_and_lose_nothing(
    s3_store: tuple[str, dict[str, str]],
) -> None:
    uri, options = s3_store
    ctx = multiprocessing.get_context("spawn")  # LanceDB does not survive fork
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_client, args=(uri, options, me, other, barrier, results))
             for me, other in (("a", "b"), ("b", "a"))]
    for proc in procs:
        proc.start()
    reports = [results.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    for report in reports:
        assert report["errors"] == [], report
        assert all(report["found"]), report  # each found the other's snippets

    cache = SnippetCache(SemCache(store=uri, storage_options=options, namespace="team"),
                         embedder=WordHashEmbedder())
    stored = {s.task: s for s in cache.list_snippets(limit=10_000)}
    expected = dict(_task(c, i) for c in "ab" for i in range(PER_CLIENT))
    assert len(stored) == len(expected) == 2 * PER_CLIENT
    assert {task: s.code for task, s in stored.items()} == expected  # none corrupt
    assert cache.store.count() == 2 * PER_CLIENT  # no duplicate rows either
    assert all(s.namespace == "team" and s.libraries == [] for s in stored.values())


def _first_saver(stores: list[str], options: dict[str, str], name: str, barrier: Any,
                 results: Any) -> None:
    errors = []
    for uri in stores:
        cache = SnippetCache(SemCache(store=uri, storage_options=options, namespace="team"),
                             embedder=WordHashEmbedder())
        barrier.wait()  # both save first into an empty bucket: both try to create the table
        try:
            cache.save(f"Print the first word of {name}", f"print('{name}')")
        except Exception as exc:  # reported to the parent, which fails the test
            errors.append(repr(exc)[:300])
        cache.close()
    results.put(errors)


@pytest.mark.slow
def test_two_clients_creating_the_store_at_once_both_succeed(s3_endpoint: str) -> None:
    stores = []
    for _ in range(4):  # the race is lost in about a third of the rounds without the fix
        bucket = f"semcache-{uuid.uuid4().hex[:12]}"
        urllib.request.urlopen(urllib.request.Request(f"{s3_endpoint}/{bucket}", method="PUT"),
                               timeout=10).close()
        stores.append(f"s3://{bucket}/team-cache")
    options = s3_options(s3_endpoint)
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_first_saver, args=(stores, options, name, barrier, results))
             for name in ("ada", "bob")]
    for proc in procs:
        proc.start()
    assert [results.get(timeout=300) for _ in procs] == [[], []]
    for proc in procs:
        proc.join(60)
    for uri in stores:
        cache = SnippetCache(SemCache(store=uri, storage_options=options, namespace="team"),
                             embedder=WordHashEmbedder())
        assert cache.store.count() == 2
        assert all(cache.lookup(f"Print the first word of {n}").tier == "exact"
                   for n in ("ada", "bob"))


@pytest.mark.slow
def test_cli_reaches_the_s3_store_through_the_environment(
    s3_store: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], real_embedder: Any,
) -> None:
    uri, options = s3_store
    monkeypatch.setenv("SEMCACHE_STORE", uri)
    monkeypatch.setenv("SEMCACHE_STORAGE_OPTIONS", json.dumps(options))
    config = SemCache().apply_env()
    assert config.store_uri == uri and config.storage_options == options
    cache = SnippetCache(config, embedder=real_embedder)
    alice = cache.save("Print the team motto", "print('ship it')").snippet
    cache.close()
    # The CLI reads the same bucket from the environment alone.
    assert main(["show", alice.id[:6], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["code"] == "print('ship it')\n"
    assert main(["promote", alice.id, "--to", "team", "--json"]) == 0
    promoted = json.loads(capsys.readouterr().out)
    assert promoted["namespace"] == "team" and promoted["parent_id"] == alice.id
    assert main(["--namespace", "team", "list", "--json"]) == 0
    assert promoted["id"] in capsys.readouterr().out


@pytest.fixture(params=["local", "s3"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """The namespace tests run on a local directory and on S3."""
    if request.param == "local":
        return str(tmp_path / "store"), {}
    store: tuple[str, dict[str, str]] = request.getfixturevalue("s3_store")
    return store


def _cache(store: tuple[str, dict[str, str]], **config: Any) -> SnippetCache:
    uri, options = store
    return SnippetCache(SemCache(store=uri, storage_options=options, **config),
                        embedder=WordHashEmbedder())


def test_a_namespace_not_on_the_list_is_never_served(
    shared_store: tuple[str, dict[str, str]],
) -> None:
    team = _cache(shared_store, namespace="team")
    team.save("Reverse the string 'notebook' and print it",
              "# parameters\ntext = 'notebook'\nprint(text[::-1])")
    personal_only = _cache(shared_store)  # default: the personal namespace alone
    with_team = _cache(shared_store, search_namespaces=["personal", "team"])
    probes = {
        "exact": "reverse the string 'notebook' and print it.",
        "slot": "Reverse the string 'lancedb' and print it",
        "semantic": "Reverse the string notebook backwards and print it out",
    }
    for tier, task in probes.items():
        # threshold -1: *any* candidate would be served, so a miss means none was seen
        assert personal_only.lookup(task, threshold=-1.0).tier == "miss", tier
        assert _cache(shared_store, search_namespaces=["project:x"]).lookup(
            task, threshold=-1.0).tier == "miss", tier
        match = with_team.lookup(task, threshold=0.3)
        assert (match.tier, match.namespace) == (tier, "team")
        # Found, but someone else's: served code from team waits for a yes.
        assert match.trusted is (not match.served)
        trusting = _cache(shared_store, search_namespaces=["personal", "team"],
                          trusted_namespaces=["team"])
        assert trusting.lookup(task, threshold=0.3).trusted
    assert personal_only.search("reverse string notebook") == []
    assert personal_only.list_snippets() == []
    assert [s.namespace for s in with_team.list_snippets()] == ["team"]


def test_the_search_list_is_ordered(shared_store: tuple[str, dict[str, str]]) -> None:
    _cache(shared_store).save("Print the greeting", "print('hello from me')")
    _cache(shared_store, namespace="team").save("Print the greeting", "print('hello team')")
    mine_first = _cache(shared_store, search_namespaces=["personal", "team"])
    team_first = _cache(shared_store, search_namespaces=["team", "personal"])
    assert mine_first.lookup("Print the greeting").code == "print('hello from me')\n"
    assert team_first.lookup("Print the greeting").code == "print('hello team')\n"


def test_promote_copies_to_the_team_with_provenance(
    shared_store: tuple[str, dict[str, str]],
) -> None:
    alice = _cache(shared_store, namespace="user:alice")
    bob = _cache(shared_store, namespace="user:bob", search_namespaces=["user:bob", "team"])
    original = alice.save("Plot churn by month", "print('churn plot')", source="generated",
                          model="claude-sonnet-5-5", tags=["churn"], successes=3).snippet
    assert bob.lookup("Plot churn by month").tier != "exact"
    result = promote_snippet(alice, original.id[:8], "team")
    copy = result.snippet
    assert result.created and copy.namespace == "team" and copy.id != original.id
    assert (copy.parent_id, copy.source, copy.model, copy.tags, copy.success_count) == (
        original.id, "generated", "claude-sonnet-5-5", ["churn"], 3)
    match = bob.lookup("Plot churn by month")
    assert match.tier == "exact" and match.snippet is not None
    assert match.snippet.id == copy.id and match.snippet.parent_id == original.id
    assert alice.get(original.id).namespace == "user:alice"  # the original stays
    assert not promote_snippet(alice, original.id, "team").created  # promoting twice: a no-op
    with pytest.raises(SnippetNotFoundError, match="namespace 'team'"):
        promote_snippet(alice, copy.id, "team")  # not in alice's namespaces: she must name it
    with pytest.raises(ConfigurationError, match="already in"):
        promote_snippet(_cache(shared_store, namespace="team"), copy.id, "team")
    with pytest.raises(SnippetNotFoundError):
        promote_snippet(alice, "ffffffffffffffff", "team")


def test_namespace_lists_come_from_config_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEMCACHE_SEARCH_NAMESPACES", "personal, project:churn ,team,team")
    monkeypatch.setenv("SEMCACHE_NAMESPACE", "project:churn")
    cache = SnippetCache(SemCache().apply_env(), embedder=WordHashEmbedder())
    assert cache.namespaces() == [personal_namespace(), "project:churn", "team"]
    assert cache.prepare("Print 1", "print(1)")[0].namespace == "project:churn"
    assert cache.namespaces("team") == ["team"]  # an explicit namespace: that one only
    with pytest.raises(ConfigurationError):
        promote_snippet(cache, "abcd", "bad namespace!")
