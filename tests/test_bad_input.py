"""Bad input: each gives a clear error and loses nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fixtures_magic import cache_of, magic, magics_of
from IPython.core.error import UsageError

from semcache_magic.cli import main
from semcache_magic.demo import ModelServer
from semcache_magic.errors import KernelStartError, MalformedAnswerError, TransferError

pytestmark = pytest.mark.slow


def test_a_one_megabyte_task_is_refused_clearly(ip: Any, model_env: ModelServer) -> None:
    huge = "Print this: " + "x" * 1_000_000
    with pytest.raises(UsageError, match="limit"):
        magic(ip, "", huge)
    assert model_env.calls == 0 and cache_of(ip).store.count() == 0


def test_cli_rejects_huge_and_undecodable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], real_embedder: Any
) -> None:
    assert main(["lookup", "y" * 1_000_000]) == 1
    err = capsys.readouterr().err
    assert "limit" in err and len(err.splitlines()) == 1
    bad_code = tmp_path / "bad.py"
    bad_code.write_bytes(b"print('\xff\xfe')\n")
    assert main(["add", "--task", "Print bytes", "--code-file", str(bad_code)]) == 1
    assert "not UTF-8" in capsys.readouterr().err
    bad_jsonl = tmp_path / "bad.jsonl"
    bad_jsonl.write_bytes(b'{"task": "ok", "code": "print(1)"}\n\xff\xfe\n')
    assert main(["add", "--jsonl", str(bad_jsonl)]) == 1
    assert "not UTF-8" in capsys.readouterr().err
    assert main(["list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # nothing half-imported


def test_non_picklable_input_is_named_and_nothing_runs(
    ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import threading

    cache_of(ip).save("Print the lock", "print('ran', lock)")
    ip.user_ns["lock"] = threading.Lock()
    with pytest.raises(TransferError, match="lock"):
        magic(ip, "--in lock", "Print the lock")
    assert "ran" not in capsys.readouterr().out
    assert cache_of(ip).store.count() == 1


def test_huge_output_is_cut_and_reported(ip: Any, capsys: pytest.CaptureFixture[str]) -> None:
    runner_config = magics_of(ip).pipeline.runner().config  # the session's shared runner
    limit, runner_config.output_limit = runner_config.output_limit, 100_000
    magics_of(ip).settings.output_limit = 100_000
    try:
        cache_of(ip).save("Print a lot", "for i in range(50000):\n    print('line', i)\n")
        magic(ip, "", "Print a lot")
    finally:
        runner_config.output_limit = limit
    out = capsys.readouterr().out
    assert "warning: the output was cut" in out
    assert len(out) < 300_000


@pytest.mark.parametrize("line", ["--in 'a b'", "--out x,,1y", "--timeout -3", "--top-k 1.5",
                                  "--max-repairs -1", "--threshold high"])
def test_bad_options_are_usage_errors(ip: Any, line: str) -> None:
    with pytest.raises(UsageError):
        magic(ip, line, "Print 1")


@pytest.mark.parametrize("line", ["--timeout nan", "--timeout 0", "--timeout inf",
                                  "--threshold nan", "--threshold inf", "--threshold -5",
                                  "--top-k -3", "--max-repairs 999999999999",
                                  '--namespace "abc', "--in 'unclosed"])
def test_bad_numbers_and_quoting_stop_before_anything_runs(
    ip: Any, model_env: ModelServer, capsys: pytest.CaptureFixture[str], line: str
) -> None:
    with pytest.raises(UsageError) as caught:
        magic(ip, line, "Print the number 41 plus 1")
    assert len(str(caught.value).splitlines()) == 1
    assert model_env.calls == 0 and cache_of(ip).store.count() == 0


def test_an_unknown_kernel_fails_before_the_model_is_paid(
    ip: Any, model_env: ModelServer
) -> None:
    with pytest.raises(KernelStartError, match="no-such-kernel"):
        magic(ip, "--kernel no-such-kernel", "Print the number 41 plus 1")
    assert model_env.calls == 0 and cache_of(ip).store.count() == 0


def test_a_bad_timeout_through_the_api_fails_before_the_model_is_paid(
    ip: Any, model_env: ModelServer
) -> None:
    from semcache_magic.errors import ConfigurationError
    from semcache_magic.outcome import TaskRequest

    pipeline = magics_of(ip).pipeline
    with pytest.raises(ConfigurationError, match="timeout"):
        pipeline.run(TaskRequest(task="Print the number 41 plus 1", timeout=0))
    assert model_env.calls == 0


def test_an_oversized_answer_is_refused_and_nothing_runs(
    ip: Any, model_env: ModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = magics_of(ip).settings
    limit = settings.max_answer_chars
    ip.run_line_magic("config", "SemCache.max_answer_chars = 5000")
    huge = "print('ran')\n" + "x = 1\n" * 20_000
    model_env.script("```python\n" + huge + "```\n")
    try:
        with pytest.raises(MalformedAnswerError, match="max_answer_chars"):
            magic(ip, "--refresh", "Print the number 41 plus 1")
    finally:
        settings.max_answer_chars = limit
    assert "ran" not in capsys.readouterr().out
    assert cache_of(ip).store.count() == 0
