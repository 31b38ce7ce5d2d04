"""The local Messages-API server, spoken to over plain HTTP (no SDK)."""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from semcache_magic.demo import ModelServer, Reply, default_reply, substitute_literals
from semcache_magic.task import analyse_task

REPO = Path(__file__).resolve().parents[1]


def post(server: ModelServer, body: Any, *, path: str = "/v1/messages",
         key: str | None = "k") -> tuple[int, dict[str, str], bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def body(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-5-5", "max_tokens": 100,
            "messages": [{"role": "user", "content": text}], **extra}


def sse_events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for chunk in raw.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in chunk.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_json_reply_has_the_messages_api_shape(model_server):
    model_server.script("hello there")
    status, headers, raw = post(model_server, body("hi"))
    reply = json.loads(raw)
    assert status == 200 and headers["request-id"].startswith("req_local_")
    assert reply["type"] == "message" and reply["role"] == "assistant"
    assert reply["model"] == "claude-sonnet-5-5"
    assert reply["content"] == [{"type": "text", "text": "hello there"}]
    assert reply["stop_reason"] == "end_turn"
    assert reply["usage"]["input_tokens"] >= 1 and reply["usage"]["output_tokens"] >= 1


def test_stream_sends_events_in_api_order(model_server):
    model_server.script("```python\nprint('a fairly long line of code')\n```")
    status, headers, raw = post(model_server, body("hi", stream=True))
    events = sse_events(raw)
    names = [name for name, _ in events]
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [data["delta"]["text"] for name, data in events if name == "content_block_delta"]
    assert len(deltas) >= 3
    assert "".join(deltas) == "```python\nprint('a fairly long line of code')\n```"
    message_delta = events[-2][1]
    assert message_delta["delta"]["stop_reason"] == "end_turn"
    assert message_delta["usage"]["output_tokens"] >= 1


@pytest.mark.parametrize("status, error_type", [
    (401, "authentication_error"), (403, "permission_error"), (404, "not_found_error"),
    (429, "rate_limit_error"), (500, "api_error"), (529, "overloaded_error"),
])
def test_scripted_errors_have_anthropic_bodies(model_server, status, error_type):
    model_server.script(Reply.error(status, "nope"))
    got, headers, raw = post(model_server, body("hi"))
    assert got == status
    assert json.loads(raw) == {"type": "error", "error": {"type": error_type, "message": "nope"}}
    assert headers["retry-after-ms"] == "1"


def test_script_is_consumed_in_order_then_the_handler_then_the_rule(model_server):
    model_server.script("one", Reply.error(500))
    model_server.handler = lambda request: "from handler" if "handle" in str(request) else None
    texts = []
    for prompt in ("a", "b", "please handle", "<task>\nPrint 1\n</task>"):
        status, _, raw = post(model_server, body(prompt))
        texts.append((status, json.loads(raw).get("content", [{}])[0].get("text")))
    assert texts[0] == (200, "one")
    assert texts[1][0] == 500
    assert texts[2] == (200, "from handler")
    assert "no scripted answer for: Print 1" in str(texts[3][1])


def test_requests_are_recorded_and_cleared(model_server):
    post(model_server, body("first"))
    post(model_server, {"input": "x", "model": "m", "messages": []},
         path="/v1/messages/count_tokens")
    assert model_server.calls == 1
    assert [r.path for r in model_server.requests] == ["/v1/messages", "/v1/messages/count_tokens"]
    assert model_server.requests[0].user_text == "first"
    assert model_server.requests[0].headers["authorization"] == "Bearer k"
    model_server.clear()
    assert model_server.requests == [] and model_server.calls == 0


def test_count_tokens(model_server):
    status, _, raw = post(model_server, {"model": "m", "messages": [
        {"role": "user", "content": "x" * 400}]}, path="/v1/messages/count_tokens")
    assert status == 200 and json.loads(raw) == {"input_tokens": 100}


def test_the_api_checks_are_emulated(model_server):
    assert post(model_server, body("hi"), key=None)[0] == 401
    status, _, raw = post(model_server, body("hi", temperature=0.0))
    assert status == 400 and "temperature" in json.loads(raw)["error"]["message"]
    assert post(model_server, {"model": "m"})[0] == 400
    assert post(model_server, b"not json")[0] == 400
    assert post(model_server, body("hi"), path="/v1/complete")[0] == 404


def test_cache_reads_are_reported_for_a_seen_prefix(model_server):
    cached = {"model": "m", "max_tokens": 10, "system": [
        {"type": "text", "text": "S" * 400, "cache_control": {"type": "ephemeral"}}]}
    first = json.loads(post(model_server, dict(cached, messages=[
        {"role": "user", "content": "a" * 40}]))[2])["usage"]
    second = json.loads(post(model_server, dict(cached, messages=[
        {"role": "user", "content": "b" * 80}]))[2])["usage"]
    assert first["cache_creation_input_tokens"] > 0 and first["cache_read_input_tokens"] == 0
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
    assert second["cache_creation_input_tokens"] == 0
    assert second["input_tokens"] == 20


def test_slow_replies_do_not_block_stop():
    server = ModelServer().start()
    server.script(Reply.slow("late", 30.0))
    def call() -> None:
        with contextlib.suppress(OSError):  # the stopping server drops the connection
            post(server, body("hi"))

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    while server.calls == 0:
        time.sleep(0.005)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2.0


def test_replies_are_not_delayed_by_nagle(model_server):
    post(model_server, body("warm up"))
    timings = []
    for _ in range(9):
        started = time.perf_counter()
        post(model_server, body("hi"))
        timings.append(time.perf_counter() - started)
    # With Nagle on, every reply waits ~40 ms for the delayed ACK.
    assert statistics.median(timings) < 0.03


# -- the default rule -------------------------------------------------------------------------
def adapt_body(new_task: str, ref_task: str, ref_code: str) -> dict[str, Any]:
    text = (f"<reference_task>\n{ref_task}\n</reference_task>\n<reference_code>\n{ref_code}\n"
            f"</reference_code>\n\nAdapt the reference to <task>.\n\n<task>\n{new_task}\n</task>")
    return body(text)


def test_default_rule_substitutes_literals_position_by_position():
    reply = default_reply(adapt_body("Use Python to add 5 and 3", "Use Python to add 99 and 1",
                                     "print(99 + 1)"))
    assert reply.text == "```python\nprint(5 + 3)\n```"


def test_default_rule_says_unchanged_for_the_same_values():
    reply = default_reply(adapt_body("add 99 and 1", "Add 99 and 1.", "print(99 + 1)"))
    assert reply.text == "<unchanged/>"


def test_default_rule_repairs_by_returning_the_code():
    text = "<code>\nprint(1)\n</code>\n\n<task>\nPrint 1\n</task>\n\n<error>\nBoom\n</error>"
    assert default_reply(body(text)).text == "```python\nprint(1)\n```"


def test_substitute_literals_is_simultaneous_and_quote_aware():
    old = analyse_task("add 99 and 1 to 'north.csv'").literals
    new = analyse_task("add 1 and 7 to 'south.csv'").literals
    code = "import pandas as pd\ndf = pd.read_csv('north.csv')\nprint(99 + 1, 1.5, x1)\n"
    assert substitute_literals(code, old, new) == (
        "import pandas as pd\ndf = pd.read_csv('south.csv')\nprint(1 + 7, 1.5, x1)\n"
    )
    twice = analyse_task("add 1 and 1").literals
    assert substitute_literals("print(1 + 1)", twice, analyse_task("add 2 and 3").literals) == (
        "print(2 + 3)"
    )


def test_cli_prints_its_url_and_serves(tmp_path):
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"Print 42": "print(42)"}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "semcache_magic.demo.model_server", "--answers", str(answers)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        request = urllib.request.Request(
            url + "/v1/messages", data=json.dumps(body("<task>\nprint 42\n</task>")).encode(),
            headers={"Authorization": "Bearer k", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["content"][0]["text"] == (
                "```python\nprint(42)\n```"
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
