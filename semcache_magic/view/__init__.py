"""How a task and its snippets are shown: the faces' shared renderings.

* :class:`TextView` -- pipeline events as lines on a terminal (IPython, the CLI);
* :class:`TaskWidget` -- the same events as an ipywidgets view in a notebook
  (imported on first use: ipywidgets is not needed on a terminal);
* :func:`task_record` / :func:`record_bundle` -- what a task's notebook output keeps:
  the record of what ran (task, tier, evidence, snippet, code) with static HTML,
  Markdown and text fallbacks; :func:`find_record` reads it back from an output;
* :func:`relay_output` / :func:`print_output` -- the isolated kernel's outputs as
  outputs of the current cell, or on a terminal (:func:`save_image` keeps a figure);
* one-line renderings of a snippet, a match, a duration, and why code was served.
"""

from __future__ import annotations

from typing import Any

from ._display import TaskDisplay, kernel_id, relay_output
from ._lines import age, describe_match, evidence_words, plural, seconds, shorten, snippet_line
from ._record import RECORD_MIME, RECORD_VERSION, find_record, record_bundle, task_record
from ._text import TextView, print_output, save_image

__all__ = [
    "RECORD_MIME",
    "RECORD_VERSION",
    "TaskDisplay",
    "TaskWidget",
    "TextView",
    "age",
    "describe_match",
    "evidence_words",
    "find_record",
    "kernel_id",
    "plural",
    "print_output",
    "record_bundle",
    "relay_output",
    "save_image",
    "seconds",
    "shorten",
    "snippet_line",
    "task_record",
]


def __getattr__(name: str) -> Any:
    if name == "TaskWidget":  # ipywidgets only when a notebook view is built
        from ._widget import TaskWidget

        return TaskWidget
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
