"""The views without a kernel: the task record and its fallbacks, the text lines, the widget."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from semcache_magic.outcome import Event, EventKind, TaskOutcome, TaskRequest, TaskStatus
from semcache_magic.run import RunResult
from semcache_magic.snippet import Match
from semcache_magic.task import analyse_task
from semcache_magic.view import (
    RECORD_MIME,
    TextView,
    find_record,
    record_bundle,
    save_image,
    task_record,
)

CODE = "import math\n\n\nprint(math.factorial(6))\n"


def _outcome(status: TaskStatus = TaskStatus.OK, *, tier: str = "exact", code: str = CODE,
             **request: Any) -> TaskOutcome:
    req = TaskRequest(task="Print the factorial of 6", **request)
    match = Match(tier=tier, analysis=analyse_task(req.task), score=1.0,  # type: ignore[arg-type]
                  evidence="exact" if tier == "exact" else "")
    return TaskOutcome(status=status, request=req, match=match, code=code, origin=tier)


def _stage(name: str, state: str = "started", seconds: float = 0.01) -> Event:
    return Event(EventKind.STAGE, {"stage": name, "state": state, "seconds": seconds})


def test_the_record_keeps_what_ran_with_fallbacks_for_every_front_end() -> None:
    outcome = _outcome()
    record = task_record(outcome.request, outcome, line="--no-save", lines=["semcache: hit"],
                         kernel_id="k1")
    data, metadata = record_bundle(record, widget_model_id="m1")
    assert set(data) == {RECORD_MIME, "application/vnd.jupyter.widget-view+json", "text/html",
                         "text/markdown", "text/plain"}
    assert metadata["semcache"]["code"] == CODE and metadata["semcache"]["tier"] == "exact"
    assert metadata["semcache"]["evidence_words"] == "exact task"
    assert data["text/plain"].count("print(math.factorial(6))") == 1
    assert "\n\n\n" in data["text/plain"]  # blank lines of the code are kept
    assert 'class="sc-code"' in data["text/html"] and "color:#" not in data["text/html"].split(
        "</style>")[1]  # colours come from classes and theme variables
    assert "```python\n" + CODE.rstrip("\n") + "\n```" in data["text/markdown"]
    assert find_record({"metadata": metadata, "data": data}) == metadata["semcache"]
    running = record_bundle(task_record(outcome.request))[1]
    assert find_record({"metadata": running}) is None  # a task still running is no record


def test_a_markdown_fence_outlasts_backticks_in_the_code() -> None:
    outcome = _outcome(code="print('```')\n")
    data, _ = record_bundle(task_record(outcome.request, outcome))
    assert "````python\nprint('```')\n````" in data["text/markdown"]


def test_a_quiet_record_shows_nothing_but_keeps_the_code() -> None:
    outcome = _outcome()
    data, metadata = record_bundle(task_record(outcome.request, outcome, quiet=True))
    assert data["text/plain"] == "" and "text/html" not in data
    assert metadata["semcache"]["code"] == CODE


def test_text_lines_label_repairs_keep_blank_lines_and_leave_errors_to_the_caller() -> None:
    said: list[str] = []
    view = TextView(write=said.append, show_errors=False)
    view(Event(EventKind.CODE, {"code": CODE, "origin": "generated"}))
    view(Event(EventKind.RUN, {"result": RunResult(
        status="error", error={"ename": "ValueError", "evalue": "boom"})}))
    view(_stage("repairing"))
    view(Event(EventKind.ERROR, {"error": ValueError("not shown")}))
    view.finish(_outcome(TaskStatus.NEEDS_MODEL))
    assert "    import math\n\n\n    print(math.factorial(6))" in said
    assert "semcache: repairing… (after ValueError: boom)" in said
    assert not any("not shown" in line for line in said)
    assert said[-1].startswith("semcache: needs the model in ")
    assert said[-1].endswith("; 0 model calls")


def test_a_figure_is_saved_where_a_terminal_user_can_open_it() -> None:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    path = save_image({"image/png": png, "text/plain": "<Figure size 600x400 with 1 Axes>"})
    assert path is not None and Path(path).read_bytes().startswith(b"\x89PNG")
    assert save_image({"text/plain": "42"}) is None


# -- the widget -----------------------------------------------------------------------------

@pytest.fixture
def widget_class() -> Any:
    from semcache_magic.view import TaskWidget

    return TaskWidget


def test_each_model_call_is_labelled_with_its_code_and_the_error_it_answered(
        widget_class: Any) -> None:
    widget = widget_class("Print the factorial of 6")
    widget(_stage("generating"))
    widget(Event(EventKind.MODEL_TEXT, {"text": "Here:\n```python\nprint(1 / 0)\n```"}))
    widget(Event(EventKind.CODE, {"code": "print(1 / 0)\n", "origin": "generated"}))
    widget(Event(EventKind.RUN, {"result": RunResult(
        status="error", error={"ename": "ZeroDivisionError", "evalue": "division by zero"})}))
    widget(_stage("repairing"))
    widget(Event(EventKind.MODEL_TEXT, {"text": "```python\nprint(1)\n```"}))
    widget(Event(EventKind.CODE, {"code": "print(1)\n", "origin": "repaired"}))
    widget(Event(EventKind.RUN, {"result": RunResult(status="ok")}))
    first, second = (call.view.value for call in widget.calls)
    assert "generate" in first and "failed ✗ ZeroDivisionError: division by zero" in first
    assert "repair 1" in second and "after ZeroDivisionError: division by zero" in second
    assert "ran ✓" in second
    assert "```" not in first and 'class="sc-code"' in first  # fences rendered as code
    assert "<details>" in first  # folded once its code is known


def test_a_dry_run_offers_run_this_code_and_trust_offers_trust_and_run(
        widget_class: Any) -> None:
    asked: list[tuple[str, Any]] = []
    widget = widget_class("Print the factorial of 6",
                          on_rerun=lambda what, outcome, code: asked.append((what, code)) or what)
    widget(Event(EventKind.CODE, {"code": CODE, "origin": "generated"}))
    widget.finish(_outcome(TaskStatus.DRY_RUN, tier="miss"))
    assert widget.buttons["run_code"].layout.display is None
    assert widget.buttons["trust"].layout.display == "none"
    assert "dry run (nothing ran)" in widget.status.value
    widget.buttons["run_code"].click()
    assert asked == [("run_code", CODE)]
    action = widget.actions.outputs[0]["data"]["application/vnd.semcache.action+json"]
    assert action["action"] == "rerun"
    assert all(button.disabled for button in widget.buttons.values())  # once

    trusting = widget_class("Print the factorial of 6",
                            on_rerun=lambda what, outcome, code: asked.append((what, code))
                            or what)
    trusting(Event(EventKind.CODE, {"code": CODE, "origin": "exact"}))
    trusting.finish(_outcome(TaskStatus.NEEDS_TRUST))
    assert trusting.buttons["trust"].layout.display is None
    trusting.buttons["trust"].click()
    assert asked[-1] == ("trust", CODE)


def test_a_slow_first_search_says_what_it_waits_for(widget_class: Any) -> None:
    widget = widget_class("Print 1", search_hint="loading the embedding model…")
    widget(_stage("searching"))
    widget._slow_search()  # what the timer does after a second of searching
    assert "loading the embedding model" in widget.stage_line.value
    widget(_stage("searching", "finished", 2.5))
    assert "loading" not in widget.stage_line.value and "2.50 s" in widget.stage_line.value
