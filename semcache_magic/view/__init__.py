"""How a task and its snippets are shown: the faces' shared renderings.

* :class:`TextView` -- pipeline events as lines on a terminal (IPython, the CLI);
* :class:`TaskWidget` -- the same events as an ipywidgets view in a notebook
  (imported on first use: ipywidgets is not needed on a terminal);
* :func:`relay_output` / :func:`print_output` -- the isolated kernel's outputs as
  outputs of the current cell, or on a terminal;
* one-line renderings of a snippet, a match and a duration.
"""

from __future__ import annotations

from typing import Any

from ._lines import EVIDENCE_WORDS, age, describe_match, plural, seconds, shorten, snippet_line
from ._text import TextView, print_output, relay_output

__all__ = [
    "EVIDENCE_WORDS",
    "TaskWidget",
    "TextView",
    "age",
    "describe_match",
    "plural",
    "print_output",
    "relay_output",
    "seconds",
    "shorten",
    "snippet_line",
]


def __getattr__(name: str) -> Any:
    if name == "TaskWidget":  # ipywidgets only when a notebook view is built
        from ._widget import TaskWidget

        return TaskWidget
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
