"""REST handlers under ``{base_url}/semcache/``: parse, call the cache, serialise.

==========================================  ======  =========================================
route                                       verb    does
==========================================  ======  =========================================
``snippets?q=&namespace=&limit=&offset=``   GET     ``q``: hybrid search, best first, above
``&sort=recent|uses|votes|score``                   ``search_floor``; else a list (``recent``)
``snippets``                                POST    save ``{"task", "code", "tags"?,
                                                    "namespace"?}`` (source ``manual``)
``snippets/{id}?namespace=``                GET     one snippet (ids may be unique prefixes)
``snippets/{id}?namespace=``                PUT     edit ``{"task"?, "code"?, "tags"?}``: a new
                                                    version replaces it (see ``SnippetCache.edit``)
``snippets/{id}?namespace=``                DELETE  delete it
``snippets/{id}/vote``                      POST    ``{"direction": "up"|"down"}``
``snippets/{id}/tags``                      PUT     ``{"tags": ["a", "b"]}`` (replaces them)
``snippets/{id}/export``                    GET     the snippet as a ``.py`` download
``stats``                                   GET     counts per namespace and source
``namespaces``                              GET     namespaces in the store, and the defaults
``version``                                 GET     ``{"version": n}``: changes with every write
                                                    (cheap; the sidebar polls it)
==========================================  ======  =========================================

Routes on one snippet act only on snippets in the namespaces a lookup searches, or in
the ``namespace`` query argument when given (as the CLI's ``--namespace``).
Every verb requires an authenticated user (an API request without one gets 403).
Errors are JSON ``{"error": message, "hint": hint}``: 400 for a bad parameter or body,
404 for an unknown or malformed id, 503 when the store or model cannot be reached,
500 otherwise (the traceback goes to the server log only).
"""

from __future__ import annotations

import json
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from ..cache import ScoredSnippet
from ..config import resolve_namespace
from ..errors import (
    ConfigurationError,
    EmbeddingError,
    SemcacheError,
    SnippetNotFoundError,
    StoreUnavailableError,
    TaskError,
)
from ..options import check_count
from ..share import render_script, safe_name
from ..snippet import SaveOptions, Snippet
from .service import CacheService

__all__ = ["setup_handlers"]

SETTINGS_KEY = "semcache_service"
MAX_LIMIT = 200
MAX_OFFSET = 100_000
LIST_SORTS = ("recent", "uses", "votes")


class RequestFailed(tornado.web.HTTPError):
    """An error answered as ``{"error", "hint"}`` with a proper status."""

    def __init__(self, status: int, message: str, hint: str = "") -> None:
        # tornado %-formats log_message when it logs; keep user text out of the format.
        super().__init__(status, "%s", message)
        self.message = message
        self.hint = hint

    @classmethod
    def from_error(cls, err: SemcacheError) -> RequestFailed:
        if isinstance(err, SnippetNotFoundError):
            status = 404
        elif isinstance(err, TaskError | ConfigurationError):
            status = 400
        elif isinstance(err, StoreUnavailableError | EmbeddingError):
            status = 503
        else:
            status = 500
        return cls(status, err.message, err.hint)


