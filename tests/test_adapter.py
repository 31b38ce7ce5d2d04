"""The Claude adapter, through the real anthropic SDK against the local model server."""

from __future__ import annotations

import contextlib
import io
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_model import TEST_API_KEY

from semcache_magic.config import DEFAULT_PRICES, SemCache
from semcache_magic.demo import ModelServer, Reply
from semcache_magic.errors import (
    AdaptationError,
    ConfigurationError,
    MalformedAnswerError,
    ModelAuthError,
    ModelConnectionError,
    ModelNotFoundError,
    ModelOverloadedError,
    ModelRateLimitError,
    ModelServerError,
    ModelTimeoutError,
)
from semcache_magic.model import Adaptation, ClaudeAdapter, CodeContext, Usage, estimate_cost
from semcache_magic.model import _prompts as prompts
from semcache_magic.snippet import Snippet
from semcache_magic.task import analyse_task

REPO = Path(__file__).resolve().parents[1]


def make_snippet(task: str, code: str, **extra: object) -> Snippet:
    analysis = analyse_task(task)
    return Snippet(
        id="ref-1", namespace="user:test", task=task, task_norm=analysis.normalised,
        template=analysis.template, template_hash=analysis.template_hash,
        task_hash=analysis.task_hash("user:test"), code=code, code_hash="x",
        literals=analysis.literals, **extra,  # type: ignore[arg-type]
    )


