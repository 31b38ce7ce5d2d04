"""The demo: the quickstart notebook, and a local stand-in for Claude.

* :func:`run_quickstart` executes ``notebooks/quickstart.ipynb`` (``semcache demo``)
  against real Claude when ``ANTHROPIC_API_KEY`` is set, else against
* :class:`ModelServer`, a local server that speaks the Anthropic Messages API (JSON
  and SSE) on 127.0.0.1 and records every request. Tests and the demo point the
  real anthropic SDK at it through ``base_url``; it is a test double, never used
  for real work. Its built-in answers (:func:`default_reply`) substitute literals
  into the reference; :meth:`ModelServer.script` and ``handler`` override them.
"""

from __future__ import annotations

from ._answers import ERROR_TYPES, Reply, default_reply, substitute_literals
from ._quickstart import DEMO_ANSWERS, find_quickstart, prepare_demo, run_quickstart, summarise
from ._server import ModelServer, RecordedRequest

__all__ = [
    "DEMO_ANSWERS",
    "ERROR_TYPES",
    "ModelServer",
    "RecordedRequest",
    "Reply",
    "default_reply",
    "find_quickstart",
    "prepare_demo",
    "run_quickstart",
    "substitute_literals",
    "summarise",
]