class SemcacheHandler(APIHandler):
    """Shared plumbing: the service, JSON bodies, errors."""

    @property
    def service(self) -> CacheService:
        service: CacheService = self.settings[SETTINGS_KEY]
        return service

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a cache method on the worker threads; our errors become HTTP errors."""
        try:
            return await self.service.run(fn, *args, **kwargs)
        except SemcacheError as err:
            raise RequestFailed.from_error(err) from err

    def json_body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise RequestFailed(400, "the request body is not valid JSON") from exc
        if not isinstance(body, dict):
            raise RequestFailed(400, "the request body must be a JSON object")
        return body

    def text_field(self, body: dict[str, Any], name: str, *, required: bool) -> str | None:
        value = body.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise RequestFailed(400, f"{name} must be a non-empty string",
                                'send {"task": "...", "code": "..."}')
        return value

    def tags_field(self, body: dict[str, Any]) -> list[str] | None:
        tags = body.get("tags")
        if tags is None:
            return None
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise RequestFailed(400, "tags must be a list of strings",
                                'send {"tags": ["pandas", "cleaning"]}')
        return tags

    def int_argument(self, name: str, default: int, low: int, high: int) -> int:
        """A whole number, checked as the CLI's options are (one rule for every face)."""
        raw = self.get_argument(name, "").strip()
        if not raw:
            return default
        try:
            return check_count(raw[:40], name, low=low, high=high) or 0
        except ConfigurationError as err:
            raise RequestFailed(400, err.message, err.hint) from None

    def namespace_argument(self) -> str | None:
        """The ``namespace`` query argument: the scope of a route on one snippet."""
        return self.get_argument("namespace", "").strip() or None

    def send_json(self, data: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, RequestFailed):
            message, hint = exc.message, exc.hint
        elif isinstance(exc, tornado.web.HTTPError):
            log_message = exc.log_message or ""
            message = (log_message % exc.args if exc.args else log_message) or self._reason
            hint = ""
            if status_code == 403:
                hint = "log in to Jupyter (token or password) and retry"
        else:
            message = f"internal error in the semcache server extension ({status_code})"
            hint = "see the Jupyter server log"
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": message, "hint": hint}))


def snippet_json(snippet: Snippet, scored: ScoredSnippet | None = None) -> dict[str, Any]:
    data = snippet.to_dict()
    data["score"] = round(scored.score, 6) if scored else None
    data["score_parts"] = ({k: round(float(v), 6) for k, v in scored.parts.items()}
                           if scored else None)
    return data


class SnippetsHandler(SemcacheHandler):
    """``GET snippets``: search (``q``) or list."""

    @tornado.web.authenticated
    async def get(self) -> None:
        query = self.get_argument("q", "").strip()
        namespace = self.get_argument("namespace", "").strip() or None
        limit = self.int_argument("limit", 50, 1, MAX_LIMIT)
        offset = self.int_argument("offset", 0, 0, MAX_OFFSET)
        sort = self.get_argument("sort", "").strip() or ("score" if query else "recent")
        cache = self.service.cache
        if query:
            if offset + limit > MAX_LIMIT:
                raise RequestFailed(400, f"a search returns at most {MAX_LIMIT} results",
                                    "lower offset or limit")
            if sort != "score":
                raise RequestFailed(400, f"sort={sort[:40]!r} does not apply to a search",
                                    "search results are ranked by score; drop q to list")
            hits = await self.call(cache.search, query, namespace=namespace,
                                   limit=offset + limit)
            items = [snippet_json(hit.snippet, hit) for hit in hits[offset:]]
        else:
            if sort not in LIST_SORTS:
                raise RequestFailed(400, f"unknown sort {sort[:40]!r}",
                                    "use recent, uses or votes (score needs a query q)")
            snippets = await self.call(cache.list_snippets, namespace=namespace, limit=limit,
                                       offset=offset, sort=sort)
            items = [snippet_json(s) for s in snippets]
        namespaces = await self.call(cache.namespaces, namespace)
        self.send_json({"snippets": items, "query": query, "sort": sort,
                        "namespaces": namespaces, "limit": limit, "offset": offset})

    @tornado.web.authenticated
    async def post(self) -> None:
        """Save code as a snippet (the sidebar's "Save cell as snippet")."""
        body = self.json_body()
        task = self.text_field(body, "task", required=True)
        code = self.text_field(body, "code", required=True)
        namespace = body.get("namespace") or None
        if namespace is not None and not isinstance(namespace, str):
            raise RequestFailed(400, "namespace must be a string")
        options = SaveOptions(source="manual", namespace=namespace,
                              tags=tuple(self.tags_field(body) or ()))
        saved = await self.call(self.service.cache.save, task, code, options)
        self.set_status(201 if saved.created else 200)
        self.send_json({**snippet_json(saved.snippet), "created": saved.created,
                        "redacted": saved.redacted})


