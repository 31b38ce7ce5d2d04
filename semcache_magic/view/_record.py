"""The record a ``%%cached_task`` output carries: what ran, why, and how it ended.

A notebook keeps a task's story even without its kernel, its cache or the model:
the record (a JSON object under :data:`RECORD_MIME` in the output's data, and under
``metadata["semcache"]``) holds the task, tier and evidence, the snippet, and the code
that ran; static fallbacks (HTML, Markdown, plain text) sit beside it in the same
display bundle, with the live widget's reference when there is one. ``semcache
freeze`` reads the record back (:func:`find_record`) to write a notebook that runs
without semcache.

Record fields (version 1): ``task``, ``line`` (the magic's options), ``state``
(``running`` | ``done``), ``status``, ``status_label``, ``tier``, ``evidence``,
``evidence_words``, ``score``, ``origin``, ``code``, ``snippet_id`` (the snippet whose
code ran), ``reference_id``, ``saved_id``, ``namespace``, ``inputs``, ``outputs``,
``model_calls``, ``repairs``, ``error``, ``lines`` (the story as text), ``run_id``,
``kernel_id`` (which kernel's widgets can show it live), ``quiet``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..outcome import TaskOutcome, TaskRequest
from ._html import record_html
from ._lines import evidence_words

__all__ = ["RECORD_MIME", "RECORD_VERSION", "WIDGET_MIME", "find_record", "record_bundle",
           "task_record"]

#: The record's mime type; the semcache labextension renders it (live widget or static).
RECORD_MIME = "application/vnd.semcache.task+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
RECORD_VERSION = 1


def task_record(request: TaskRequest, outcome: TaskOutcome | None = None, *, line: str = "",
                lines: Sequence[str] = (), kernel_id: str = "", quiet: bool = False
                ) -> dict[str, Any]:
    """The record of ``request``: still running while ``outcome`` is None."""
    record: dict[str, Any] = {
        "version": RECORD_VERSION, "task": request.task, "line": line,
        "state": "running" if outcome is None else "done",
        "inputs": sorted(request.inputs), "outputs": list(request.outputs),
        "lines": list(lines), "kernel_id": kernel_id, "quiet": quiet,
    }
    if outcome is None:
        return record
    match = outcome.match
    ran = outcome.ran_snippet
    record.update({
        "status": outcome.status.value, "status_label": outcome.status.label,
        "tier": outcome.tier, "evidence": match.evidence if match is not None else "",
        "evidence_words": "cache skipped (--refresh)" if request.refresh else evidence_words(
            outcome.tier, match.evidence if match else ""),
        "score": round(float(match.score), 4) if match is not None else 0.0,
        "origin": outcome.origin, "code": outcome.code,
        "snippet_id": ran.id if ran is not None else "",
        "reference_id": outcome.reference.id if outcome.reference is not None else "",
        "saved_id": outcome.saved.id if outcome.saved is not None else "",
        "namespace": match.namespace if match is not None else "",
        "model_calls": outcome.model_calls, "repairs": outcome.repairs,
        "error": outcome.error.describe() if outcome.error is not None else "",
        "run_id": outcome.run_id,
    })
    return record


def _plain(record: Mapping[str, Any]) -> str:
    lines = list(record.get("lines") or [])
    shown = f"semcache: {record.get('origin')} code:" in lines  # the story listed it
    if record.get("state") == "done" and record.get("code") and not shown:
        lines += ["semcache: the code:"] + ["    " + line if line.strip() else ""
                                            for line in str(record["code"]).splitlines()]
    return "\n".join(lines) or f"semcache: {record.get('task', '')}"


def _markdown(record: Mapping[str, Any]) -> str:
    head = (f"**semcache** · **{record.get('tier', '?')}** · {record.get('evidence_words', '')}"
            f" · {record.get('status_label', '')}")
    if record.get("snippet_id"):
        head += f" · snippet `{str(record['snippet_id'])[:8]}`"
    task = "\n".join("> " + line for line in str(record.get("task", "")).splitlines())
    body = [head, "", task]
    if record.get("error"):
        body += ["", f"error: {record['error']}"]
    if record.get("code"):
        # A fence longer than any run of backticks in the code cannot be closed by it.
        fence = "`" * max(3, _longest_backticks(str(record["code"])) + 1)
        body += ["", f"{fence}python", str(record["code"]).rstrip("\n"), fence]
    return "\n".join(body)


def _longest_backticks(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest


def record_bundle(record: Mapping[str, Any], *, widget_model_id: str | None = None
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The display bundle (data, metadata) of a task's output.

    JupyterLab with the semcache labextension renders :data:`RECORD_MIME` (the live
    widget while its kernel runs, else the static record); other front ends pick the
    widget or the HTML, Markdown or text fallback they support.
    """
    data: dict[str, Any] = {RECORD_MIME: dict(record)}
    if widget_model_id:
        data[WIDGET_MIME] = {"model_id": widget_model_id, "version_major": 2,
                             "version_minor": 0}
    if record.get("quiet"):
        data["text/plain"] = ""
    elif record.get("state") == "done":
        data["text/html"] = record_html(record)
        data["text/markdown"] = _markdown(record)
        data["text/plain"] = _plain(record)
    else:
        data["text/plain"] = _plain(record)
    return data, {"semcache": dict(record)}


def find_record(output: Mapping[str, Any]) -> dict[str, Any] | None:
    """The record an nbformat output carries (metadata first, then the data), or None."""
    metadata = output.get("metadata") or {}
    record = metadata.get("semcache") if isinstance(metadata, Mapping) else None
    if not isinstance(record, Mapping):
        data = output.get("data") or {}
        record = data.get(RECORD_MIME) if isinstance(data, Mapping) else None
    if isinstance(record, Mapping) and record.get("state") == "done":
        return dict(record)
    return None
