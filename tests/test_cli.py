"""The `semcache` command line, in process (shared model) and as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from semcache_magic.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _model(real_embedder):  # type: ignore[no-untyped-def]
    """Load the real model once for the session before CLI calls."""


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_then_lookup_exact_slot_semantic_miss(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "add", "--task", "Print the factorial of 6",
                       "--code", "import math\n# parameters\nn = 6\nprint(math.factorial(n))")
    assert code == 0
    snippet_id = out.strip()
    assert len(snippet_id) == 16

    _, out, _ = cli(capsys, "lookup", "print the factorial of 6", "--json")
    exact = json.loads(out)
    assert exact["tier"] == "exact" and exact["snippet_id"] == snippet_id
    assert exact["code"] == "import math\n# parameters\nn = 6\nprint(math.factorial(n))\n"
    assert set(exact) >= {"tier", "score", "snippet_id", "reference_task", "reference_code",
                          "code"}

    _, out, _ = cli(capsys, "lookup", "Print the factorial of 10", "--json")
    slot = json.loads(out)
    assert slot["tier"] == "slot" and "n = 10" in slot["code"]
    assert slot["evidence"] == "declared"

    _, out, _ = cli(capsys, "lookup", "Compute 6! and show it", "--json")
    semantic = json.loads(out)
    assert semantic["tier"] == "semantic" and semantic["code"] is None
    assert semantic["reference_code"] == exact["code"]

    _, out, _ = cli(capsys, "--json", "lookup", "Plot a map of rainfall in Peru")
    miss = json.loads(out)
    assert miss["tier"] == "miss" and miss["snippet_id"] is None and miss["code"] is None


def test_code_file_and_bulk_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code_file = tmp_path / "hex.py"
    code_file.write_text("print(hex(255))\n")
    code, out, _ = cli(capsys, "add", "--task", "Print 255 in hex", "--code-file", str(code_file))
    assert code == 0
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("\n".join(json.dumps(x) for x in [
        {"task": "Print the square of 4", "code": "# parameters\nn = 4\nprint(n ** 2)"},
        {"task": "Reverse the string 'abc'", "code": "print('abc'[::-1])"},
    ]) + "\n")
    code, out, _ = cli(capsys, "add", "--jsonl", str(seeds))
    ids = out.split()
    assert code == 0 and len(ids) == 2
    queries = tmp_path / "queries.jsonl"
    queries.write_text("\n".join(json.dumps({"task": t}) for t in [
        "Print the square of 9", "reverse the string 'abc'", "   ", "Print 255 in hex"]) + "\n")
    code, out, _ = cli(capsys, "lookup", "--jsonl", str(queries), "--json")
    results = [json.loads(line) for line in out.splitlines()]
    assert [r.get("tier") for r in results] == ["slot", "exact", None, "exact"]
    assert "error" in results[2] and results[2]["line"] == 3
    assert code == 1  # one line failed, the others were answered in order


def test_bad_jsonl_saves_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seeds = tmp_path / "bad.jsonl"
    seeds.write_text('{"task": "Print 1", "code": "print(1)"}\n{not json}\n')
    code, out, err = cli(capsys, "add", "--jsonl", str(seeds))
    assert code == 1 and "bad.jsonl:2" in err and out == ""
    code, out, _ = cli(capsys, "list", "--json")
    assert json.loads(out) == []


def test_browse_and_curate(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = cli(capsys, "add", "--task", "Print the mean of 1, 2 and 3",
                    "--code", "import statistics\nprint(statistics.mean([1, 2, 3]))")
    sid = out.strip()
    _, out, _ = cli(capsys, "search", "average of numbers", "--json")
    assert json.loads(out)[0]["id"] == sid
    _, out, _ = cli(capsys, "show", sid[:8])
    assert "statistics.mean" in out and "task:       Print the mean of 1, 2 and 3" in out
    _, out, _ = cli(capsys, "vote", sid, "up", "--json")
    assert json.loads(out)["votes_up"] == 1
    _, out, _ = cli(capsys, "tag", sid, "stats", "basics")
    assert "basics, stats" in out
    _, out, _ = cli(capsys, "list")
    assert sid in out
    _, out, _ = cli(capsys, "stats", "--json")
    stats = json.loads(out)
    assert stats["snippets"] == 1
    _, out, _ = cli(capsys, "delete", sid)
    assert out.startswith(f"deleted {sid}")
    code, _, err = cli(capsys, "show", sid)
    assert code == 1 and "no snippet with id" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lookup", "   "], "the task is empty"),
        (["show", "does-not-exist"], "no snippet with id"),
        (["add", "--task", "x"], "--code"),
        (["add", "--task", "x", "--code-file", "/nonexistent/file.py"], "cannot read"),
        (["--store", "ftp://host/x", "list"], "unsupported store URI"),
        (["--namespace", "bad ns!", "list"], "invalid namespace"),
    ],
)
def test_errors_are_one_clear_line_and_exit_non_zero(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = cli(capsys, *args)
    assert code == 1
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_the_installed_console_script_runs(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("semcache")
    store = tmp_path / "store"
    done = subprocess.run([str(exe), "--store", str(store), "lookup", "anything", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tier"] == "miss"
    assert done.stderr == ""  # no LanceDB or progress-bar noise


def test_explicit_namespace_wins_over_the_search_list(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEMCACHE_SEARCH_NAMESPACES", "personal,team")
    cli(capsys, "--namespace", "project:x", "add", "--task", "Print x", "--code", "print('x')")
    cli(capsys, "add", "--task", "Print y", "--code", "print('y')")
    _, out, _ = cli(capsys, "--namespace", "project:x", "list", "--json")
    assert [s["task"] for s in json.loads(out)] == ["Print x"]
    _, out, _ = cli(capsys, "lookup", "Print x", "--json")
    assert json.loads(out)["tier"] != "exact"  # project:x is not on the search list
