"""Freezing a notebook: every ``%%cached_task`` cell becomes the code that ran.

The code and its provenance come from the record each task's output keeps
(:func:`semcache_magic.view.find_record`), so a notebook received from someone else
freezes without their cache or a model. ``--in`` and ``--out`` need nothing: the code
now runs in the notebook's own kernel, where the inputs are already variables and the
outputs become variables (so do its other names: it no longer runs in isolation).
Semcache-only lines (``%load_ext semcache_magic``, ``%semcache ...``, ``%config
SemCache...``, imports from ``semcache_magic`` and the statements that use them)
become comments, so the frozen notebook runs in a plain Python kernel.

This module works on nbformat's dict-like cells and imports no notebook library;
:mod:`._nbconvert` wraps it as an nbconvert preprocessor.
"""

from __future__ import annotations

import ast
import re
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError
from ..view import RECORD_MIME, evidence_words, find_record

__all__ = ["FreezeReport", "freeze_cells"]

_SEMCACHE_MAGIC = re.compile(
    r"^\s*(?:[\w.]+\s*=\s*)?%(?:(?:load_ext|reload_ext|unload_ext)\s+semcache_magic\b"
    r"|semcache\b|config\s+SemCache\b)")
_COMMENT = "# [semcache] "


@dataclass
class FreezeReport:
    """What freezing did, one line per changed cell (``cell N: ...``)."""

    lines: list[str] = field(default_factory=list)
    frozen: int = 0
    missing: int = 0


def _source(cell: MutableMapping[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _is_record(output: Any) -> bool:
    data = output.get("data") or {}
    return RECORD_MIME in data or "semcache" in (output.get("metadata") or {})


def _frozen_task(record: dict[str, Any]) -> str:
    """The cell that replaces a task: a comment saying what it was, then the code."""
    task = str(record.get("task") or "").strip().splitlines() or [""]
    head = [f"# Frozen from %%cached_task (semcache): {task[0]}",
            *[f"#   {line}" for line in task[1:]]]
    facts = [f"tier {record.get('tier')}",
             str(record.get("evidence_words") or evidence_words(str(record.get("tier")))),
             f"code {record.get('origin') or '?'}"]
    if record.get("snippet_id"):
        facts.append(f"snippet {str(record['snippet_id'])[:8]}")
    head.append("# " + " · ".join(facts))
    if record.get("inputs") or record.get("outputs"):
        head.append("# inputs: " + (", ".join(record.get("inputs") or []) or "none")
                    + " · outputs: " + (", ".join(record.get("outputs") or []) or "none")
                    + " (plain variables of this notebook now)")
    code = str(record.get("code") or "").rstrip("\n")
    status = record.get("status")
    if status == "ok":
        return "\n".join(head) + "\n" + code
    if status == "dry_run" or not code:
        why = "it was a dry run" if status == "dry_run" else f"status {status}"
        body = "\n".join(f"# {line}" if line else "#" for line in code.splitlines())
        return "\n".join(head) + f"\n# Nothing ran ({why}); the proposed code:\n" + body
    head.append(f"# This code failed when the notebook ran: {record.get('error') or status}")
    return "\n".join(head) + "\n" + code


def _semcache_statements(tree: ast.Module) -> list[ast.stmt]:
    """Top-level statements that import from semcache_magic, or use what they bound."""
    bound: set[str] = set()
    found: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            names = [module or ""] if module else [a.name for a in node.names]
            if any(n == "semcache_magic" or n.startswith("semcache_magic.") for n in names):
                bound.update((a.asname or a.name).split(".")[0] for a in node.names)
                found.append(node)
                continue
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        if used & bound:
            bound.update(n.id for n in ast.walk(node)
                         if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
            found.append(node)
    return found


def plain_cell(source: str) -> str:
    """``source`` with semcache-only lines and statements commented out."""
    lines = source.split("\n")
    lines = [_COMMENT + line if _SEMCACHE_MAGIC.match(line) else line for line in lines]
    try:
        tree = ast.parse("\n".join(lines))
    except (SyntaxError, ValueError):  # other IPython syntax: the magic lines are enough
        return "\n".join(lines)
    for node in _semcache_statements(tree):
        for number in range(node.lineno - 1, (node.end_lineno or node.lineno)):
            if not lines[number].startswith(_COMMENT):
                lines[number] = _COMMENT + lines[number]
    return "\n".join(lines)


def _only_comments(source: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in source.split("\n"))


def freeze_cells(cells: Sequence[MutableMapping[str, Any]], *, strict: bool = False
                 ) -> FreezeReport:
    """Freeze ``cells`` (nbformat v4 cells, changed in place); raises
    :class:`ConfigurationError` in ``strict`` mode when a task has no record."""
    report = FreezeReport()
    for number, cell in enumerate(cells, 1):
        if cell.get("cell_type") != "code":
            continue
        source = _source(cell)
        outputs = list(cell.get("outputs") or [])
        if source.lstrip().startswith("%%cached_task"):
            record = next((r for r in map(find_record, reversed(outputs)) if r), None)
            if record is None:
                report.missing += 1
                if strict:
                    raise ConfigurationError(
                        f"cell {number} is a %%cached_task without a record of what ran",
                        hint="run the notebook with semcache first, or freeze without --strict")
                cell["source"] = "\n".join(
                    ["# [semcache] not frozen: no record of what this task ran"]
                    + [_COMMENT + line for line in source.split("\n")])
                report.lines.append(f"cell {number}: no record of what ran, commented out")
                continue
            cell["source"] = _frozen_task(record)
            cell["outputs"] = [o for o in outputs if not _is_record(o)]
            cell.setdefault("metadata", {})["semcache"] = {
                k: record.get(k) for k in ("task", "line", "tier", "evidence", "origin",
                                           "status", "snippet_id", "reference_id")}
            report.frozen += 1
            report.lines.append(f"cell {number}: {record.get('tier')} task frozen "
                                f"({record.get('status_label') or record.get('status')})")
            continue
        plain = plain_cell(source)
        if plain != source:
            cell["source"] = plain
            if _only_comments(plain):  # what it printed came from semcache
                cell["outputs"], cell["execution_count"] = [], None
            report.lines.append(f"cell {number}: semcache lines commented out")
    return report
