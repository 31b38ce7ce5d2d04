"""A local server speaking the Anthropic Messages API, for tests and demos.

The real anthropic SDK talks to it through ``base_url``; nothing is mocked
inside the process. It answers ``POST /v1/messages`` in JSON or, when the body
asks for ``"stream": true``, as server-sent events in the API's order, and
``POST /v1/messages/count_tokens``. Every request is recorded, so a test can
assert on what was sent::

    with ModelServer() as server:
        server.script("```python\\nprint(8)\\n```", Reply.error(429))
        adapter = ClaudeAdapter(SemCache(base_url=server.url), api_key="test")
        ...
        assert "<constraints>" in server.last.text

A reply comes from, in order: the script queue (:meth:`ModelServer.script`),
the ``handler`` callable, and the built-in rule (:func:`default_reply`): adapt
requests get the reference code with the new task's literals substituted,
generate requests look the task up in ``answers``, repair requests get the code
back. Token counts are rough (characters / 4), and a cached prefix seen before
is reported as ``cache_read_input_tokens``. Standard library only, so the
quickstart notebook can start it too; from a shell::

    python -m semcache_magic.demo.model_server --port 8765 --answers answers.json
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..model import extract_section
from ._answers import ERROR_TYPES, Reply, default_reply, task_key, text_blocks, texts, user_text

__all__ = ["ERROR_TYPES", "ModelServer", "RecordedRequest", "Reply"]

# API version 2026-10-21 rejects sampling parameters with a 400; so does this server,
# so a client that sends them fails here as it would against the real API.
_REJECTED_FIELDS = ("temperature", "top_p", "top_k")

Handler = Callable[[dict[str, Any]], "Reply | str | None"]


@dataclass
class RecordedRequest:
    """One request as the server received it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def system_text(self) -> str:
        return "\n".join(texts(self.body.get("system") if isinstance(self.body, dict) else None))

    @property
    def user_text(self) -> str:
        return user_text(self.body)

    @property
    def text(self) -> str:
        """System prompt and messages, as one string to search."""
        return f"{self.system_text}\n{self.user_text}"

    def section(self, tag: str) -> str | None:
        """The first ``<tag>`` section of the user message."""
        return extract_section(self.user_text, tag)


