"""Plain-text rendering of pipeline events (terminal IPython, ``--quiet``, the CLI).

Also :func:`relay_output`, which turns the isolated kernel's outputs into normal
outputs of the current cell, so a saved notebook shows them like any other.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, TextIO

from ..outcome import Event, TaskOutcome
from ._lines import describe_match, seconds

__all__ = ["TextView", "print_output", "relay_output"]


def _write_stream(output: Mapping[str, Any]) -> None:
    stream = sys.stderr if output.get("name") == "stderr" else sys.stdout
    stream.write(str(output.get("text", "")))
    stream.flush()


def relay_output(output: Mapping[str, Any]) -> None:
    """Show one nbformat output of the isolated kernel as an output of this cell."""
    kind = output.get("output_type")
    if kind == "stream":
        _write_stream(output)
    elif kind in ("display_data", "execute_result"):
        from IPython.display import publish_display_data

        publish_display_data(dict(output.get("data") or {}), dict(output.get("metadata") or {}))
    elif kind == "clear_output":
        from IPython.display import clear_output

        clear_output(wait=bool(output.get("wait")))
    # Errors are not relayed raw: the outcome reports them as one clear line.


def print_output(output: Mapping[str, Any], *, show_errors: bool = True) -> None:
    """Show one nbformat output on a terminal: streams as they are, rich outputs as
    their text form plus the kinds a terminal cannot show, errors as plain tracebacks."""
    kind = output.get("output_type")
    if kind == "stream":
        _write_stream(output)
    elif kind in ("display_data", "execute_result"):
        data = output.get("data") or {}
        rich = ", ".join(sorted(mime for mime in data if mime != "text/plain"))
        text = str(data.get("text/plain", ""))
        # A terminal cannot show an image: say that one is there.
        print(f"{text} [{rich}]" if text and rich else text or f"[{rich or 'empty'}]", flush=True)
    elif kind == "error" and show_errors:
        from ..run import strip_ansi

        text = "\n".join(strip_ansi(line) for line in output.get("traceback") or [])
        print(text or f"{output.get('ename')}: {output.get('evalue')}", file=sys.stderr,
              flush=True)


class TextView:
    """Prints a line per stage to ``stream``; verbose mode also shows the code."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False,
                 show_code: bool = True, model_allowed: bool = True) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.show_code = show_code
        self.model_allowed = model_allowed

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(f"semcache: {text}", file=self.stream, flush=True)

    def __call__(self, event: Event) -> None:
        data = event.data
        if event.kind == "match":
            self._say(describe_match(data["match"], model_allowed=self.model_allowed))
        elif event.kind == "wait":
            self._say(f"{data['stage']}: {data['detail']}")
        elif event.kind == "stage" and data["state"] == "started" and data["stage"] in (
                "adapting", "generating", "repairing"):
            self._say(f"{data['stage']}…")
        elif event.kind == "code" and self.show_code and data["origin"] not in ("exact",):
            self._say(f"{data['origin']} code:")
            if not self.quiet:
                print(_indent(data["code"]), file=self.stream, flush=True)
        elif event.kind == "saved":
            state = "new snippet" if data["created"] else "counted a use"
            self._say(f"saved {data['snippet'].id} ({state})")
        elif event.kind == "error":
            self._say(f"error: {data['error'].describe()}")
        elif event.kind == "warning":
            self._say(f"warning: {data['message']}")

    def finish(self, outcome: TaskOutcome) -> None:
        parts = ", ".join(f"{k} {seconds(v)}" for k, v in outcome.timings.items()
                          if k != "total")
        total = seconds(outcome.timings.get("total", 0.0))
        self._say(f"{outcome.status} in {total} ({parts}); model calls: {outcome.model_calls}")


def _indent(code: str) -> str:
    return "\n".join("    " + line for line in code.rstrip().splitlines())
