"""The task stage: what a user asked for, made comparable.

* :func:`analyse_task` normalises a task, pulls out its literals and hashes it
  (the exact tier's key and the slot tier's template);
* :func:`substitute` puts other literal values into a snippet's code where the
  mapping is mechanically sound; :func:`declared_parameters` finds the values the
  code binds in its ``# parameters`` block (certain mappings), and
  :func:`shape_change` says when a new value could change what the code does (a
  sign, a zero, int vs float, an order, separators, a date format);
* :func:`redact` removes secrets from any text before it is stored or sent;
* :func:`as_python` / :func:`parse_cell` read cell source that holds IPython syntax
  (``%magic``, ``!cmd``) as the Python a kernel runs, for analysis; :func:`plain_python`
  reads it as plain Python (IPython-only lines commented out), for export and slicing.
"""

from __future__ import annotations

from ._analysis import Literal, TaskAnalysis, analyse_task, clean_task_text, schema_key
from ._cell import (
    STATEMENT_CELL_MAGICS,
    as_python,
    compiles,
    imported_libraries,
    parse_cell,
    plain_python,
)
from ._params import (
    PARAMETERS_MARKER,
    declared_parameters,
    has_parameters_marker,
    inline_parameters,
)
from ._redact import (
    PLACEHOLDER,
    Redaction,
    looks_like_secret,
    redact,
    redact_text,
    warm_redaction,
)
from ._shapes import (
    STRUCTURAL_NUMBERS,
    ShapeChange,
    is_structural,
    shape_change,
    shape_changes,
    value_class,
    value_shape,
)
from ._slots import Substitution, substitute

__all__ = [
    "PARAMETERS_MARKER",
    "PLACEHOLDER",
    "STATEMENT_CELL_MAGICS",
    "STRUCTURAL_NUMBERS",
    "Literal",
    "Redaction",
    "ShapeChange",
    "Substitution",
    "TaskAnalysis",
    "analyse_task",
    "as_python",
    "clean_task_text",
    "compiles",
    "declared_parameters",
    "has_parameters_marker",
    "imported_libraries",
    "inline_parameters",
    "is_structural",
    "looks_like_secret",
    "parse_cell",
    "plain_python",
    "redact",
    "redact_text",
    "schema_key",
    "shape_change",
    "shape_changes",
    "substitute",
    "value_class",
    "value_shape",
    "warm_redaction",
]
