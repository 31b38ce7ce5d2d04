"""Routes of the Jupyter server extension, through a real Jupyter server (pytest-jupyter).

The server's cache uses the real embedding model and a real LanceDB directory, and it
is configured the way users configure it: ``c.SemCache.store`` in the server config.
"""

from __future__ import annotations

import ast
import json
import shutil
import urllib.parse

import pytest
from tornado.httpclient import HTTPClientError

pytestmark = pytest.mark.slow

SEEDS = [
    ("Print the factorial of 6", "import math\nprint(math.factorial(6))\n"),
    ("Reverse the string 'hello'", "print('hello'[::-1])\n"),
    ("Sum the numbers from 1 to 100", "print(sum(range(1, 101)))\n"),
]


@pytest.fixture
def jp_server_config(store_uri):
    return {
        "ServerApp": {"jpserver_extensions": {"semcache_magic": True}},
        "SemCache": {"store": store_uri, "warm_embedder": False},
    }


@pytest.fixture(autouse=True)
def _close_service(request):
    """Close the extension's cache and threads before a test's server goes away."""
    if "jp_serverapp" not in request.fixturenames:
        yield
        return
    from semcache_magic.server.handlers import SETTINGS_KEY

    app = request.getfixturevalue("jp_serverapp")
    yield
    app.web_app.settings[SETTINGS_KEY].close()


@pytest.fixture
def writer(store_uri, real_embedder):
    """A second SnippetCache on the server's store: another process's view (the magic)."""
    from semcache_magic.cache import SnippetCache
    from semcache_magic.config import SemCache

    cache = SnippetCache(SemCache(store=store_uri), embedder=real_embedder)
    yield cache
    cache.close()


@pytest.fixture(scope="module")
def seed_template(tmp_path_factory, real_embedder):
    """A store holding SEEDS, made once; each test gets its own copy."""
    from semcache_magic.cache import SnippetCache
    from semcache_magic.config import SemCache

    path = tmp_path_factory.mktemp("seeded") / "store"
    cache = SnippetCache(SemCache(store=str(path)), embedder=real_embedder)
    snippets = [cache.save(task, code).snippet for task, code in SEEDS]
    cache.close()
    return path, snippets


@pytest.fixture
def seeded(seed_template, store_uri):
    path, snippets = seed_template
    shutil.copytree(path, store_uri)
    return snippets


@pytest.fixture
def raw_fetch(jp_serverapp, http_server_client, jp_base_url, jp_auth_header):
    """Fetch a path as typed (no escaping), with or without the token; never raises."""

    async def fetch(path, *, method="GET", body=None, token=True):
        headers = dict(jp_auth_header) if token else {}
        if body is not None and not isinstance(body, str | bytes):
            body = json.dumps(body)
        if body is None and method in ("POST", "PUT"):
            body = ""
        return await http_server_client.fetch(
            jp_base_url + "semcache/" + path, method=method, body=body, headers=headers,
            raise_error=False, follow_redirects=False, request_timeout=60,
        )

    return fetch


def payload(response):
    return json.loads(response.body.decode())


async def fetch_json(jp_fetch, *parts, **kwargs):
    response = await jp_fetch("semcache", *parts, request_timeout=60, **kwargs)
    assert response.code == 200
    return payload(response)


def assert_json_error(response, status, *words):
    assert response.code == status, response.body[:300]
    assert response.headers["Content-Type"].startswith("application/json")
    body = payload(response)
    assert set(body) == {"error", "hint"}
    assert "Traceback" not in response.body.decode()
    for word in words:
        assert word in body["error"], body
    return body


# -- authentication ------------------------------------------------------------------------