class ModelServer:
    """A Messages-API server on 127.0.0.1 in a daemon thread; a context manager."""

    def __init__(
        self, *, answers: Mapping[str, str] | None = None, port: int = 0,
        handler: Handler | None = None, chunk_size: int = 12,
    ) -> None:
        self.answers = {task_key(k): v for k, v in (answers or {}).items()}
        self.handler = handler
        self.chunk_size = max(1, chunk_size)
        self._port = port
        self._lock = threading.Lock()
        self._script: deque[Reply] = deque()
        self._requests: list[RecordedRequest] = []
        self._seen_prefixes: set[str] = set()
        self._open_sockets: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -----------------------------------------------------------------
    def start(self) -> ModelServer:
        if self._httpd is None:
            self._stopping.clear()
            self._httpd = _HTTPServer(("127.0.0.1", self._port), _RequestHandler)
            self._httpd.model = self
            # A short poll interval keeps stop() fast (shutdown waits for one poll).
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                name="semcache-model-server", daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes delayed replies so shutdown does not wait for them
        httpd.shutdown()
        httpd.server_close()
        with self._lock:  # idle keep-alive connections would keep their threads waiting
            open_sockets, self._open_sockets = self._open_sockets, set()
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The ``base_url`` for the SDK."""
        if self._httpd is None:
            raise RuntimeError("the model server is not running; call start()")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # -- scripting and inspection -----------------------------------------------------
    def script(self, *replies: Reply | str) -> None:
        """Queue replies, consumed one per ``/v1/messages`` call, before any rule."""
        with self._lock:
            self._script.extend(r if isinstance(r, Reply) else Reply(text=r) for r in replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def calls(self) -> int:
        """How many ``POST /v1/messages`` requests arrived."""
        with self._lock:
            return sum(1 for r in self._requests if r.path == "/v1/messages")

    @property
    def last(self) -> RecordedRequest:
        with self._lock:
            if not self._requests:
                raise LookupError("the model server has received no request")
            return self._requests[-1]

    def clear(self) -> None:
        """Forget recorded requests, pending script and the prompt cache."""
        with self._lock:
            self._requests.clear()
            self._script.clear()
            self._seen_prefixes.clear()

    # -- answering ----------------------------------------------------------------------
    def reply_for(self, body: dict[str, Any]) -> Reply:
        """The reply to a messages request: script, else handler, else the default rule."""
        with self._lock:
            scripted = self._script.popleft() if self._script else None
        if scripted is not None:
            return scripted
        if self.handler is not None:
            answer = self.handler(body)
            if answer is not None:
                return answer if isinstance(answer, Reply) else Reply(text=answer)
        return default_reply(body, self.answers)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _usage(self, body: dict[str, Any], output_text: str) -> dict[str, int]:
        """Rough token counts, with the prompt cache simulated per cached prefix."""
        blocks = text_blocks(body.get("system")) + [
            b for m in body.get("messages", []) if isinstance(m, dict)
            for b in text_blocks(m.get("content"))
        ]
        # Each cache_control block ends a cacheable prefix: (key, length in characters).
        prefixes: list[tuple[str, int]] = []
        key, chars = str(body.get("model", "")), 0
        for block in blocks:
            text = str(block.get("text", ""))
            key, chars = f"{key}\x00{text}", chars + len(text)
            if block.get("cache_control"):
                prefixes.append((key, chars))
        with self._lock:
            read = max((n for k, n in prefixes if k in self._seen_prefixes), default=0)
            self._seen_prefixes.update(k for k, _ in prefixes)
        cached = prefixes[-1][1] if prefixes else 0
        return {
            "input_tokens": max(1, (chars - cached) // 4),
            "output_tokens": max(1, len(output_text) // 4),
            "cache_creation_input_tokens": (cached - read) // 4,
            "cache_read_input_tokens": read // 4,
        }


def _validation_error(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "the request body is not a JSON object"
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            return f"{name}: Field required"
    for name in _REJECTED_FIELDS:
        if name in body:
            return f"{name}: Extra inputs are not permitted"
    return None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a client that hangs up must not keep the process alive
    model: ModelServer


class _RequestHandler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    disable_nagle_algorithm = True  # without it every reply waits ~40 ms for a delayed ACK

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read .requests
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.model._lock:
            self.server.model._open_sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.model._lock:
            self.server.model._open_sockets.discard(self.connection)
        with contextlib.suppress(OSError):  # the client may already have hung up
            super().finish()

    def do_GET(self) -> None:
        self._record(None)
        self._send_error(Reply.error(404, f"no route GET {self.path}"))

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self._record(body)
        model = self.server.model
        path = self.path.split("?", 1)[0]
        if path not in ("/v1/messages", "/v1/messages/count_tokens"):
            return self._send_error(Reply.error(404, f"no route POST {path}"))
        if not (self.headers.get("Authorization") or self.headers.get("X-Api-Key")):
            return self._send_error(Reply.error(401, "no API key in the request"))
        problem = _validation_error(body) if path == "/v1/messages" else None
        if problem or not isinstance(body, dict):
            return self._send_error(Reply.error(400, problem or "the body is not a JSON object"))
        if path.endswith("/count_tokens"):
            usage = model._usage(body, "")
            tokens = usage["input_tokens"] + usage["cache_creation_input_tokens"]
            return self._send_json(200, {"input_tokens": tokens + usage["cache_read_input_tokens"]})
        reply = model.reply_for(body)
        if reply.delay and model._stopping.wait(reply.delay):
            return  # the server is stopping; the client gets a dropped connection
        try:
            if reply.raw is not None:
                self._send_bytes(reply.status, reply.raw, reply.content_type, reply.headers)
            elif reply.error_type and not (reply.mid_stream and body.get("stream")):
                self._send_error(reply)
            elif body.get("stream"):
                self._send_stream(body, reply)
            else:
                self._send_json(200, self._message(body, reply), reply.headers)
        except OSError:  # the client gave up (timeout) and closed the socket
            self.close_connection = True

    def _record(self, body: Any) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        path = self.path.split("?", 1)[0]
        self.server.model._record(RecordedRequest(self.command, path, headers, body))

    def _message(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        return {
            "id": f"msg_local_{uuid.uuid4().hex[:16]}", "type": "message", "role": "assistant",
            "model": str(body.get("model", "")),
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": reply.stop_reason, "stop_sequence": None,
            "usage": self.server.model._usage(body, reply.text),
        }

    def _send_stream(self, body: dict[str, Any], reply: Reply) -> None:
        message = self._message(body, reply)
        usage = message["usage"]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")  # no Content-Length: the end is the close
        self.send_header("request-id", f"req_local_{uuid.uuid4().hex[:12]}")
        self.end_headers()
        self.close_connection = True
        start = dict(message, content=[], stop_reason=None,
                     usage=dict(usage, output_tokens=1))
        self._event("message_start", {"type": "message_start", "message": start})
        self._event("ping", {"type": "ping"})
        if reply.error_type:
            self._event("error", reply.error_body())
            return
        self._event("content_block_start", {"type": "content_block_start", "index": 0,
                                            "content_block": {"type": "text", "text": ""}})
        size = self.server.model.chunk_size
        for chunk in (reply.text[i : i + size] for i in range(0, len(reply.text), size)):
            if reply.chunk_delay and self.server.model._stopping.wait(reply.chunk_delay):
                return
            self._event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                "delta": {"type": "text_delta", "text": chunk}})
        self._event("content_block_stop", {"type": "content_block_stop", "index": 0})
        self._event("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        })
        self._event("message_stop", {"type": "message_stop"})

    def _event(self, name: str, data: dict[str, Any]) -> None:
        self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def _send_error(self, reply: Reply) -> None:
        # A tiny retry-after keeps the SDK's own retries (429, 5xx) fast in tests.
        headers = {"retry-after-ms": "1", **reply.headers}
        self._send_json(reply.status, reply.error_body(), headers)

    def _send_json(self, status: int, data: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(data).encode(), "application/json", headers)

    def _send_bytes(
        self, status: int, payload: bytes, content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("request-id", f"req_local_{uuid.uuid4().hex[:12]}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()
