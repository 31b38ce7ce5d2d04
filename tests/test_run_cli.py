"""`semcache run` (the headless %%cached_task) and the run log statistics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from semcache_magic.cache import percentile, run_stats
from semcache_magic.cli import main
from semcache_magic.demo import ModelServer

pytestmark = pytest.mark.slow


def fenced(code: str) -> str:
    return f"```python\n{code}```"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip().startswith("{") else {"raw": out}), err


def test_run_json_miss_then_exact(
    model_env: ModelServer, real_embedder, capsys: pytest.CaptureFixture[str]  # type: ignore[no-untyped-def]
) -> None:
    model_env.script(fenced("print(6 * 7)\n"))
    code, first, _ = cli(capsys, "run", "Print six times seven", "--json")
    assert code == 0
    assert {"tier", "snippet_id", "code", "stdout", "outputs", "status", "error", "saved_id",
            "model_calls", "timings"} <= set(first)
    assert first["tier"] == "miss" and first["status"] == "ok" and first["stdout"] == "42\n"
    assert first["model_calls"] == 1 and first["saved_id"]
    code, second, _ = cli(capsys, "run", "print six times seven.", "--json")
    assert second["tier"] == "exact" and second["model_calls"] == 0
    assert second["snippet_id"] == first["saved_id"] and second["stdout"] == "42\n"
    assert model_env.calls == 1


def test_run_no_model_exits_3_and_runs_nothing(
    model_env: ModelServer, real_embedder, capsys: pytest.CaptureFixture[str]  # type: ignore[no-untyped-def]
) -> None:
    code, data, err = cli(capsys, "run", "Draw a unicorn in ASCII", "--no-model", "--json")
    assert code == 3
    assert data["status"] == "needs_model" and data["stdout"] == "" and data["code"] is None
    assert "needs the model" in err and model_env.calls == 0


def test_run_with_inputs_from_json(
    tmp_path: Path, model_env: ModelServer, real_embedder,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:
    inputs = tmp_path / "in.json"
    inputs.write_text(json.dumps({"numbers": [3, 4, 5]}))
    model_env.script(fenced("total = sum(numbers)\nprint(total)\n"))
    code, data, _ = cli(capsys, "run", "Sum the numbers", "--in-json", str(inputs),
                        "--out", "total", "--json")
    assert code == 0 and data["stdout"] == "12\n"
    assert data["values"]["total"] == {"type": "int", "repr": "12"}
    assert "numbers: list" in model_env.last.section("inputs")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    code, _, err = cli(capsys, "run", "Sum the numbers", "--in-json", str(bad))
    assert code == 1 and "--in-json" in err


def test_run_text_mode_streams_output_and_reports_failure(
    tmp_path: Path, model_env: ModelServer
) -> None:
    """A real subprocess: progress on stderr, the program's output on stdout."""
    model_env.script(fenced("print('partial')\nraise RuntimeError('boom')\n"))
    done = subprocess.run(
        [sys.executable, "-m", "semcache_magic.cli", "--store", str(tmp_path / "s"), "run",
         "Print partial then fail", "--max-repairs", "0"],
        capture_output=True, text=True, timeout=180)
    assert done.returncode == 1
    assert done.stdout == "partial\n"
    assert "RuntimeError: boom" in done.stderr and "Traceback" not in done.stderr


def test_stats_summarise_the_run_log() -> None:
    runs = [
        {"tier": "exact", "outcome": "ok", "total_s": 0.05, "model_calls": 0,
         "saved_cost_usd": 0.002},
        {"tier": "slot", "outcome": "ok", "total_s": 0.07, "model_calls": 0,
         "saved_cost_usd": 0.002},
        {"tier": "semantic", "outcome": "ok", "total_s": 1.5, "model_calls": 1,
         "input_tokens": 900, "output_tokens": 120, "cache_read_tokens": 800,
         "cost_usd": 0.004},
        {"tier": "miss", "outcome": "error", "total_s": 3.0, "model_calls": 3,
         "repairs": 2, "cost_usd": 0.01},
        {"tier": "miss", "outcome": "dry_run", "total_s": 1.0, "model_calls": 1},
    ]
    stats = run_stats(runs)
    assert stats["runs"] == 4  # dry runs are not runs
    assert stats["hit_rate"] == 0.5 and stats["model_calls_avoided"] == 2
    assert stats["model_calls"] == 4 and stats["repairs"] == 2
    assert stats["cost_usd"] == pytest.approx(0.014) and stats["saved_usd"] == pytest.approx(
        0.004)
    assert stats["tiers"]["exact"]["p50_s"] == 0.05
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5 and percentile([], 90) == 0.0