ROUTES = [
    ("GET", "snippets", None),
    ("GET", "snippets?q=factorial", None),
    ("GET", "snippets/{id}", None),
    ("DELETE", "snippets/{id}", None),
    ("POST", "snippets/{id}/vote", {"direction": "up"}),
    ("PUT", "snippets/{id}/tags", {"tags": ["x"]}),
    ("GET", "snippets/{id}/export", None),
    ("GET", "stats", None),
    ("GET", "namespaces", None),
    ("GET", "version", None),
    ("POST", "snippets", {"task": "Print 1", "code": "print(1)"}),
    ("PUT", "snippets/{id}", {"tags": ["x"]}),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_every_route_requires_authentication(raw_fetch, seeded, method, path, body):
    response = await raw_fetch(path.format(id=seeded[0].id), method=method, body=body,
                               token=False)
    assert response.code in (403, 302)
    if response.code == 403:
        assert_json_error(response, 403)
    # Nothing happened: the snippet is still there, unvoted and untagged.
    again = payload(await raw_fetch(f"snippets/{seeded[0].id}"))
    assert (again["votes_up"], again["tags"]) == (0, [])


# -- listing and search ---------------------------------------------------------------------

async def test_list_newest_first_with_paging(jp_fetch, seeded):
    data = await fetch_json(jp_fetch, "snippets")
    assert [s["task"] for s in data["snippets"]] == [s.task for s in reversed(seeded)]
    assert data["sort"] == "recent" and data["query"] == ""
    first = data["snippets"][0]
    assert first["code"] == seeded[-1].code and first["score"] is None
    assert {"namespace", "source", "use_count", "success_count", "created_at", "libraries",
            "input_schema", "tags", "model", "parent_id"} <= set(first)

    page = await fetch_json(jp_fetch, "snippets", params={"limit": "1", "offset": "1"})
    assert [s["id"] for s in page["snippets"]] == [seeded[1].id]
    by_uses = await fetch_json(jp_fetch, "snippets", params={"sort": "uses"})
    assert len(by_uses["snippets"]) == 3


async def test_search_ranks_by_meaning(jp_fetch, seeded):
    data = await fetch_json(jp_fetch, "snippets", params={"q": "compute 6 factorial"})
    assert data["sort"] == "score"
    best = data["snippets"][0]
    assert best["id"] == seeded[0].id
    assert best["score"] > 0.5 and "similarity" in best["score_parts"]
    scores = [s["score"] for s in data["snippets"]]
    assert scores == sorted(scores, reverse=True)
    limited = await fetch_json(jp_fetch, "snippets", params={"q": "factorial", "limit": "1"})
    assert len(limited["snippets"]) == 1


async def test_a_search_with_no_match_lists_nothing(jp_fetch, seeded):
    data = await fetch_json(jp_fetch, "snippets", params={"q": "zxqv blorp"})
    assert data["snippets"] == []  # unrelated words score below the floor
    word = await fetch_json(jp_fetch, "snippets", params={"q": "factorial"})
    assert [s["id"] for s in word["snippets"]] == [seeded[0].id]  # and so do the others


async def test_search_in_an_empty_namespace(jp_fetch, seeded):
    data = await fetch_json(jp_fetch, "snippets", params={"q": "factorial",
                                                          "namespace": "team:empty"})
    assert data["snippets"] == [] and data["namespaces"] == ["team:empty"]


async def test_server_sees_snippets_saved_by_another_cache(jp_fetch, writer, seeded):
    before = await fetch_json(jp_fetch, "snippets")  # the server's table handle is open now
    assert len(before["snippets"]) == 3
    saved = writer.save("Print the current UTC date", "import datetime\n"
                        "print(datetime.datetime.now(datetime.timezone.utc).date())\n").snippet
    after = await fetch_json(jp_fetch, "snippets")
    assert after["snippets"][0]["id"] == saved.id
    found = await fetch_json(jp_fetch, "snippets", params={"q": "today's date in UTC"})
    assert found["snippets"][0]["id"] == saved.id


@pytest.mark.parametrize(("params", "words"), [
    ({"limit": "0"}, ["limit"]),
    ({"limit": "abc"}, ["limit"]),
    ({"limit": "100000"}, ["limit"]),
    ({"q": "factorial", "offset": "190", "limit": "20"}, ["at most"]),
    ({"offset": "-1"}, ["offset"]),
    ({"sort": "bogus"}, ["sort"]),
    ({"sort": "score"}, ["sort"]),
    ({"q": "factorial", "sort": "recent"}, ["sort"]),
    ({"namespace": "bad namespace!"}, ["namespace"]),
    ({"namespace": "x' OR '1'='1"}, ["namespace"]),
    ({"q": "x" * 30_000}, []),
    ({"limit": "nan"}, ["limit", "finite"]),
    ({"limit": "inf"}, ["limit", "finite"]),
    ({"limit": "999999999999"}, ["limit"]),
    ({"limit": "2.5"}, ["limit", "whole"]),
    ({"offset": "nan"}, ["offset"]),
])
async def test_bad_queries_are_clear_400s(raw_fetch, seeded, params, words):
    response = await raw_fetch("snippets?" + urllib.parse.urlencode(params))
    body = assert_json_error(response, 400, *words)
    assert body["error"]


# -- one snippet ---------------------------------------------------------------------------

async def test_get_by_id_and_unique_prefix(jp_fetch, seeded):
    snippet = seeded[1]
    assert (await fetch_json(jp_fetch, "snippets", snippet.id))["code"] == snippet.code
    by_prefix = await fetch_json(jp_fetch, "snippets", snippet.id[:8])
    assert by_prefix["id"] == snippet.id


BAD_IDS = [
    "0123456789abcdef",  # well formed, unknown
    "..%2F..%2Fetc%2Fpasswd",  # traversal, escaped so it reaches the route
    urllib.parse.quote("x' OR '1'='1", safe=""),
    urllib.parse.quote("id\" OR 1=1 --", safe=""),
    "%00",
    "a" * 65,
]


@pytest.mark.parametrize("bad_id", BAD_IDS)
@pytest.mark.parametrize(("method", "suffix", "body"), [
    ("GET", "", None),
    ("DELETE", "", None),
    ("POST", "/vote", {"direction": "up"}),
    ("PUT", "/tags", {"tags": ["t"]}),
    ("GET", "/export", None),
])
async def test_unknown_and_malicious_ids_are_404s(raw_fetch, seeded, bad_id, method, suffix,
                                                  body):
    response = await raw_fetch(f"snippets/{bad_id}{suffix}", method=method, body=body)
    assert_json_error(response, 404, "snippet")


async def test_unescaped_traversal_never_reaches_a_file(raw_fetch, seeded):
    response = await raw_fetch("snippets/../../../etc/passwd")
    assert response.code == 404
    assert b"root:" not in response.body


async def test_vote(jp_fetch, seeded):
    snippet_id = seeded[0].id
    up = await fetch_json(jp_fetch, "snippets", snippet_id, "vote", method="POST",
                          body=json.dumps({"direction": "up"}))
    assert (up["votes_up"], up["votes_down"]) == (1, 0)
    down = await fetch_json(jp_fetch, "snippets", snippet_id, "vote", method="POST",
                            body=json.dumps({"direction": "down"}))
    assert (down["votes_up"], down["votes_down"]) == (1, 1)
    listed = await fetch_json(jp_fetch, "snippets", params={"sort": "votes"})
    assert len(listed["snippets"]) == 3


@pytest.mark.parametrize("body", ["not json", "[]", '{"direction": "sideways"}', "{}",
                                  '{"direction": 1}'])
async def test_vote_bad_body(raw_fetch, seeded, body):
    response = await raw_fetch(f"snippets/{seeded[0].id}/vote", method="POST", body=body)
    assert_json_error(response, 400)


async def test_tags_replace(jp_fetch, seeded):
    snippet_id = seeded[0].id
    data = await fetch_json(jp_fetch, "snippets", snippet_id, "tags", method="PUT",
                            body=json.dumps({"tags": ["math", " basics ", "math", ""]}))
    assert data["tags"] == ["basics", "math"]
    assert (await fetch_json(jp_fetch, "snippets", snippet_id))["tags"] == ["basics", "math"]


async def test_tags_clear(jp_fetch, writer):
    snippet = writer.save("Print the answer", "print(42)\n", tags=["math"]).snippet
    data = await fetch_json(jp_fetch, "snippets", snippet.id, "tags", method="PUT",
                            body=json.dumps({"tags": []}))
    assert data["tags"] == []


@pytest.mark.parametrize("body", ['{"tags": "math"}', '{"tags": [1, 2]}', "{}", "{bad"])
async def test_tags_bad_body(raw_fetch, seeded, body):
    response = await raw_fetch(f"snippets/{seeded[0].id}/tags", method="PUT", body=body)
    assert_json_error(response, 400, "tags" if body != "{bad" else "JSON")


async def test_delete(jp_fetch, raw_fetch, seeded):
    snippet_id = seeded[2].id
    data = await fetch_json(jp_fetch, "snippets", snippet_id, method="DELETE")
    assert data == {"deleted": snippet_id}
    assert_json_error(await raw_fetch(f"snippets/{snippet_id}"), 404)
    assert_json_error(await raw_fetch(f"snippets/{snippet_id}", method="DELETE"), 404)
    listed = await fetch_json(jp_fetch, "snippets")
    assert snippet_id not in [s["id"] for s in listed["snippets"]]


async def test_export_is_a_python_download(jp_fetch, writer):
    snippet = writer.save('Say "hi" to ../../etc/passwd; rm -rf /',
                          "print('hi')\n", input_schema={"df": "DataFrame"}).snippet
    response = await jp_fetch("semcache", "snippets", snippet.id, "export")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="')
    name = disposition.split('filename="')[1].rstrip('"')
    assert name.endswith(".py") and name.startswith("say_hi_to")
    assert all(c.isalnum() or c in "_." for c in name) and ".." not in name
    assert response.headers["Content-Type"].startswith("text/x-python")
    text = response.body.decode()
    assert "print('hi')" in text and snippet.id in text
    ast.parse(text)


# -- store-wide ----------------------------------------------------------------------------

async def test_stats_and_namespaces(jp_fetch, seeded, store_uri):
    stats = await fetch_json(jp_fetch, "stats")
    assert stats["snippets"] == 3 and stats["store"] == store_uri
    namespace = seeded[0].namespace
    assert stats["namespaces"][namespace]["snippets"] == 3
    data = await fetch_json(jp_fetch, "namespaces")
    assert data == {"namespaces": [namespace], "search": [namespace], "save": namespace}


async def test_empty_store_lists_nothing(jp_fetch):
    assert (await fetch_json(jp_fetch, "snippets"))["snippets"] == []
    assert (await fetch_json(jp_fetch, "stats"))["snippets"] == 0


@pytest.fixture
def broken_store(tmp_path):
    path = tmp_path / "not-a-directory"
    path.write_text("a file where the store should be")
    return str(path)


async def test_unusable_store_is_a_503(raw_fetch, jp_serverapp, broken_store):
    from semcache_magic.server.handlers import SETTINGS_KEY

    service = jp_serverapp.web_app.settings[SETTINGS_KEY]
    service.config.store = broken_store  # before the first request opens the store
    body = assert_json_error(await raw_fetch("snippets"), 503)
    assert "store" in body["error"] and body["hint"]


async def test_unexpected_failure_is_json_without_traceback(raw_fetch, jp_serverapp,
                                                            monkeypatch):
    from semcache_magic.server.handlers import SETTINGS_KEY

    cache = jp_serverapp.web_app.settings[SETTINGS_KEY].cache

    def explode():
        raise RuntimeError("secret internals")

    monkeypatch.setattr(cache, "stats", explode)
    body = assert_json_error(await raw_fetch("stats"), 500)
    assert "secret" not in body["error"]


async def test_config_comes_from_the_server(jp_serverapp, store_uri):
    from semcache_magic.server.handlers import SETTINGS_KEY

    service = jp_serverapp.web_app.settings[SETTINGS_KEY]
    assert service.config.store_uri == store_uri
    assert service.config.parent is jp_serverapp


async def test_client_errors_raise_with_jp_fetch(jp_fetch, seeded):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("semcache", "snippets", "0123456789abcdef")
    assert info.value.code == 404


def test_installing_the_package_enables_both_extensions():
    """``pip install`` put the server config and the prebuilt labextension in sys.prefix."""
    from pathlib import Path

    from jupyter_core.paths import jupyter_config_path, jupyter_path
    from jupyter_server.extension.config import ExtensionConfigManager

    manager = ExtensionConfigManager(read_config_path=jupyter_config_path())
    assert manager.enabled("semcache_magic")
    found = [Path(p, "semcache-magic") for p in jupyter_path("labextensions")
             if Path(p, "semcache-magic", "package.json").exists()]
    assert found, "the labextension is not installed: pip install -e ."
    package = json.loads((found[0] / "package.json").read_text())
    assert package["name"] == "semcache-magic"
    assert package["jupyterlab"]["_build"]["load"].startswith("static/remoteEntry.")


# -- saving, editing, the version ------------------------------------------------------

async def test_save_code_as_a_snippet(raw_fetch, jp_fetch, seeded):
    response = await raw_fetch("snippets", method="POST", body={
        "task": "Print the answer", "code": "print(42)\n", "tags": ["cell"]})
    assert response.code == 201
    saved = payload(response)
    assert saved["created"] and saved["source"] == "manual" and saved["tags"] == ["cell"]
    again = await raw_fetch("snippets", method="POST", body={
        "task": "Print the answer", "code": "print(42)\n"})
    assert again.code == 200 and not payload(again)["created"]  # counted a use
    found = await fetch_json(jp_fetch, "snippets", params={"q": "print the answer"})
    assert found["snippets"][0]["id"] == saved["id"]


@pytest.mark.parametrize("body", [{}, {"task": "x"}, {"task": "", "code": "print(1)"},
                                  {"task": "x", "code": 5}, {"task": "x", "code": "y",
                                                             "tags": "a"}])
async def test_save_bad_body(raw_fetch, seeded, body):
    assert_json_error(await raw_fetch("snippets", method="POST", body=body), 400)


async def test_edit_makes_a_new_version_and_removes_the_old(raw_fetch, jp_fetch, seeded):
    old = seeded[0]
    response = await raw_fetch(f"snippets/{old.id}", method="PUT", body={
        "task": "Print the factorial of 7", "code": "import math\nprint(math.factorial(7))\n",
        "tags": ["math"]})
    assert response.code == 200
    new = payload(response)
    assert new["replaced"] == old.id and new["parent_id"] == old.id and new["id"] != old.id
    assert new["task"] == "Print the factorial of 7" and new["tags"] == ["math"]
    assert new["source"] == "manual" and new["namespace"] == old.namespace
    assert_json_error(await raw_fetch(f"snippets/{old.id}"), 404)
    listed = await fetch_json(jp_fetch, "snippets")
    assert new["id"] in [s["id"] for s in listed["snippets"]]


async def test_edit_tags_only_keeps_the_snippet(raw_fetch, seeded):
    response = await raw_fetch(f"snippets/{seeded[1].id}", method="PUT",
                               body={"tags": ["strings"]})
    edited = payload(response)
    assert edited["id"] == seeded[1].id and edited["tags"] == ["strings"]
    assert edited["replaced"] == ""


async def test_version_changes_with_every_write(jp_fetch, writer, seeded):
    first = (await fetch_json(jp_fetch, "version"))["version"]
    assert first == (await fetch_json(jp_fetch, "version"))["version"]  # reads change nothing
    writer.save("Print the current year", "import datetime\nprint(datetime.date.today().year)")
    second = (await fetch_json(jp_fetch, "version"))["version"]
    assert second != first
    writer.vote(seeded[0].id, True)
    assert (await fetch_json(jp_fetch, "version"))["version"] != second


# -- curation stays in scope -----------------------------------------------------------------

@pytest.mark.parametrize(("method", "suffix", "body"), [
    ("GET", "", None),
    ("DELETE", "", None),
    ("POST", "/vote", {"direction": "down"}),
    ("PUT", "/tags", {"tags": ["t"]}),
    ("GET", "/export", None),
])
async def test_a_snippet_of_another_namespace_needs_that_namespace_named(
    raw_fetch, seeded, writer, method, suffix, body
):
    other = writer.save("Print the team motto", "print('ship it')", namespace="teamA").snippet
    response = await raw_fetch(f"snippets/{other.id}{suffix}", method=method, body=body)
    found = assert_json_error(response, 404, "teamA")
    assert "namespace=teamA" in found["hint"]
    assert writer.get(other.id, namespace="teamA").votes_down == 0  # nothing changed
    named = await raw_fetch(f"snippets/{other.id}{suffix}?namespace=teamA", method=method,
                            body=body)
    assert named.code == 200, named.body[:300]
