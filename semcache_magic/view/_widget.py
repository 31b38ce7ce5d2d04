"""The ipywidgets view of one ``%%cached_task`` run (the only ipywidgets user).

Compact by default: a header line (tier, why it was served, score), a stage line
(searching -> adapting -> running -> saved, with timings) and a status; the
reference, each model call (adapt / generate / repair n, its code rendered, the
error a repair answered), the diff and the error detail are folded. Buttons: Save,
vote up/down, Regenerate, Insert cell, Copy, and when they apply "Run this code" (a
dry run) and "Trust and run" (code from an untrusted namespace). The kernel's outputs
are not inside the widget: they are normal cell outputs below it.

Regenerate, "Run this code" and "Trust and run" run the cell again: a click arms the
change with the magic (``on_rerun``), and the semcache labextension re-executes the
cell, so the new view and outputs replace the old ones in the notebook. Without the
labextension, the widget says to run the cell again.

The view only renders events and forwards clicks to callbacks the magic supplies;
it holds no business logic. Colours come from the JupyterLab theme (:mod:`._html`).
"""

from __future__ import annotations

import difflib
import html
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..outcome import Event, TaskOutcome, TaskStatus
from ._html import CSS, answer_html, highlight
from ._lines import evidence_words, plural, seconds

__all__ = ["ACTION_MIME", "TaskWidget"]

#: Front-end actions (insert a cell, copy, run the cell again) are sent as this mime
#: type; the semcache-magic labextension performs them. Without it, the text fallback shows.
ACTION_MIME = "application/vnd.semcache.action+json"

_STAGE_ORDER = ("searching", "adapting", "generating", "running", "repairing", "saving")
_CALL_LABELS = {"adapting": "adapt", "generating": "generate", "repairing": "repair"}
#: How long the first search may take before the view says what it waits for.
_SLOW_SEARCH_S = 1.0


def _button(label: str, icon: str, tooltip: str, *, visible: bool = True,
            disabled: bool = False) -> widgets.Button:
    # width auto: labels are never cut in a narrow notebook.
    layout = widgets.Layout(width="auto", display=None if visible else "none")
    return widgets.Button(description=label, icon=icon, tooltip=tooltip, disabled=disabled,
                          layout=layout)


class _Call:
    """One model call as the view shows it."""

    def __init__(self, label: str, trigger: str) -> None:
        self.label, self.trigger = label, trigger
        self.text: list[str] = []
        self.view = widgets.HTML("")
        self.result = ""  # "" while its code has not run, else "ran" or the failure

    def render(self, *, streaming: bool = False) -> None:
        mark = {"": "", "ran": " · <span class='sc-good'>ran ✓</span>"}.get(
            self.result, f" · <span class='sc-bad'>failed ✗ {html.escape(self.result)}</span>")
        after = (f" <span class='sc-dim'>after {html.escape(self.trigger)}</span>"
                 if self.trigger else "")
        body = ("<div class='sc-prose'>" + html.escape("".join(self.text)) + "</div>"
                if streaming else answer_html("".join(self.text)))
        self.view.value = (f"<div class='semcache-view'><details{' open' if streaming else ''}>"
                           f"<summary>Claude · {html.escape(self.label)}{after}{mark}</summary>"
                           f"{body}</details></div>")


