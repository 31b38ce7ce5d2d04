"""Served code runs with least privilege: no credentials in its environment unless
allow-listed, no process of it outlives its kernel, and an optional memory limit holds."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from fixtures_kernel import pid_alive, wait_until
from fixtures_magic import cache_of, magic, magics_of

from semcache_magic.config import SemCache
from semcache_magic.errors import CodeError, ConfigurationError
from semcache_magic.run import KernelRunner, credential_name, kernel_environment

SHOW_ENV = "import json, os\nprint('ENV=' + json.dumps(dict(os.environ)))\n"
FAKE_KEY = "sk-ant-api03-rhQSMlvNaAmERWHjdjzYPzxiBzSlHNJqiJ5PqKfU"


@pytest.mark.parametrize("name", [
    "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "GITHUB_TOKEN", "HF_TOKEN", "DB_PASSWORD", "PGPASSWORD", "DB_PASS",
    "SSH_AUTH_SOCK", "AZURE_CLIENT_SECRET", "GOOGLE_APPLICATION_CREDENTIALS", "OPENAI_APIKEY",
    "SEMCACHE_STORAGE_OPTIONS", "STRIPE_PRIVATE_KEY", "npm_config__authToken", "SLACK_COOKIE",
])
def test_credential_names(name: str) -> None:
    assert credential_name(name)


@pytest.mark.parametrize("name", [
    "PATH", "HOME", "PWD", "OLDPWD", "LANG", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE",
    "PYTHONPATH", "VIRTUAL_ENV", "AWS_REGION", "ANTHROPIC_BASE_URL", "TERM", "JPY_SESSION_NAME",
])
def test_ordinary_names(name: str) -> None:
    assert not credential_name(name)


def test_environment_without_credentials_by_name_and_value() -> None:
    env = {"PATH": "/usr/bin", "OPENAI_API_KEY": "x1", "INNOCENT": FAKE_KEY,
           "DATABASE": "postgres://etl:N0t-S0-s3cret@db:5432/w", "HF_TOKEN": "hf_x",
           "LANG": "C.UTF-8"}
    assert kernel_environment(env) == {"PATH": "/usr/bin", "LANG": "C.UTF-8"}
    assert kernel_environment(env, ["HF_*", "INNOCENT"]) == {
        "PATH": "/usr/bin", "LANG": "C.UTF-8", "HF_TOKEN": "hf_x", "INNOCENT": FAKE_KEY}


@pytest.mark.slow
def test_served_code_sees_no_credentials_unless_allowed(
    ip: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A snippet served from the cache (an exact hit: no model) prints its environment."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "F5AyRaiC92All9KOVk/yqwGUWJRNs+OIQsWCa0lw")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_D8v0OmeHs4Wmld0WpixpxbB4r6bSr0pFBOab")
    monkeypatch.setenv("INNOCENT_LOOKING", FAKE_KEY)
    monkeypatch.setenv("HF_TOKEN", "hf_SZU5gK3C9X2hmSNX1lNx5r5YBGIXUTioEb")
    monkeypatch.setenv("HARMLESS_SETTING", "blue")
    cache_of(ip).save("Show the environment", SHOW_ENV)
    runner_config = magics_of(ip).pipeline.runner().config  # the session's shared runner
    allow = runner_config.run_env_allow
    try:
        magic(ip, "--no-model", "Show the environment")
        seen = _env_from(capsys.readouterr().out)
        runner_config.run_env_allow = ["HF_*"]
        magic(ip, "--no-model", "Show the environment")
        allowed = _env_from(capsys.readouterr().out)
    finally:
        runner_config.run_env_allow = allow
    assert os.environ["ANTHROPIC_API_KEY"]  # the test's own key (model_env) is set here
    for name in ("ANTHROPIC_API_KEY", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN",
                 "INNOCENT_LOOKING", "HF_TOKEN"):
        assert name not in seen, name
    assert seen["HARMLESS_SETTING"] == "blue" and seen["PATH"] == os.environ["PATH"]
    assert allowed["HF_TOKEN"] == os.environ["HF_TOKEN"]
    assert "GITHUB_TOKEN" not in allowed and "ANTHROPIC_API_KEY" not in allowed


def _env_from(out: str) -> dict[str, str]:
    line = next(line for line in out.splitlines() if line.startswith("ENV="))
    env: dict[str, str] = json.loads(line[4:])
    return env


@pytest.mark.slow
def test_processes_a_run_starts_end_with_its_kernel(kernel_runner: KernelRunner) -> None:
    """Children that left the kernel's process group (setsid, a double fork) are ended too."""
    code = (
        "import os, subprocess\n"
        "a = subprocess.Popen(['sleep', '300'], start_new_session=True).pid\n"
        "b = subprocess.Popen(['setsid', 'sleep', '301']).pid\n"
        "r, w = os.pipe()\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        os.execvp('sleep', ['sleep', '302'])\n"
        "    os.write(w, str(pid).encode())\n"
        "    os._exit(0)\n"
        "c = int(os.read(r, 32))\n"
        "print('PIDS', a, b, c)\n"
    )
    result = kernel_runner.run(code)
    result.raise_for_status()
    pids = [int(p) for p in result.stdout.split("PIDS", 1)[1].split()]
    assert wait_until(lambda: not any(pid_alive(pid) for pid in pids), timeout=20), pids


@pytest.mark.slow
def test_a_run_over_its_memory_limit_fails_with_memory_error() -> None:
    runner = KernelRunner(SemCache(run_memory_limit=1_000_000_000), pool_size=0)
    try:
        small = runner.run("block = bytearray(200 * 2**20)\nprint('allocated', len(block))")
        small.raise_for_status()
        assert "allocated" in small.stdout
        huge = runner.run("import numpy\nblock = numpy.ones(6 * 2**30, dtype='uint8')\n"
                          "print('ran')")
    finally:
        runner.shutdown()
    assert huge.status == "error" and "ran" not in huge.stdout
    with pytest.raises(CodeError, match="MemoryError"):
        huge.raise_for_status()


def test_memory_limit_setting_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="run_memory_limit"):
        SemCache(run_memory_limit=1000)
    with pytest.raises(ConfigurationError, match="SEMCACHE_RUN_MEMORY_LIMIT"):
        SemCache().apply_env({"SEMCACHE_RUN_MEMORY_LIMIT": "-1"})


@pytest.mark.slow
def test_cli_run_of_an_untrusted_teams_snippet_waits_for_trust(
    store_uri: str, real_embedder: Any, capsys: pytest.CaptureFixture[str],
) -> None:
    """`semcache run` shows a snippet served from a namespace the user has not trusted,
    runs none of it, and exits 4; with --trust it runs."""
    from semcache_magic.cache import SnippetCache
    from semcache_magic.cli import main

    team = SnippetCache(SemCache(store=store_uri, namespace="team"), embedder=real_embedder)
    team.save("Print the team motto", "print('MOTTO-' + 'RAN')\n")
    team.close()
    argv = ["--store", store_uri, "--namespace", "team", "run", "Print the team motto",
            "--no-model"]
    assert main(argv) == 4
    captured = capsys.readouterr()
    assert "MOTTO-RAN" not in captured.out and captured.out.strip() == ""
    assert "MOTTO-" in captured.err  # the code is shown for reading
    assert main([*argv, "--trust"]) == 0
    assert "MOTTO-RAN" in capsys.readouterr().out