class SnippetHandler(SemcacheHandler):
    """``GET`` / ``DELETE snippets/{id}``."""

    @tornado.web.authenticated
    async def get(self, snippet_id: str) -> None:
        snippet = await self.call(self.service.cache.get, snippet_id,
                                  namespace=self.namespace_argument())
        self.send_json(snippet_json(snippet))

    @tornado.web.authenticated
    async def put(self, snippet_id: str) -> None:
        """Edit the task, code or tags; a new task or code replaces the snippet."""
        body = self.json_body()
        edited = await self.call(
            self.service.cache.edit, snippet_id,
            task=self.text_field(body, "task", required=False),
            code=self.text_field(body, "code", required=False), tags=self.tags_field(body),
            namespace=self.namespace_argument())
        self.send_json({**snippet_json(edited.snippet), "replaced": edited.replaced,
                        "redacted": edited.redacted})

    @tornado.web.authenticated
    async def delete(self, snippet_id: str) -> None:
        snippet = await self.call(self.service.cache.delete, snippet_id,
                                  namespace=self.namespace_argument())
        self.send_json({"deleted": snippet.id})


class VoteHandler(SemcacheHandler):
    """``POST snippets/{id}/vote`` with ``{"direction": "up"|"down"}``."""

    @tornado.web.authenticated
    async def post(self, snippet_id: str) -> None:
        direction = self.json_body().get("direction")
        if direction not in ("up", "down"):
            raise RequestFailed(400, "direction must be \"up\" or \"down\"",
                                'send {"direction": "up"}')
        snippet = await self.call(self.service.cache.vote, snippet_id, direction == "up",
                                  namespace=self.namespace_argument())
        self.send_json(snippet_json(snippet))


class TagsHandler(SemcacheHandler):
    """``PUT snippets/{id}/tags`` with ``{"tags": [...]}``: replaces the tags."""

    @tornado.web.authenticated
    async def put(self, snippet_id: str) -> None:
        tags = self.tags_field(self.json_body())
        if tags is None:
            raise RequestFailed(400, "tags must be a list of strings",
                                'send {"tags": ["pandas", "cleaning"]}')
        snippet = await self.call(self.service.cache.set_tags, snippet_id, tags,
                                  namespace=self.namespace_argument())
        self.send_json(snippet_json(snippet))


class ExportHandler(SemcacheHandler):
    """``GET snippets/{id}/export``: a standalone ``.py`` file as a download."""

    @tornado.web.authenticated
    async def get(self, snippet_id: str) -> None:
        snippet = await self.call(self.service.cache.get, snippet_id,
                                  namespace=self.namespace_argument())
        # safe_name keeps [a-z0-9_] only: nothing to quote, no path in the name.
        self.set_header("Content-Disposition",
                        f'attachment; filename="{safe_name(snippet.task)}.py"')
        self.finish(render_script(snippet), set_content_type="text/x-python; charset=utf-8")


class StatsHandler(SemcacheHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        self.send_json(await self.call(self.service.cache.stats))


class NamespacesHandler(SemcacheHandler):
    """The namespaces holding snippets, where saves go, and what a lookup searches."""

    @tornado.web.authenticated
    async def get(self) -> None:
        cache = self.service.cache
        stored = await self.call(cache.stored_namespaces)
        searched = await self.call(cache.namespaces)
        self.send_json({
            "namespaces": stored,
            "search": searched,
            "save": resolve_namespace(None, cache.config),
        })


class VersionHandler(SemcacheHandler):
    """A number that changes whenever a snippet is written: the sidebar polls it."""

    @tornado.web.authenticated
    async def get(self) -> None:
        self.send_json({"version": await self.call(self.service.cache.version)})


def setup_handlers(web_app: Any, service: CacheService) -> None:
    """Add the routes to the server's tornado application."""
    web_app.settings[SETTINGS_KEY] = service
    base = url_path_join(web_app.settings.get("base_url", "/"), "semcache")
    one = r"snippets/(?P<snippet_id>[^/]+)"
    web_app.add_handlers(".*$", [
        (url_path_join(base, "snippets"), SnippetsHandler),
        (url_path_join(base, one), SnippetHandler),
        (url_path_join(base, one, "vote"), VoteHandler),
        (url_path_join(base, one, "tags"), TagsHandler),
        (url_path_join(base, one, "export"), ExportHandler),
        (url_path_join(base, "stats"), StatsHandler),
        (url_path_join(base, "namespaces"), NamespacesHandler),
        (url_path_join(base, "version"), VersionHandler),
    ])
