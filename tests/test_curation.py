"""Curating by id stays inside the namespaces a command resolves to: a vote, tag, delete or
show from another team does not reach a snippet unless its namespace is named."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import WordHashEmbedder

from semcache_magic.cache import SnippetCache
from semcache_magic.cli import main
from semcache_magic.config import SemCache
from semcache_magic.errors import AmbiguousIdError, SnippetNotFoundError


def _cache(store: str, namespace: str) -> SnippetCache:
    return SnippetCache(SemCache(store=store, namespace=namespace), embedder=WordHashEmbedder())


def _one_line_error(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


@pytest.fixture
def team_a(store_uri: str) -> Any:
    cache = _cache(store_uri, "teamA")
    snippet = cache.save("Print the team motto", "print('ship it')").snippet
    yield cache, snippet
    cache.close()


@pytest.mark.parametrize("command", [
    ["vote", "{id}", "down"], ["tag", "{id}", "broken"], ["show", "{id}"], ["delete", "{id}"],
])
def test_another_namespace_is_out_of_reach(
    team_a: Any, store_uri: str, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    cache, snippet = team_a
    for id_given in (snippet.id, snippet.id[:6]):  # the full id and a prefix alike
        argv = [part.format(id=id_given) for part in command]
        assert main(["--store", store_uri, "--namespace", "teamB", *argv]) == 1
        _one_line_error(capsys, "teamA", "--namespace teamA")
    after = cache.get(snippet.id)
    assert (after.votes_down, after.tags) == (0, [])  # nothing changed
    assert cache.lookup("Print the team motto").tier == "exact"  # still served to teamA
    # Naming the namespace reaches it.
    argv = [part.format(id=snippet.id[:6]) for part in command]
    assert main(["--store", store_uri, "--namespace", "teamA", *argv]) == 0


def test_python_api_is_scoped_the_same_way(team_a: Any, store_uri: str) -> None:
    _, snippet = team_a
    team_b = _cache(store_uri, "teamB")
    with pytest.raises(SnippetNotFoundError, match="teamA"):
        team_b.vote(snippet.id, up=False)
    assert team_b.vote(snippet.id, up=False, namespace="teamA").votes_down == 1


def _sharing_a_prefix(cache: SnippetCache) -> tuple[str, str]:
    """Two tasks whose snippet ids share their first four characters."""
    seen: dict[str, str] = {}
    for i in range(5000):
        task = f"Print the number {i} twice"
        prefix = cache.prepare(task, f"print({i}, {i})")[0].id[:4]
        if prefix in seen:
            return seen[prefix], task
        seen[prefix] = task
    raise AssertionError("no shared prefix in 5000 ids")


def test_an_ambiguous_prefix_lists_the_candidates(
    store_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = _cache(store_uri, "personal")
    first, second = _sharing_a_prefix(cache)
    a = cache.save(first, f"print({first.split()[3]}, {first.split()[3]})").snippet
    b = cache.save(second, f"print({second.split()[3]}, {second.split()[3]})").snippet
    assert a.id[:4] == b.id[:4]
    with pytest.raises(AmbiguousIdError) as caught:
        cache.get(a.id[:4])
    assert a.id in str(caught.value) and b.id in str(caught.value)
    assert main(["--store", store_uri, "vote", a.id[:4], "up"]) == 1
    _one_line_error(capsys, "fits 2 snippets", a.id, b.id)
    assert cache.get(a.id).votes_up == 0 and cache.get(b.id).votes_up == 0


def test_listing_another_namespace_needs_it_named(
    store_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Like curating: a list shows the namespaces the command resolves to, no other."""
    team = _cache(store_uri, "teamA")
    team.save("Print the team motto", "print('ship it')")
    assert main(["--store", store_uri, "--namespace", "teamA", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [s["namespace"] for s in listed] == ["teamA"]
    assert main(["--store", store_uri, "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
