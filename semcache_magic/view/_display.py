"""A task's output in a notebook kernel: one display that tells the story and keeps it.

The only module that talks to IPython's display machinery: :func:`relay_output`
turns the isolated kernel's outputs into outputs of the current cell (so a saved
notebook shows them like any other), and :class:`TaskDisplay` keeps the task's own
display.

The display is published when the task starts (the live widget, or text lines that
grow as the task proceeds) and updated in place when it ends, with the task's record
and its static fallbacks (:func:`semcache_magic.view.record_bundle`). A saved
notebook therefore shows what ran, and ``semcache freeze`` can read it back.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..outcome import Event, TaskOutcome, TaskRequest
from ._record import record_bundle, task_record
from ._text import TextView, save_image, write_stream

__all__ = ["TaskDisplay", "kernel_id", "relay_output"]


def kernel_id() -> str:
    """The Jupyter server's id of this kernel ("" outside one).

    The front end compares it with its own kernel's id: a record made by another
    kernel (the notebook was reopened) is shown statically, since its widget is gone.
    """
    # Only a running ipykernel has one; importing ipykernel elsewhere would patch `comm`.
    app = sys.modules.get("ipykernel.kernelapp")
    if app is None or not app.IPKernelApp.initialized():
        return ""
    name = Path(str(app.IPKernelApp.instance().connection_file or "")).name
    found = re.fullmatch(r"kernel-(.+)\.json", name)
    return found.group(1) if found else ""


class TaskDisplay:
    """Feeds pipeline events to the widget (if any) and keeps the text story and record.

    ``widget`` is a :class:`~semcache_magic.view.TaskWidget` or None for text lines;
    ``quiet`` shows nothing while the task runs and leaves only the record.
    """

    def __init__(self, request: TaskRequest, *, line: str = "", widget: Any = None,
                 quiet: bool = False) -> None:
        self.request, self.line, self.widget, self.quiet = request, line, widget, quiet
        self.display_id = uuid.uuid4().hex
        self.kernel_id = kernel_id()
        live_text = widget is None and not quiet
        # Errors are left out: the magic raises them as the cell's one error line.
        self.story = TextView(model_allowed=request.allow_model, show_errors=False,
                              write=self._grew if live_text else _ignore)

    def _bundle(self, outcome: TaskOutcome | None) -> tuple[dict[str, Any], dict[str, Any]]:
        record = task_record(self.request, outcome, line=self.line, lines=self.story.lines,
                             kernel_id=self.kernel_id, quiet=self.quiet)
        return record_bundle(record, widget_model_id=self.widget.model_id
                             if self.widget is not None else None)

    def start(self) -> None:
        if self.quiet:
            return
        from IPython.display import display

        data, metadata = self._bundle(None)
        display(data, raw=True, metadata=metadata, display_id=self.display_id)

    def _grew(self, _line: str) -> None:
        from IPython.display import update_display

        data, metadata = self._bundle(None)
        update_display(data, raw=True, metadata=metadata, display_id=self.display_id)

    def __call__(self, event: Event) -> None:
        self.story(event)
        if self.widget is not None:
            self.widget(event)

    def finish(self, outcome: TaskOutcome) -> None:
        from IPython.display import display, update_display

        self.story.finish(outcome)
        if self.widget is not None:
            self.widget.finish(outcome)
        data, metadata = self._bundle(outcome)
        if self.quiet:
            display(data, raw=True, metadata=metadata)
        else:
            update_display(data, raw=True, metadata=metadata, display_id=self.display_id)


def _ignore(_line: str) -> None:
    """Lines the widget shows in its own way: kept for the record only."""


def relay_output(output: Mapping[str, Any], *, terminal: bool = False) -> None:
    """Show one nbformat output of the isolated kernel as an output of this cell.

    On a ``terminal`` (IPython without a notebook), images are also saved to files
    and their paths printed.
    """
    kind = output.get("output_type")
    if kind == "stream":
        write_stream(output)
    elif kind in ("display_data", "execute_result"):
        from IPython.display import publish_display_data

        data = dict(output.get("data") or {})
        publish_display_data(data, dict(output.get("metadata") or {}))
        path = save_image(data) if terminal else None
        if path:
            print(f"semcache: figure saved to {path}", flush=True)
    elif kind == "clear_output":
        from IPython.display import clear_output

        clear_output(wait=bool(output.get("wait")))
    # Errors are not relayed raw: the outcome reports them as one clear line.