class TaskWidget:
    """Renders pipeline events into a VBox that updates in place."""

    def __init__(self, task: str, *, on_save: Callable[[TaskOutcome], Any] | None = None,
                 on_vote: Callable[[TaskOutcome, bool], Any] | None = None,
                 on_rerun: Callable[..., Any] | None = None,
                 search_hint: str = "", refresh: bool = False) -> None:
        self.task = task
        self.refresh = refresh
        self.outcome: TaskOutcome | None = None
        self.callbacks = {"save": on_save, "vote": on_vote, "rerun": on_rerun}
        self.search_hint = search_hint
        self.stages: dict[str, str] = {}
        self.code: str | None = None
        self.origin = ""
        self.reference_code: str | None = None
        self.calls: list[_Call] = []
        self._failure = ""
        self._last_flush = 0.0
        self._timer: threading.Timer | None = None
        self.head = widgets.HTML(self._wrap(f"<b>semcache</b> · {html.escape(task[:120])}"))
        self.stage_line = widgets.HTML(self._stage_html())
        self.reference = widgets.HTML("")
        self.call_box = widgets.VBox([])
        self.diff = widgets.HTML("")
        self.error = widgets.HTML("")
        self.buttons = {
            "run_code": _button("Run this code", "play", "run exactly the code shown (runs "
                                "this cell again)", visible=False),
            "trust": _button("Trust and run", "unlock", "run this code from another namespace "
                             "(runs this cell again)", visible=False),
            "save": _button("Save", "check", "save this code to the cache", disabled=True),
            "up": _button("", "thumbs-up", "this snippet is good", disabled=True),
            "down": _button("", "thumbs-down", "this snippet is wrong", disabled=True),
            "regenerate": _button("Regenerate", "refresh", "ask Claude for fresh code (runs "
                                  "this cell again, skipping the cache)"),
            "insert": _button("Insert cell", "plus", "put the code into a new cell below",
                              disabled=True),
            "copy": _button("Copy", "copy", "copy the code", disabled=True),
        }
        self.buttons["run_code"].button_style = "primary"
        self.buttons["trust"].button_style = "warning"
        self.status = widgets.HTML("")
        self.actions = widgets.Output(layout={"display": "none"})
        clicks: dict[str, Callable[[], None]] = {
            "run_code": lambda: self._rerun("run_code", "run the reviewed code"),
            "trust": lambda: self._rerun("trust", "trust and run"),
            "regenerate": lambda: self._rerun("regenerate", "regenerate"),
            "save": lambda: self._call("save", self.outcome),
            "up": lambda: self._call("vote", self.outcome, True),
            "down": lambda: self._call("vote", self.outcome, False),
            "insert": lambda: self._front_end_action("insert"),
            "copy": lambda: self._front_end_action("copy"),
        }
        for name, click in clicks.items():
            self.buttons[name].on_click(lambda _b, click=click: click())
        # The status sits after the buttons and wraps below them when the row is narrow.
        self.status.layout = widgets.Layout(flex="1 1 12em")
        self.box = widgets.VBox([
            widgets.HTML(CSS), self.head, self.stage_line, self.reference, self.call_box,
            self.diff, self.error,
            widgets.HBox([*self.buttons.values(), self.status],
                         layout=widgets.Layout(flex_flow="row wrap", align_items="center")),
            self.actions,
        ])
        self.box.add_class("semcache-widget")

    @property
    def model_id(self) -> str:
        """The id the front end needs to show this widget (a display bundle's reference)."""
        return str(self.box.model_id)

    @staticmethod
    def _wrap(inner: str) -> str:
        return f"<div class='semcache-view sc-head'>{inner}</div>"

    # -- events ---------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        data = event.data
        if event.kind == "stage":
            self._on_stage(data)
        elif event.kind == "wait":  # shown until the stage finishes
            self.stages[data["stage"].split(" (")[0]] = f"… {data['detail']}"
            self.stage_line.value = self._stage_html()
        elif event.kind == "match":
            self._show_match(data["match"])
        elif event.kind == "model_text" and self.calls:
            self.calls[-1].text.append(data["text"])
            if time.monotonic() - self._last_flush > 0.1:  # ~10 updates a second at most
                self._last_flush = time.monotonic()
                self.calls[-1].render(streaming=True)
        elif event.kind == "code":
            self.code, self.origin = data["code"], data["origin"]
            if self.calls and data["origin"] in ("adapted", "generated", "repaired"):
                self.calls[-1].render()
            self._show_code()
        elif event.kind == "run":
            result = data["result"]
            self._failure = "" if result.ok else result.message
            if self.calls:
                self.calls[-1].result = "ran" if result.ok else result.message
                self.calls[-1].render()
        elif event.kind == "saved":
            self.stages["saved"] = data["snippet"].id[:8]
            self.stage_line.value = self._stage_html()
        elif event.kind == "error":
            self.show_error(data["error"].describe(), getattr(data["error"], "traceback", None))
        elif event.kind == "warning":
            self.error.value += (f"<div class='semcache-view sc-warn'><b>warning:</b> "
                                 f"{html.escape(data['message'])}</div>")

    def _on_stage(self, data: dict[str, Any]) -> None:
        name = data["stage"].split(" (")[0]
        seconds_taken = data.get("seconds")
        if data["state"] == "started":
            self.stages[name] = "…"
            if name in _CALL_LABELS:
                number = sum(c.label.startswith("repair") for c in self.calls) + 1
                label = f"repair {number}" if name == "repairing" else _CALL_LABELS[name]
                call = _Call(label, self._failure if name == "repairing" else "")
                self.calls.append(call)
                call.render(streaming=True)
                self.call_box.children = [c.view for c in self.calls]
            if name == "searching" and self.search_hint:
                self._timer = threading.Timer(_SLOW_SEARCH_S, self._slow_search)
                self._timer.daemon = True
                self._timer.start()
        else:
            if name == "searching" and self._timer is not None:
                self._timer.cancel()
            mark = " ✗" if data["state"] == "failed" else ""
            self.stages[name] = seconds(seconds_taken or 0.0) + mark
        self.stage_line.value = self._stage_html()

    def _slow_search(self) -> None:
        # Runs on the timer's thread; a trait update from there is sent like any other.
        if self.stages.get("searching") == "…":
            self.stages["searching"] = f"… {self.search_hint}"
            self.stage_line.value = self._stage_html()

    def finish(self, outcome: TaskOutcome) -> None:
        self.outcome = outcome
        if self._timer is not None:
            self._timer.cancel()
        ok = outcome.ok
        self._show_code()
        self.buttons["save"].disabled = not ok or outcome.saved is not None
        for name in ("up", "down"):
            self.buttons[name].disabled = outcome.ran_snippet is None
        for name in ("insert", "copy"):
            self.buttons[name].disabled = outcome.code is None
        offer = {"run_code": outcome.status == TaskStatus.DRY_RUN and outcome.code is not None,
                 "trust": outcome.status == TaskStatus.NEEDS_TRUST}
        for name, shown in offer.items():
            self.buttons[name].layout.display = None if shown else "none"
        if outcome.run is not None and outcome.run.error and not ok and not self.error.value:
            self.show_error(outcome.run.message, None)
        total = seconds(outcome.timings.get("total", 0.0))
        css = "sc-good" if ok else ("sc-warn" if outcome.status in (
            TaskStatus.DRY_RUN, TaskStatus.NEEDS_TRUST) else "sc-bad")
        self.status.value = (f"<div class='semcache-view'><span class='{css}'>"
                             f"{html.escape(outcome.status.label)}</span> "
                             f"<span class='sc-dim'>in {total} · "
                             f"{plural(outcome.model_calls, 'model call')}</span></div>")

    def show_error(self, message: str, detail: list[str] | None = None) -> None:
        fold = ("<details><summary class='sc-dim'>traceback</summary><pre class='sc-code'>"
                + html.escape("\n".join(detail)) + "</pre></details>") if detail else ""
        self.error.value = (f"<div class='semcache-view'><span class='sc-bad'><b>error:</b> "
                            f"{html.escape(message)}</span>{fold}</div>")

    # -- pieces -----------------------------------------------------------------------

    def _stage_html(self) -> str:
        names = [n for n in (*_STAGE_ORDER, "saved") if n in self.stages]
        if not names:
            return "<div class='semcache-view sc-dim'>starting…</div>"
        return "<div class='semcache-view'>" + " → ".join(
            f"{n} <span class='sc-dim'>{html.escape(self.stages[n])}</span>"
            for n in names) + "</div>"

    def _show_match(self, match: Any) -> None:
        snippet = match.snippet
        served = match.tier in ("exact", "slot")
        parts = [f"<b>{html.escape(match.tier)}</b>",
                 html.escape(evidence_words(match.tier, match.evidence))]
        if self.refresh:  # Regenerate or --refresh: the lookup was skipped on purpose
            parts = ["<b>fresh code</b>", "cache skipped"]
        if match.tier in ("semantic", "miss") and snippet is not None:
            parts.append(f"score {match.score:.2f}")
        if snippet is not None and match.tier != "miss":
            parts.append(f"snippet {html.escape(snippet.id[:8])}")
        if match.substitutions:
            parts.append(html.escape(", ".join(f"{a} → {b}" for a, b in match.substitutions)))
        self.head.value = self._wrap("<b>semcache</b> · " + " · ".join(parts))
        if snippet is None or match.tier == "miss" or served:
            return
        self.reference_code = snippet.code
        score = " · ".join(f"{k} {v:.2f}" for k, v in match.score_parts.items())
        self.reference.value = (
            f"<div class='semcache-view'><details><summary>reference "
            f"{html.escape(snippet.id[:8])}: {html.escape(snippet.task[:100])} "
            f"<span class='sc-dim'>{html.escape(score)}</span></summary>"
            f"{highlight(snippet.code)}</details></div>")

    def _show_code(self) -> None:
        code = self.code
        if code is None:
            return
        outcome = self.outcome
        status = outcome.status if outcome is not None else None
        review = status in (TaskStatus.DRY_RUN, TaskStatus.NEEDS_TRUST)
        result = "" if outcome is None or review else (
            " · <span class='sc-good'>ran ✓</span>" if outcome.ok
            else " · <span class='sc-bad'>failed ✗</span>")
        what = "proposed code (not run)" if review else f"{html.escape(self.origin)} code"
        if self.reference_code is None or self.reference_code == code:
            body = highlight(code)
            same = " (the reference, unchanged)" if self.reference_code is not None else ""
            summary = f"{what}{same}{result}"
        else:
            lines = difflib.unified_diff(self.reference_code.splitlines(), code.splitlines(),
                                         "reference", self.origin, lineterm="")
            body = highlight("\n".join(lines), "diff") + (highlight(code) if review else "")
            summary = f"diff: reference → {what}{result}"
        self.diff.value = (f"<div class='semcache-view'><details{' open' if review else ''}>"
                           f"<summary>{summary}</summary>{body}</details></div>")

    def _call(self, name: str, *args: Any) -> Any:
        callback = self.callbacks.get(name)
        if callback is None or (name in ("save", "vote") and self.outcome is None):
            return None
        try:
            message = callback(*args)
        except Exception as exc:  # a click must never raise into the kernel's comm loop
            describe = getattr(exc, "describe", None)
            self.show_error(describe() if callable(describe) else str(exc))
            return None
        if message and name != "rerun":
            self.status.value = f"<div class='semcache-view'>{html.escape(str(message))}</div>"
        if name == "save":
            self.buttons["save"].disabled = True
        return message

    def _rerun(self, what: str, label: str) -> None:
        """Arm the change with the magic, then ask the front end to run the cell again."""
        if self._call("rerun", what, self.outcome, self.code) is None:
            return
        for button in self.buttons.values():
            button.disabled = True
        self._front_end_action("rerun", label=label)

    def _front_end_action(self, action: str, *, label: str = "") -> None:
        """Ask the front end to insert a cell, copy, or run this cell again: the
        labextension performs it."""
        if self.code is None and action != "rerun":
            return
        fallback = (f"semcache: run this cell again to {label}"
                    if action == "rerun" else f"semcache {action}: the code is below\n{self.code}")
        bundle = {
            # The nonce and time let the front end act once, and never on a replay.
            ACTION_MIME: {"action": action, "code": self.code or "", "nonce": uuid.uuid4().hex,
                          "at": time.time()},
            "text/plain": fallback,
        }
        # Set the outputs trait directly: works with or without a live front end.
        self.actions.outputs = ({"output_type": "display_data", "data": bundle,
                                 "metadata": {}},)
        self.status.value = "<div class='semcache-view'>" + html.escape(
            {"insert": "inserted", "copy": "copied"}.get(
                action, f"{label}: running this cell again… (if nothing happens, run it)"
            )) + "</div>"
