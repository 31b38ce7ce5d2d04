"""Faults: each gives a clear error, the user's kernel and prior snippets survive, and
nothing half-saved appears. Real kernels, real LanceDB, the real SDK against the local
model server."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import read_only
from fixtures_magic import cache_of, magic, magics_of

from semcache_magic.demo import ModelServer, Reply
from semcache_magic.errors import (
    KernelDiedError,
    MalformedAnswerError,
    ModelOverloadedError,
    ModelRateLimitError,
    ModelServerError,
    ModelTimeoutError,
)

pytestmark = pytest.mark.slow


def fenced(code: str) -> str:
    return f"```python\n{code}```"


def test_kernel_killed_mid_run(ip: Any, capsys: pytest.CaptureFixture[str]) -> None:
    prior = cache_of(ip).save("Print the seed", "print('seed')").snippet
    cache_of(ip).save("Report my pid and wait",
                      "import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(60)\n")
    ip.user_ns["mine"] = [1, 2, 3]

    def kill_on_pid(event: Any) -> None:
        output = event.data.get("output") if event.kind == "output" else None
        if output and output.get("name") == "stdout" and output["text"].strip().isdigit():
            os.kill(int(output["text"].strip()), signal.SIGKILL)

    pipeline = magics_of(ip).pipeline
    from semcache_magic.outcome import TaskRequest

    outcome = pipeline.run(TaskRequest("Report my pid and wait", max_repairs=0),
                           on_event=kill_on_pid)
    assert outcome.status == "died" and isinstance(outcome.error, KernelDiedError)
    assert ip.user_ns["mine"] == [1, 2, 3]  # the user's kernel is untouched
    assert cache_of(ip).get(prior.id).code == "print('seed')\n"
    assert cache_of(ip).store.count() == 2  # nothing new saved
    magic(ip, "--quiet", "Print the seed")  # and the next run works
    assert capsys.readouterr().out.endswith("seed\n")


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply.error(429, "slow down"), ModelRateLimitError),
        (Reply.error(500, "internal"), ModelServerError),
        (Reply.error(529, "overloaded"), ModelOverloadedError),
        (Reply.slow("```python\nprint(1)\n```", delay=5.0), ModelTimeoutError),
        (Reply.garbage("<html>bad gateway</html>", content_type="text/html"),
         MalformedAnswerError),
        (Reply(text="I think you should use a loop."), MalformedAnswerError),
    ],
)
def test_model_failures_are_one_clear_error_and_save_nothing(
    ip: Any, model_env: ModelServer, reply: Reply, error: type[Exception],
    capsys: pytest.CaptureFixture[str],
) -> None:
    magics_of(ip).settings.model_timeout = 1.0
    magics_of(ip).settings.max_retries = 0
    magics_of(ip).pipeline._adapters.clear()  # pick up the new timeout and retries
    prior = cache_of(ip).save("Print the seed", "print('seed')").snippet
    model_env.script(reply)
    with pytest.raises(error) as caught:
        magic(ip, "", "Draw a completely new chart of rainfall")
    line = caught.value._render_traceback_()  # what the notebook shows
    assert len(line) == 1 and "Traceback" not in line[0]
    assert cache_of(ip).store.count() == 1 and cache_of(ip).get(prior.id)
    assert cache_of(ip).store.runs()[0]["outcome"] == "model_error"


def test_store_deleted_mid_session_is_recreated(ip: Any, model_env: ModelServer,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    cache_of(ip).save("Print the seed", "print('seed')")
    shutil.rmtree(magics_of(ip).settings.store)
    model_env.script(fenced("print('seed again')\n"))
    magic(ip, "", "Print the seed")  # a miss now: the snippet went with the store
    assert "seed again" in capsys.readouterr().out
    assert cache_of(ip).lookup("Print the seed").tier == "exact"  # saved into a new store


def test_store_read_only_mid_session_keeps_the_result(
    ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cache_of(ip).save("Print the seed", "print('seed')")
    cache_of(ip).save("Print the other seed", "print('other')")
    store = Path(magics_of(ip).settings.store)
    with read_only(store):
        magic(ip, "", "Print the seed")  # served; the use count cannot be written
        out = capsys.readouterr().out
    assert "seed\n" in out and "warning: the code ran, but was not saved" in out
    assert cache_of(ip).store.count() == 2


def test_corrupt_store_falls_back_to_the_model(
    ip: Any, model_env: ModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    cache_of(ip).save("Print the seed", "print('seed')")
    cache_of(ip).close()
    for path in glob.glob(f"{magics_of(ip).settings.store}/snippets.lance/data/*.lance"):
        with open(path, "r+b") as handle:
            handle.write(b"garbage" * 64)
    model_env.script(fenced("print('seed from the model')\n"))
    magic(ip, "", "Print the seed")
    out = capsys.readouterr().out
    assert "seed from the model" in out
    assert "warning: the cache is unavailable" in out and "unreadable" in out
    assert ".rs:" not in out  # no Rust source locations in what the user reads


def test_disk_full(tmp_path: Path) -> None:
    """A 2 MB tmpfs in a private mount namespace: saves fail clearly, nothing is lost."""
    script = tmp_path / "fill.py"
    mount = tmp_path / "tiny"
    mount.mkdir()
    script.write_text(textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from conftest import WordHashEmbedder
        from semcache_magic.cache import SnippetCache
        from semcache_magic.config import SemCache
        from semcache_magic.errors import SemcacheError
        cache = SnippetCache(SemCache(store={str(mount / "store")!r}, optimize_every=0),
                             embedder=WordHashEmbedder())
        saved, error = 0, None
        try:
            for i in range(100000):
                filler = "x = '" + "y" * 2000 + "'\\n"
                cache.save(f"Print item {{i}} of a long list", filler + f"print({{i}})")
                saved += 1
        except SemcacheError as exc:
            error = [type(exc).__name__, exc.describe()]
        again = SnippetCache(SemCache(store={str(mount / "store")!r}), embedder=WordHashEmbedder())
        print(json.dumps({{"saved": saved, "error": error, "count": again.store.count(),
                           "last": again.lookup(f"print item {{saved - 1}} of a long list").tier}}))
    """))
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c",
         f"mount -t tmpfs -o size=2m tmpfs {mount} && exec {sys.executable} {script}"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "LANCEDB_LOG": "error"})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["saved"] > 10
    assert result["error"][0] == "StoreUnavailableError" and "no space left" in result["error"][1]
    assert result["count"] == result["saved"]  # every acknowledged save is there, nothing half
    assert result["last"] == "exact"
