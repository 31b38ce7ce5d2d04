"""The ipywidgets view of one ``%%cached_task`` run.

A stage line (searching -> adapting -> running -> saved, with timings); the
reference (task, tier, score and its parts, highlighted code); Claude's answer
as it streams; a diff of reference vs final code; an error line with the
detail folded; buttons (save, vote up/down, regenerate, insert, copy). The
kernel's outputs are not inside the widget: they are relayed as normal cell
outputs below it, so a saved notebook shows them.

The view only renders events and forwards button clicks to callbacks the
magic supplies; it holds no business logic.
"""

from __future__ import annotations

import difflib
import html
import time
import uuid
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from IPython.display import display

from ..outcome import Event, TaskOutcome
from ._lines import describe_match

__all__ = ["ACTION_MIME", "TaskWidget", "highlight"]

#: Front-end actions (insert a cell, copy) are sent as this mime type; the
#: semcache-magic labextension performs them. Without it, the text fallback shows.
ACTION_MIME = "application/vnd.semcache.action+json"

_STAGE_ORDER = ("searching", "adapting", "generating", "running", "repairing", "saving")


def highlight(code: str, language: str = "python") -> str:
    """Code as syntax-highlighted HTML (inline styles: no CSS needed)."""
    from pygments import highlight as render
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name

    formatter = HtmlFormatter(noclasses=True, nowrap=False, style="default")
    return render(code, get_lexer_by_name(language), formatter)


