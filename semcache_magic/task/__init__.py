"""The task stage: what a user asked for, made comparable.

* :func:`analyse_task` normalises a task, pulls out its literals and hashes it
  (the exact tier's key and the slot tier's template);
* :func:`substitute` puts other literal values into a snippet's code when the
  mapping is certain (the slot tier);
* :func:`redact` removes secrets from any text before it is stored or sent;
* :func:`as_python` / :func:`parse_cell` read cell source that holds IPython syntax
  (``%magic``, ``!cmd``) as the Python a kernel runs, for analysis.
"""

from __future__ import annotations

from ._analysis import Literal, TaskAnalysis, analyse_task, clean_task_text, schema_key
from ._cell import as_python, imported_libraries, parse_cell
from ._redact import PLACEHOLDER, Redaction, redact, redact_text, warm_redaction
from ._slots import Substitution, substitute

__all__ = [
    "PLACEHOLDER",
    "Literal",
    "Redaction",
    "Substitution",
    "TaskAnalysis",
    "analyse_task",
    "as_python",
    "clean_task_text",
    "imported_libraries",
    "parse_cell",
    "redact",
    "redact_text",
    "schema_key",
    "substitute",
    "warm_redaction",
]
