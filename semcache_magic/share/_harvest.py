"""Code cells of notebooks and ``# %%`` scripts as self-contained, described snippets.

For each file (see :mod:`._notebooks`), every code cell is read as plain Python
(:func:`semcache_magic.task.plain_python`), then:

* **skipped** with its reason when it is empty, only comments, only magics or shell
  commands, a cell magic that is not Python (``%%bash``), a ``%%cached_task`` cell, not
  valid Python, failed in the notebook (an error output), only shows a value (``df``,
  ``df.head()``), only imports and configures, or nothing describes it;
* otherwise **sliced**: the statements of earlier cells it needs become its context code,
  and the names still undefined its free names (:class:`semcache_magic.cells.NotebookSlicer`).
  Cells that are skipped still serve as context for later cells -- a failed cell up to the
  line that failed;
* and **described**: a task from its own comment, the markdown before it, its heading
  and what the code does (:class:`semcache_magic.cells.TaskWriter`), unique across the
  import; a repeat of the same task and code is skipped as a duplicate.

A bad file (empty, invalid JSON, another language...) is skipped with its reason; it
never stops the others. Output is deterministic: files in path order, origins relative
to the import root.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cells import NotebookSlicer, TaskWriter, distinct_tasks, is_inspection, is_setup_only
from ..errors import HarvestError
from ..task import STATEMENT_CELL_MAGICS, as_python, compiles, plain_python
from ._notebooks import RawCell, Skip, find_files, read_cells

__all__ = ["Cell", "Harvest", "Progress", "harvest_paths"]

#: Called as ``progress(stage, done, total)`` while an import works through a stage.
Progress = Callable[[str, int, int], None]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Where a cell's own frame names its failing line: IPython 8 ("Cell In[3], line 2"),
# 8.0-8.4 ("in <cell line: 2>") and 7 (the first "----> 2" arrow).
_FAILED_LINE = re.compile(r"Cell In\s*\[[^\]]*\],\s*line (\d+)|<cell line: (\d+)>|^-+>\s*(\d+)",
                          re.MULTILINE)


@dataclass(frozen=True)
class Cell:
    """A code cell worth importing, with what it needs from its notebook."""

    task: str
    code: str  # the cell as written (IPython syntax allowed: it runs in a kernel)
    context_code: str  # earlier statements it needs, plain Python, in notebook order
    free_names: tuple[str, ...]  # still undefined with the context: state from outside
    path: str  # relative to the import root, "/"-separated
    cell: int  # index in the notebook's cells (markdown included), from 0
    star_imports: tuple[str, ...] = ()  # `from x import *` in the context

    @property
    def origin(self) -> dict[str, Any]:
        return {"path": self.path, "cell": self.cell}

    @property
    def where(self) -> str:
        return f"{self.path} [cell {self.cell}]"

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "code": self.code, "context_code": self.context_code,
                "free_names": list(self.free_names), "origin": self.origin}


@dataclass
class Harvest:
    """What a set of files holds: cells to import and everything skipped, with reasons."""

    root: str
    files: list[str] = field(default_factory=list)  # files read (relative to root)
    cells: list[Cell] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    code_cells: int = 0

    @property
    def skipped_files(self) -> list[Skip]:
        return [s for s in self.skipped if s.cell is None]


# -- one cell ------------------------------------------------------------------------------------

def _rejection(cell: RawCell, plain: str) -> str | None:
    """Why a code cell can neither be imported nor serve as context, or None."""
    lines = [line.strip() for line in cell.source.splitlines() if line.strip()]
    if not lines:
        return "empty"
    statements = [line for line in lines if not line.startswith("#")]
    if not statements:
        return "only comments"
    if statements[0].startswith("%%cached_task"):
        return "a %%cached_task cell (its code is cached already)"
    if (cell.metadata.get("semcache") or {}).get("context_of"):
        return "the context of an exported snippet (it comes with that snippet)"
    if as_python(cell.source) is None:
        return "not valid Python"
    magic = statements[0][2:].split()[0] if statements[0].startswith("%%") else ""
    if magic and magic not in STATEMENT_CELL_MAGICS:
        return f"a cell magic (%%{magic}), not Python"
    if not compiles(plain):
        return "not valid Python once its IPython syntax is commented out"
    if not ast.parse(plain).body:
        return "magics or shell commands only"
    return None


def _ran_before_error(cell: RawCell, plain: str) -> str | None:
    """The statements of a failed cell that ran before the line that failed (they defined
    names later cells use), or None when that line is not known."""
    for output in cell.outputs:
        if output.get("output_type") != "error":
            continue
        if output.get("ename") in ("SyntaxError", "IndentationError", "TabError"):
            return None  # nothing of the cell ran
        text = _ANSI.sub("", "\n".join(str(line) for line in output.get("traceback") or []))
        found = _FAILED_LINE.search(text)
        if found is None:
            return None
        line = int(next(group for group in found.groups() if group))
        tree = ast.parse(plain)
        ran = [node for node in tree.body if (node.end_lineno or node.lineno) < line]
        if not ran:
            return None
        return "".join(plain.splitlines(keepends=True)[: ran[-1].end_lineno])
    return None


# -- one file ------------------------------------------------------------------------------------

def _harvest_file(cells: Sequence[RawCell], path: str, harvest: Harvest) -> None:
    usable: list[str | None] = [None] * len(cells)  # plain Python of cells fit for context
    reasons: dict[int, str] = {}
    for index, cell in enumerate(cells):
        if cell.kind != "code":
            continue
        harvest.code_cells += 1
        plain = plain_python(cell.source)[0]
        reason = _rejection(cell, plain)
        if reason is None and any(o.get("output_type") == "error" for o in cell.outputs):
            reason = "it raised an error (error output)"
            usable[index] = _ran_before_error(cell, plain)
        elif reason is None:
            usable[index] = plain
        if reason is not None:
            reasons[index] = reason
    slicer = NotebookSlicer(usable)
    writer = TaskWriter()
    for index, cell in enumerate(cells):
        if cell.kind == "markdown":
            writer.markdown(cell.source)
        if cell.kind != "code":
            continue
        code, task = usable[index], None
        reason = reasons.get(index, "")
        if not reason and code is not None:
            if is_inspection(code):
                reason = "display only"
            elif is_setup_only(code):
                reason = "imports and settings only (the cells that use them carry them)"
            else:
                task = writer.task(code, title=cell.title)
                reason = "" if task else "no task: no comment, markdown or heading describes it"
        if reason or code is None or not task:
            writer.skip()
            harvest.skipped.append(Skip(path, index, reason))
            continue
        piece = slicer.slice(index)
        harvest.cells.append(Cell(
            task=task, code=cell.source.strip("\n") + "\n", context_code=piece.context_code,
            free_names=piece.free_names, path=path, cell=index,
            star_imports=piece.star_imports))


def _make_distinct(harvest: Harvest) -> None:
    """Unique tasks across the import; a repeated (task, code) is skipped as a duplicate."""
    cells = harvest.cells
    choices = distinct_tasks([(cell.task, plain_python(cell.code)[0]) for cell in cells])
    kept: list[Cell] = []
    for cell, (task, earlier) in zip(cells, choices, strict=True):
        if earlier is None:
            kept.append(Cell(task, cell.code, cell.context_code, cell.free_names, cell.path,
                             cell.cell, cell.star_imports))
        else:
            harvest.skipped.append(Skip(cell.path, cell.cell,
                                        f"duplicate of {cells[earlier].where}"))
    harvest.cells = kept
    harvest.skipped.sort(key=lambda s: (s.path, -1 if s.cell is None else s.cell))


def harvest_paths(paths: Sequence[str | Path], *, progress: Progress | None = None) -> Harvest:
    """Read ``paths`` (files and directories) into cells to import and reasoned skips.

    Never raises for a bad file; raises :class:`HarvestError` only when ``paths`` is empty.
    """
    if not paths:
        raise HarvestError("no files to import")
    root, files, skipped = find_files(paths)
    harvest = Harvest(root=str(root), skipped=list(skipped))
    with warnings.catch_warnings():  # invalid escapes in the notebooks' code are theirs
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        for number, file in enumerate(files, 1):
            relative = file.relative_to(root).as_posix()
            try:
                cells = read_cells(file)
            except HarvestError as exc:
                harvest.skipped.append(Skip(relative, None, exc.message))
            else:
                harvest.files.append(relative)
                _harvest_file(cells, relative, harvest)
            if progress is not None:
                progress("reading", number, len(files))
        _make_distinct(harvest)
    return harvest