class TaskWidget:
    """Renders pipeline events into a VBox that updates in place."""

    def __init__(self, task: str, *, on_save: Callable[[TaskOutcome], Any] | None = None,
                 on_vote: Callable[[TaskOutcome, bool], Any] | None = None,
                 on_regenerate: Callable[[], Any] | None = None) -> None:
        self.task = task
        self.outcome: TaskOutcome | None = None
        self.callbacks = {"save": on_save, "vote": on_vote, "regenerate": on_regenerate}
        self.stages: dict[str, str] = {}
        self.code: str | None = None
        self.reference_code: str | None = None
        self._model_text: list[str] = []
        self._last_flush = 0.0
        self.stage_line = widgets.HTML(self._stage_html())
        self.reference = widgets.HTML("")
        self.model_text = widgets.HTML("")
        self.diff = widgets.HTML("")
        self.error = widgets.HTML("")
        self.details = widgets.Accordion(children=[widgets.HTML("")])
        self.details.set_title(0, "details")
        self.details.layout.display = "none"
        self.buttons = {
            "save": widgets.Button(description="Save", icon="check", disabled=True,
                                   tooltip="save this code to the cache"),
            "up": widgets.Button(description="", icon="thumbs-up", disabled=True,
                                 tooltip="this snippet is good", layout={"width": "40px"}),
            "down": widgets.Button(description="", icon="thumbs-down", disabled=True,
                                   tooltip="this snippet is wrong", layout={"width": "40px"}),
            "regenerate": widgets.Button(description="Regenerate", icon="refresh",
                                         tooltip="ask Claude for fresh code"),
            "insert": widgets.Button(description="Insert cell", icon="plus", disabled=True,
                                     tooltip="put the code into a new cell below"),
            "copy": widgets.Button(description="Copy", icon="copy", disabled=True),
        }
        self.status = widgets.HTML("")
        self.actions = widgets.Output(layout={"display": "none"})
        self.buttons["save"].on_click(lambda _b: self._call("save", self.outcome))
        self.buttons["up"].on_click(lambda _b: self._call("vote", self.outcome, True))
        self.buttons["down"].on_click(lambda _b: self._call("vote", self.outcome, False))
        self.buttons["regenerate"].on_click(lambda _b: self._call("regenerate"))
        self.buttons["insert"].on_click(lambda _b: self._front_end_action("insert"))
        self.buttons["copy"].on_click(lambda _b: self._front_end_action("copy"))
        self.box = widgets.VBox([
            widgets.HTML(f"<b>semcache</b> · {html.escape(task[:200])}"),
            self.stage_line, self.reference, self.model_text, self.diff, self.error,
            self.details, widgets.HBox([*self.buttons.values(), self.status]),
            self.actions,
        ])

    def show(self) -> None:
        display(self.box)

    # -- events ---------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        data = event.data
        if event.kind == "stage":
            name = data["stage"].split(" (")[0]
            seconds = data.get("seconds")
            self.stages[name] = "…" if data["state"] == "started" else (
                f"{seconds * 1000:.0f} ms" if seconds is not None and seconds < 1
                else f"{seconds or 0:.1f} s") + (" ✗" if data["state"] == "failed" else "")
            self.stage_line.value = self._stage_html()
        elif event.kind == "wait":  # shown until the stage finishes
            self.stages[data["stage"].split(" (")[0]] = f"… {data['detail']}"
            self.stage_line.value = self._stage_html()
        elif event.kind == "match":
            self._show_match(data["match"])
        elif event.kind == "model_text":
            self._model_text.append(data["text"])
            if time.monotonic() - self._last_flush > 0.1:  # ~10 updates a second at most
                self._flush_model_text()
        elif event.kind == "code":
            self._flush_model_text()
            self.code = data["code"]
            self._show_diff(data["origin"])
        elif event.kind == "saved":
            self.stages["saved"] = data["snippet"].id[:8]
            self.stage_line.value = self._stage_html()
        elif event.kind == "error":
            self.show_error(data["error"].describe(), getattr(data["error"], "traceback", None))
        elif event.kind == "warning":
            self.error.value += (f"<div style='color:#8a6d00'><b>warning:</b> "
                                 f"{html.escape(data['message'])}</div>")

    def finish(self, outcome: TaskOutcome) -> None:
        self.outcome = outcome
        self._flush_model_text()
        ok = outcome.ok
        self.buttons["save"].disabled = not ok or outcome.saved is not None
        for name in ("up", "down"):
            self.buttons[name].disabled = outcome.ran_snippet is None
        for name in ("insert", "copy"):
            self.buttons[name].disabled = outcome.code is None
        if outcome.run is not None and outcome.run.error and not ok:
            self.details.children[0].value = "<pre>" + html.escape(
                str(outcome.run.error.get("text") or "")) + "</pre>"
            self.details.layout.display = None
        total = outcome.timings.get("total", 0.0)
        self.status.value = (f"&nbsp;{html.escape(outcome.status)} in {total:.2f} s · "
                             f"model calls: {outcome.model_calls}")

    def show_error(self, message: str, detail: list[str] | None = None) -> None:
        self.error.value = (f"<span style='color:#b00020'><b>error:</b> "
                            f"{html.escape(message)}</span>")
        if detail:
            self.details.children[0].value = "<pre>" + html.escape("\n".join(detail)) + "</pre>"
            self.details.layout.display = None

    # -- pieces -----------------------------------------------------------------------

    def _stage_html(self) -> str:
        names = [n for n in (*_STAGE_ORDER, "saved") if n in self.stages]
        if not names:
            return "<span style='color:#666'>starting…</span>"
        return " → ".join(f"{n} <span style='color:#666'>{html.escape(self.stages[n])}</span>"
                          for n in names)

    def _show_match(self, match: Any) -> None:
        snippet = match.snippet
        summary = html.escape(describe_match(match))
        if snippet is None or match.tier == "miss":
            self.reference.value = f"<div>{summary}</div>"
            return
        self.reference_code = snippet.code
        parts = " · ".join(f"{k} {v:.2f}" for k, v in match.score_parts.items())
        self.reference.value = (
            f"<div><b>{html.escape(match.tier)}</b> · score {match.score:.2f} ({parts})<br>"
            f"{summary}</div>"
            f"<details {'open' if match.tier != 'exact' else ''}><summary>reference code "
            f"({html.escape(snippet.id)})</summary>{highlight(snippet.code)}</details>")

    def _flush_model_text(self) -> None:
        self._last_flush = time.monotonic()
        if self._model_text:
            text = "".join(self._model_text)
            self.model_text.value = (
                "<details open><summary>Claude</summary><pre style='white-space:pre-wrap;"
                f"max-height:16em;overflow:auto'>{html.escape(text)}</pre></details>")

    def _show_diff(self, origin: str) -> None:
        if self.code is None:
            return
        if self.reference_code is None or self.reference_code == self.code:
            self.diff.value = (f"<details><summary>{html.escape(origin)} code</summary>"
                               f"{highlight(self.code)}</details>")
            return
        lines = difflib.unified_diff(self.reference_code.splitlines(), self.code.splitlines(),
                                     "reference", origin, lineterm="")
        self.diff.value = (f"<details open><summary>diff: reference → {html.escape(origin)}"
                           f"</summary>{highlight(chr(10).join(lines), 'diff')}</details>")

    def _call(self, name: str, *args: Any) -> None:
        callback = self.callbacks.get(name)
        if callback is None or (name in ("save", "vote") and self.outcome is None):
            return
        try:
            message = callback(*args)
        except Exception as exc:  # a click must never raise into the kernel's comm loop
            describe = getattr(exc, "describe", None)
            self.show_error(describe() if callable(describe) else str(exc))
            return
        if message:
            self.status.value = f"&nbsp;{html.escape(str(message))}"
        if name == "save":
            self.buttons["save"].disabled = True

    def _front_end_action(self, action: str) -> None:
        """Ask the front end to insert a cell or copy: the labextension performs it."""
        if self.code is None:
            return
        bundle = {
            # The nonce and time let the front end act once, and never on a replay.
            ACTION_MIME: {"action": action, "code": self.code, "nonce": uuid.uuid4().hex,
                          "at": time.time()},
            "text/plain": f"semcache {action}: the code is below\n{self.code}",
        }
        # Set the outputs trait directly: works with or without a live front end.
        self.actions.outputs = ({"output_type": "display_data", "data": bundle,
                                 "metadata": {}},)
        self.status.value = f"&nbsp;{'inserted' if action == 'insert' else 'copied'}"

