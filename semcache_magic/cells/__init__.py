"""The cells stage: what a notebook's code cells need from each other and what they do.

Pure analysis of plain Python (no files, no IPython: :func:`semcache_magic.task.plain_python`
turns a cell into plain Python first):

* :class:`NotebookSlicer` -- for a cell, the statements of earlier cells it needs (its
  backward slice, found by def-use of names with in-place changes tracked) and the names
  that stay undefined (:class:`Slice`);
* :class:`TaskWriter` and :func:`distinct_tasks` -- tasks that describe each cell (its own
  comment, the markdown before it, its heading and what the code does), unique in an import;
* :func:`is_inspection` / :func:`is_setup_only` -- cells that only show a value, or only
  import and configure: context for others, not snippets of their own.
"""

from __future__ import annotations

from ._describe import TaskWriter, clean_markdown, code_phrase, distinct_tasks
from ._slicing import NotebookSlicer, Slice
from ._vocabulary import is_inspection, is_setup_only

__all__ = ["NotebookSlicer", "Slice", "TaskWriter", "clean_markdown", "code_phrase",
           "distinct_tasks", "is_inspection", "is_setup_only"]