def run(code: str) -> str:
    """Run adapted code here, as the kernel would, and return what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<adapted>", "exec"), {})
    return out.getvalue()


ADD_REF = make_snippet("Use Python to add 99 and 1", "print(99 + 1)\n")


# -- the near-miss guard ------------------------------------------------------------------
def test_near_miss_guard_reaches_the_model(claude_adapter, model_server):
    result = claude_adapter.adapt(analyse_task("Use Python to add 5 and 3"), ADD_REF)

    sent = model_server.last
    assert sent.path == "/v1/messages"
    assert sent.section("reference_code") == "print(99 + 1)"
    assert sent.section("reference_task") == "Use Python to add 99 and 1"
    assert sent.section("task") == "Use Python to add 5 and 3"
    constraints = sent.section("constraints")
    assert constraints is not None
    assert "Use exactly these values from the task: 5, 3" in constraints
    assert "- 5 (number)" in constraints and "- 3 (number)" in constraints
    assert "99" not in constraints
    # ... and the default rule answers with the new values, not the reference's.
    assert result.kind == "adapt" and not result.unchanged
    assert result.code == "print(5 + 3)\n"
    assert run(result.code) == "8\n"
    assert result.request_id and result.request_id.startswith("req_local_")


def test_adapt_request_marks_the_cached_prefix(claude_adapter, model_server, model_config):
    context = CodeContext(input_schema={"df": "DataFrame"}, libraries=["pandas", "numpy"])
    claude_adapter.adapt(analyse_task("Use Python to add 5 and 3"), ADD_REF, context=context)

    body = model_server.last.body
    assert body["model"] == model_config.model == "claude-sonnet-5-5"
    assert body["max_tokens"] == model_config.max_tokens
    assert "temperature" not in body and "stream" not in body
    assert body["system"] == [
        {"type": "text", "text": prompts.SYSTEM_PROMPT, "cache_control": {"type": "ephemeral"}}
    ]
    reference_block, instructions_block = body["messages"][0]["content"]
    assert reference_block["cache_control"] == {"type": "ephemeral"}
    assert "<reference_code>" in reference_block["text"]
    assert "cache_control" not in instructions_block  # the task changes every call
    assert "<task>" in instructions_block["text"]
    inputs = model_server.last.section("inputs") or ""
    assert "- df: DataFrame" in inputs
    assert model_server.last.section("libraries") == "Installed in the kernel: numpy, pandas"
    assert model_server.last.headers["authorization"] == f"Bearer {TEST_API_KEY}"


# -- generate, repair, stream --------------------------------------------------------------
def test_generate_uses_the_servers_answers():
    answers = {"Print the squares of 1 to 3": "for i in range(1, 4):\n    print(i * i)"}
    with ModelServer(answers=answers) as server:
        adapter = ClaudeAdapter(SemCache(base_url=server.url, max_retries=0), api_key="k")
        result = adapter.generate(analyse_task("print the squares of 1 to 3."))
        missing = adapter.generate(analyse_task("Plot a sine wave"))
        sent = server.requests[0]

    assert result.kind == "generate" and not result.unchanged
    assert run(result.code) == "1\n4\n9\n"
    assert sent.section("reference_code") is None
    assert sent.section("task") == "print the squares of 1 to 3."
    assert "no scripted answer" in run(missing.code)


def test_repair_sends_code_and_clean_error(claude_adapter, model_server):
    traceback = "\x1b[0;31mNameError\x1b[0m: name 'x' is not defined"
    model_server.script("```python\nx = 2\nprint(x * 4)\n```")

    result = claude_adapter.repair(analyse_task("Print 8"), "print(x * 4)\n", traceback)

    assert result.kind == "repair" and result.code == "x = 2\nprint(x * 4)\n"
    sent = model_server.last
    assert sent.section("code") == "print(x * 4)"
    assert sent.section("error") == "NameError: name 'x' is not defined"  # ANSI stripped
    assert sent.body["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}


def test_repair_default_rule_returns_the_code(claude_adapter):
    result = claude_adapter.repair(analyse_task("Print 1"), "print(1)\n", "Boom")
    assert result.code == "print(1)\n"


def test_streaming_passes_text_as_it_arrives(claude_adapter, model_server):
    chunks: list[str] = []
    result = claude_adapter.adapt(
        analyse_task("Use Python to add 5 and 3"), ADD_REF, on_text=chunks.append
    )

    assert model_server.last.body["stream"] is True
    assert len(chunks) >= 3
    assert "".join(chunks) == result.text == "```python\nprint(5 + 3)\n```"
    assert result.code == "print(5 + 3)\n"
    assert result.request_id and result.request_id.startswith("req_local_")


def test_a_failing_on_text_does_not_lose_the_answer(claude_adapter, caplog):
    def broken(chunk: str) -> None:
        raise RuntimeError("widget gone")

    result = claude_adapter.generate(analyse_task("Use Python to add 5 and 3"), on_text=broken)
    assert result.code.startswith("print(")
    assert "on_text callback failed" in caplog.text


# -- the unchanged signal -------------------------------------------------------------------
def test_unchanged_signal_returns_the_reference_code(claude_adapter, model_server):
    result = claude_adapter.adapt(analyse_task("use python to ADD 99 and 1!"), ADD_REF)

    assert model_server.last.section("reference_code") == "print(99 + 1)"
    assert result.text == prompts.UNCHANGED_TOKEN
    assert result.unchanged is True
    assert result.code == ADD_REF.code


def test_unchanged_is_refused_when_the_reference_lacks_the_new_values(claude_adapter, model_server):
    model_server.script(prompts.UNCHANGED_TOKEN)
    with pytest.raises(MalformedAnswerError, match="lacks the task's values 5, 3"):
        claude_adapter.adapt(analyse_task("Use Python to add 5 and 3"), ADD_REF)


def test_unchanged_guard_matches_whole_numbers(claude_adapter, model_server):
    reference = make_snippet("Print 15 and 1", "print(15, 1)\n")
    model_server.script(prompts.UNCHANGED_TOKEN)
    with pytest.raises(MalformedAnswerError, match=r"values 5$"):
        claude_adapter.adapt(analyse_task("Print 5 and 1"), reference)


def test_code_identical_to_the_reference_counts_as_unchanged(claude_adapter, model_server):
    model_server.script("```python\nprint(99 + 1)\n```")
    result = claude_adapter.adapt(analyse_task("Add 99 and 1 in Python"), ADD_REF)
    assert result.unchanged is True and result.code == ADD_REF.code


# -- accounting ------------------------------------------------------------------------------
def test_usage_records_cache_writes_then_reads_and_cost(claude_adapter):
    task = analyse_task("Use Python to add 5 and 3")
    first = claude_adapter.adapt(task, ADD_REF)
    second = claude_adapter.adapt(analyse_task("Use Python to add 7 and 2"), ADD_REF)

    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
    assert first.usage.cache_creation_input_tokens > 0
    assert first.usage.cache_read_input_tokens == 0
    # The same system prompt + reference: the second call reads the cached prefix.
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    price = DEFAULT_PRICES["claude-sonnet"]
    u = first.usage
    expected = (u.input_tokens * price["input"] + u.output_tokens * price["output"]
                + u.cache_creation_input_tokens * price["cache_write"]) / 1e6
    assert u.cost_usd == pytest.approx(expected)
    assert second.usage.cost_usd < first.usage.cost_usd
    assert first.duration_s > 0
    data = first.to_json()
    assert data["usage"]["cost_usd"] == u.cost_usd and data["kind"] == "adapt"


def test_unknown_model_costs_nothing_but_still_answers(model_server):
    config = SemCache(base_url=model_server.url, max_retries=0, model="my-gateway-model")
    result = ClaudeAdapter(config, api_key="k").generate(analyse_task("Print 1"))
    assert result.model == "my-gateway-model"
    assert result.usage.cost_usd == 0.0 and result.usage.input_tokens > 0


def test_estimate_cost_uses_the_longest_prefix():
    prices = {"claude": {"input": 1.0}, "claude-opus": {"input": 10.0, "output": 20.0}}
    usage = Usage(input_tokens=1_000_000, output_tokens=500_000)
    assert estimate_cost("claude-opus-5-5", usage, prices) == pytest.approx(20.0)
    assert estimate_cost("claude-haiku-5-5", usage, prices) == pytest.approx(1.0)
    assert estimate_cost("us.anthropic.claude-opus-5-5-v1:0", usage, prices) == pytest.approx(20.0)
    assert estimate_cost("gpt-x", usage, prices) == 0.0
    with pytest.raises(ConfigurationError):
        estimate_cost("claude-1", usage, {"claude": {"input": "cheap"}})


# -- configuration and keys ---------------------------------------------------------------------
def test_no_key_fails_before_any_request(model_server):
    adapter = ClaudeAdapter(SemCache(base_url=model_server.url))
    with pytest.raises(ModelAuthError, match="no Anthropic API key") as info:
        adapter.generate(analyse_task("Print 1"))
    assert "ANTHROPIC_API_KEY" in info.value.hint
    assert model_server.calls == 0


def test_key_and_endpoint_come_from_the_environment(model_env, monkeypatch):
    result = ClaudeAdapter(SemCache(max_retries=0)).generate(analyse_task("Print 1"))
    assert result.code
    assert model_env.last.headers["authorization"] == f"Bearer {TEST_API_KEY}"

    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "token-123")
    ClaudeAdapter(SemCache(max_retries=0)).generate(analyse_task("Print 1"))
    assert model_env.last.headers["authorization"] == "Bearer token-123"


def test_base_url_argument_wins_over_config(model_server):
    config = SemCache(base_url="http://127.0.0.1:9", max_retries=0)
    adapter = ClaudeAdapter(config, api_key="k", base_url=model_server.url)
    adapter.generate(analyse_task("Print 1"))
    assert model_server.calls == 1


def test_unknown_provider_is_a_configuration_error():
    adapter = ClaudeAdapter(SemCache(provider="openai"), api_key="k")
    with pytest.raises(ConfigurationError, match="unknown model provider"):
        adapter.generate(analyse_task("Print 1"))


class _Hide:
    """An import finder that makes the named packages look uninstalled."""

    def __init__(self, *names: str) -> None:
        self.names = names

    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name.split(".")[0] in self.names or name in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


@pytest.mark.parametrize("provider, hidden", [("bedrock", ("boto3", "botocore")),
                                              ("vertex", ("google",))])
def test_cloud_provider_without_its_extra_says_what_to_install(provider, hidden, monkeypatch):
    # The test extras may well install boto3 (moto needs it): hide it, so this path runs.
    monkeypatch.setattr(sys, "meta_path", [_Hide(*hidden), *sys.meta_path])
    for name in list(sys.modules):
        if name.split(".")[0] in hidden:
            monkeypatch.delitem(sys.modules, name)
    adapter = ClaudeAdapter(SemCache(provider=provider))
    with pytest.raises(ConfigurationError, match=f"anthropic\\[{provider}\\]") as info:
        adapter.generate(analyse_task("Print 1"))
    assert f"semcache-magic[{provider}]" in info.value.hint


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "status, error_class, words",
    [
        (401, ModelAuthError, "API key was refused (401"),
        (403, ModelAuthError, "may not use model 'claude-sonnet-5-5' (403"),
        (404, ModelNotFoundError, "model 'claude-sonnet-5-5' was not found (404"),
        (500, ModelServerError, "the API failed (500"),
        (529, ModelOverloadedError, "overloaded (529"),
        (400, AdaptationError, "rejected the request (400"),
    ],
)
@pytest.mark.parametrize("streaming", [False, True])
def test_error_statuses_map_to_our_errors(
    claude_adapter, model_server, status, error_class, words, streaming
):
    import anthropic

    model_server.script(Reply.error(status, "scripted failure"))
    on_text = [].append if streaming else None
    with pytest.raises(error_class) as info:
        claude_adapter.generate(analyse_task("Print 1"), on_text=on_text)
    err = info.value
    assert words in str(err) and "scripted failure" in str(err)
    assert "\n" not in str(err) and err.hint
    assert isinstance(err.__cause__, anthropic.APIStatusError)


def test_rate_limit_is_raised_after_the_sdks_retries(model_server):
    config = SemCache(base_url=model_server.url, max_retries=2)
    model_server.script(*[Reply.error(429)] * 3)
    with pytest.raises(ModelRateLimitError, match=r"rate limited \(429.*after 2 retries"):
        ClaudeAdapter(config, api_key="k").generate(analyse_task("Print 1"))
    assert model_server.calls == 3  # the SDK retried; we did not loop ourselves


def test_a_transient_error_is_retried_by_the_sdk(model_server):
    config = SemCache(base_url=model_server.url, max_retries=1)
    model_server.script(Reply.error(529), "```python\nprint(1)\n```")
    result = ClaudeAdapter(config, api_key="k").generate(analyse_task("Print 1"))
    assert result.code == "print(1)\n" and model_server.calls == 2


def test_overloaded_mid_stream(claude_adapter, model_server):
    model_server.script(Reply.error(529, mid_stream=True))
    with pytest.raises(ModelOverloadedError, match=r"overloaded .*mid-answer"):
        claude_adapter.generate(analyse_task("Print 1"), on_text=[].append)


def test_timeout_with_a_slow_reply(model_server):
    config = SemCache(base_url=model_server.url, max_retries=0, model_timeout=0.2)
    model_server.script(Reply.slow("```python\nprint(1)\n```", delay=3.0))
    with pytest.raises(ModelTimeoutError, match=r"within 0\.2 s") as info:
        ClaudeAdapter(config, api_key="k").generate(analyse_task("Print 1"))
    assert isinstance(info.value, TimeoutError)


def test_connection_refused():
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = SemCache(base_url=f"http://127.0.0.1:{port}", max_retries=0)
    with pytest.raises(ModelConnectionError, match=f"127.0.0.1:{port}") as info:
        ClaudeAdapter(config, api_key="k").generate(analyse_task("Print 1"))
    assert isinstance(info.value, ConnectionError)


# -- malformed answers ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "answer, words",
    [
        ("Sure! You can add them with the + operator.", "no ```python code block"),
        ("```python\n\n   \n```", "empty program"),
        ("```python\n# nothing to do\n```", "no statements"),
        ("```python\nprint(5 +\n```", "does not parse (SyntaxError"),
        ("```bash\npip install numpy\n```", "no Python code block (only bash)"),
        ("```python\nprint(1)\n", "not closed"),
        ("", "answer is empty"),
    ],
)
def test_malformed_answers_are_clear_errors(claude_adapter, model_server, answer, words):
    model_server.script(answer)
    with pytest.raises(MalformedAnswerError) as info:
        claude_adapter.generate(analyse_task("Print 1"))
    assert words in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(
    "reply",
    [
        Reply.garbage("this is not JSON"),
        Reply.garbage("data: nonsense\n\n", content_type="text/event-stream"),
        Reply.garbage('{"type": "message"}'),
    ],
)
def test_garbage_bodies_are_malformed_answers(claude_adapter, model_server, reply, streaming):
    model_server.script(reply)
    with pytest.raises(MalformedAnswerError, match=r"endpoint's answer|ended without"):
        claude_adapter.generate(analyse_task("Print 1"), on_text=[].append if streaming else None)


def test_an_answer_cut_off_at_max_tokens(claude_adapter, model_server):
    model_server.script(Reply(text="```python\nprint(1)\n```", stop_reason="max_tokens"))
    with pytest.raises(MalformedAnswerError, match="cut off at max_tokens=4096") as info:
        claude_adapter.generate(analyse_task("Print 1"))
    assert "max_tokens" in info.value.hint


# -- prompts and extraction (no network) ------------------------------------------------------
def test_extract_code_prefers_the_first_python_block():
    answer = (
        "Here:\n```bash\nls\n```\n```\nprint(0)\n```\n```python\nprint(1)\n```\n"
        "```python\nx\n```"
    )
    assert prompts.extract_code(answer) == "print(1)\n"
    assert prompts.extract_code("```\nprint(2)\n```") == "print(2)\n"
    assert prompts.extract_code("```py\n    print(3)\n```") == "print(3)\n"


def test_extract_code_accepts_what_a_kernel_runs():
    assert prompts.extract_code("```python\n%matplotlib inline\nprint(1)\n```")
    assert prompts.extract_code("```python\nimport asyncio\nawait asyncio.sleep(0)\n```")


def test_is_unchanged():
    assert prompts.is_unchanged("<unchanged/>")
    assert prompts.is_unchanged("`<unchanged/>`\n")
    assert prompts.is_unchanged("The reference already does this.\n<unchanged/>")
    assert not prompts.is_unchanged("<unchanged/>\n```python\nprint(1)\n```")
    assert not prompts.is_unchanged("```python\nprint(1)\n```")


def test_string_literals_are_shown_as_python_strings():
    blocks = prompts.generate_message(analyse_task("Load 'sales.csv' and keep 10 rows"))
    text = blocks[0]["text"]
    assert "Use exactly these values from the task: 'sales.csv', 10" in text
    assert "- 'sales.csv' (string)" in text


def test_adaptation_to_json_round_trips_plain_data():
    result = Adaptation(kind="generate", code="print(1)\n", unchanged=False, text="t",
                        model="m", usage=Usage(1, 2, 3, 4, 0.5), duration_s=0.1, request_id=None)
    assert result.to_json()["usage"] == {
        "input_tokens": 1, "output_tokens": 2, "cache_creation_input_tokens": 3,
        "cache_read_input_tokens": 4, "cost_usd": 0.5,
    }


def test_importing_the_adapter_does_not_import_anthropic():
    code = (
        "import sys\n"
        "import semcache_magic.model, semcache_magic.demo\n"
        "from semcache_magic.model import ClaudeAdapter\n"
        "ClaudeAdapter()\n"
        "print('anthropic' in sys.modules, 'httpx2' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False False"
