"""Notebooks and ``# %%`` scripts to import: finding them and reading their cells.

:func:`find_files` takes files and directories (searched recursively for ``*.ipynb`` and
``*.py``; hidden folders such as ``.ipynb_checkpoints`` are left out, folder links are not
followed) and names the import root, the deepest folder holding every argument: origins
are stored relative to it. :func:`read_cells` reads one file, or raises
:class:`~semcache_magic.errors.HarvestError` saying why it cannot (the importer skips that
file and goes on).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HarvestError
from ._nbfile import load_notebook

__all__ = ["SUFFIXES", "RawCell", "Skip", "find_files", "read_cells"]

SUFFIXES = (".ipynb", ".py")
_PRUNED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "dist-packages"})
_CELL_MARK = re.compile(r"^#\s?%%(?P<rest>.*)$")


@dataclass(frozen=True)
class Skip:
    """A file (``cell`` None) or a code cell that was not imported, and why."""

    path: str
    cell: int | None
    reason: str

    @property
    def where(self) -> str:
        return self.path if self.cell is None else f"{self.path} [cell {self.cell}]"

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "cell": self.cell, "reason": self.reason}


@dataclass(frozen=True)
class RawCell:
    kind: str  # code, markdown or raw
    source: str
    outputs: tuple[dict[str, Any], ...] = ()
    title: str = ""  # of a `# %% title` script cell
    metadata: dict[str, Any] = field(default_factory=dict)


def find_files(paths: Sequence[str | Path]) -> tuple[Path, list[Path], list[Skip]]:
    """(import root, files to read in path order, arguments that are not files to read)."""
    files: set[Path] = set()
    skipped: list[Skip] = []
    anchors: list[str] = []
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            anchors.append(os.path.abspath(path))
            for folder, subfolders, names in os.walk(path):
                subfolders[:] = sorted(d for d in subfolders
                                       if not d.startswith(".") and d not in _PRUNED_DIRS)
                files.update(Path(os.path.abspath(Path(folder, name))) for name in names
                             if name.endswith(SUFFIXES) and not name.startswith("."))
        elif path.is_file() and path.suffix in SUFFIXES:
            anchors.append(os.path.dirname(os.path.abspath(path)))
            files.add(Path(os.path.abspath(path)))
        elif path.exists():
            skipped.append(Skip(str(given), None, "not a notebook (.ipynb) or script (.py)"))
        else:
            skipped.append(Skip(str(given), None, "no such file or directory"))
    root = Path(os.path.commonpath(anchors)) if anchors else Path.cwd()
    return root, sorted(files, key=lambda f: f.relative_to(root).as_posix()), skipped


def _text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HarvestError(f"cannot read: {exc.strerror or exc}") from exc
    if not data.strip():
        raise HarvestError("empty file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HarvestError("not UTF-8 text") from exc


def _joined(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source or "")


def _notebook_cells(path: Path) -> list[RawCell]:
    try:
        notebook = load_notebook(_text(path))
    except ValueError as exc:
        raise HarvestError(str(exc)) from exc
    meta = notebook.get("metadata") or {}
    language = ((meta.get("kernelspec") or {}).get("language")
                or (meta.get("language_info") or {}).get("name") or "python")
    if str(language).lower() not in ("python", "python3", "ipython", "ipython3"):
        raise HarvestError(f"a {language} notebook, not Python")
    return [RawCell(kind=str(cell.get("cell_type") or "raw"), source=_joined(cell.get("source")),
                    outputs=tuple(o for o in cell.get("outputs") or [] if isinstance(o, dict)),
                    metadata=dict(cell.get("metadata") or {}))
            for cell in notebook.get("cells") or [] if isinstance(cell, dict)]


def _script_cells(path: Path) -> list[RawCell]:
    """Cells of a ``# %%`` (percent format) script; ``# %% [markdown]`` cells are prose."""
    lines = _text(path).splitlines()
    marks = [i for i, line in enumerate(lines) if _CELL_MARK.match(line)]
    if not marks:
        raise HarvestError("a .py file without '# %%' cell markers")
    cells = []
    if any(line.strip() for line in lines[: marks[0]]):
        cells.append(RawCell("code", "\n".join(lines[: marks[0]])))
    for n, start in enumerate(marks):
        end = marks[n + 1] if n + 1 < len(marks) else len(lines)
        rest = _CELL_MARK.match(lines[start]).group("rest")  # type: ignore[union-attr]
        body = lines[start + 1: end]
        tags = re.findall(r"\[(\w+)\]", rest)
        title = re.sub(r"\[\w+\]|\w+=\S+", "", rest).strip()
        if {"markdown", "md"} & set(tags):
            prose = [re.sub(r"^#\s?", "", line) for line in body]
            cells.append(RawCell("markdown", "\n".join([title, *prose])))
        else:
            cells.append(RawCell("code", "\n".join(body), title=title))
    return cells


def read_cells(path: str | Path) -> list[RawCell]:
    """The cells of a notebook or ``# %%`` script.

    Raises :class:`HarvestError` with a short reason (empty, not UTF-8, invalid JSON, an
    unknown format version, not Python, no cell markers).
    """
    path = Path(path)
    return _notebook_cells(path) if path.suffix == ".ipynb" else _script_cells(path)
