"""Plain-text rendering of pipeline events (terminal IPython, ``--quiet``, the CLI).

Also :func:`relay_output`, which turns the isolated kernel's outputs into normal
outputs of the current cell, so a saved notebook shows them like any other.
"""

from __future__ import annotations

import base64
import itertools
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from ..outcome import Event, TaskOutcome
from ._lines import describe_match, plural, seconds

__all__ = ["TextView", "print_output", "save_image", "write_stream"]


def write_stream(output: Mapping[str, Any]) -> None:
    stream = sys.stderr if output.get("name") == "stderr" else sys.stdout
    stream.write(str(output.get("text", "")))
    stream.flush()


_IMAGES = {"image/png": "png", "image/jpeg": "jpg", "image/svg+xml": "svg"}
_figure_numbers = itertools.count(1)


def save_image(data: Mapping[str, Any]) -> str | None:
    """Write the image of a display bundle to a file a terminal user can open; its path.

    A terminal cannot show a figure, and the isolated kernel that drew it is gone.
    """
    mime = next((m for m in _IMAGES if m in data), None)
    if mime is None:
        return None
    folder = Path(tempfile.gettempdir()) / "semcache-figures"
    folder.mkdir(exist_ok=True)
    path = folder / f"figure-{time.strftime('%Y%m%d-%H%M%S')}-{next(_figure_numbers)}" \
        f".{_IMAGES[mime]}"
    value = data[mime]
    text = "".join(value) if isinstance(value, list) else str(value)
    path.write_bytes(text.encode() if mime == "image/svg+xml" else base64.b64decode(text))
    return str(path)


def print_output(output: Mapping[str, Any], *, show_errors: bool = True) -> None:
    """Show one nbformat output on a terminal: streams as they are, rich outputs as
    their text form plus the kinds a terminal cannot show, errors as plain tracebacks."""
    kind = output.get("output_type")
    if kind == "stream":
        write_stream(output)
    elif kind in ("display_data", "execute_result"):
        data = output.get("data") or {}
        rich = ", ".join(sorted(mime for mime in data if mime != "text/plain"))
        text = str(data.get("text/plain", ""))
        path = save_image(data)
        if path:  # a terminal cannot show an image: say where it went
            rich = f"{rich} saved to {path}"
        print(f"{text} [{rich}]" if text and rich else text or f"[{rich or 'empty'}]", flush=True)
    elif kind == "error" and show_errors:
        from ..run import strip_ansi

        text = "\n".join(strip_ansi(line) for line in output.get("traceback") or [])
        print(text or f"{output.get('ename')}: {output.get('evalue')}", file=sys.stderr,
              flush=True)


class TextView:
    """Says a line per stage; verbose mode also shows the code.

    Lines go to ``write`` when given (a notebook shows them in the task's output),
    else to ``stream``; :attr:`lines` keeps them all. ``show_errors=False`` leaves
    the error to the caller, which raises it as one line (the magic does).
    """

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False,
                 show_code: bool = True, model_allowed: bool = True, show_errors: bool = True,
                 write: Callable[[str], None] | None = None) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.show_code = show_code
        self.model_allowed = model_allowed
        self.show_errors = show_errors
        self.write = write
        self.lines: list[str] = []
        self._failure = ""  # the failed run a repair answers

    def _print(self, text: str) -> None:
        self.lines.append(text)
        if self.quiet:
            return
        if self.write is not None:
            self.write(text)
        else:
            print(text, file=self.stream, flush=True)

    def _say(self, text: str) -> None:
        self._print(f"semcache: {text}")

    def __call__(self, event: Event) -> None:
        data = event.data
        if event.kind == "match":
            self._say(describe_match(data["match"], model_allowed=self.model_allowed))
        elif event.kind == "wait":
            self._say(f"{data['stage']}: {data['detail']}")
        elif event.kind == "stage" and data["state"] == "started" and data["stage"] in (
                "adapting", "generating", "repairing"):
            after = f" (after {self._failure})" if data["stage"] == "repairing" and (
                self._failure) else ""
            self._say(f"{data['stage']}…{after}")
        elif event.kind == "run":
            self._failure = data["result"].message
        elif event.kind == "code" and self.show_code and data["origin"] not in ("exact",):
            self._say(f"{data['origin']} code:")
            self._print(_indent(data["code"]))
        elif event.kind == "saved":
            state = "new snippet" if data["created"] else "counted a use"
            self._say(f"saved {data['snippet'].id} ({state})")
        elif event.kind == "error" and self.show_errors:
            self._say(f"error: {data['error'].describe()}")
        elif event.kind == "warning":
            self._say(f"warning: {data['message']}")

    def finish(self, outcome: TaskOutcome) -> None:
        parts = ", ".join(f"{k} {seconds(v)}" for k, v in outcome.timings.items()
                          if k != "total")
        total = seconds(outcome.timings.get("total", 0.0))
        self._say(f"{outcome.status.label} in {total} ({parts}); "
                  f"{plural(outcome.model_calls, 'model call')}")


def _indent(code: str) -> str:
    # Blank lines stay blank: the listing is the code, line for line.
    return "\n".join("    " + line if line.strip() else ""
                     for line in code.rstrip().splitlines())
