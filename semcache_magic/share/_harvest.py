"""Seed the cache from existing work: code cells of notebooks and ``# %%`` scripts.

Each usable code cell becomes a snippet (source ``imported``). Its task is:

1. the markdown directly before it (headings, quotes and bullets stripped), else
2. its own title (``# %% Load the data``) or leading comment lines, else
3. the nearest markdown further up (already used by an earlier cell).

Skipped, with the reason: empty and comment-only cells, magic-only cells
(``%pip install x``), cell magics (``%%bash``; ``%%cached_task`` cells are already
in the cache), cells with an error output, code that is not Python, and cells
with no task. Secrets are redacted and identical (task, code) pairs count once.

Every file is read and checked before anything is written: an unreadable or
invalid notebook stops the import with nothing imported (one append for the rest).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import HarvestError, TaskError
from ..task import as_python
from ._files import read_text
from ._nbfile import parse_notebook

if TYPE_CHECKING:
    from ..cache import SnippetCache
    from ..snippet import Snippet

__all__ = [
    "Cell",
    "Harvest",
    "HarvestError",
    "ImportReport",
    "ImportedCell",
    "Skip",
    "harvest_file",
    "harvest_files",
    "import_files",
]


@dataclass(frozen=True)
class Cell:
    """A code cell worth importing: its task, its code and where it came from."""

    task: str
    code: str
    origin: str


@dataclass(frozen=True)
class Skip:
    origin: str
    reason: str


@dataclass
class Harvest:
    cells: list[Cell] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)


@dataclass
class ImportedCell:
    """A harvested cell as it is (or would be) stored; ``status`` is new, exists or
    duplicate (the same task and code earlier in this import)."""

    cell: Cell
    snippet: Snippet
    status: str
    redacted: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"origin": self.cell.origin, "status": self.status, "id": self.snippet.id,
                "task": self.snippet.task, "redacted": self.redacted}


@dataclass
class ImportReport:
    items: list[ImportedCell]
    skipped: list[Skip]
    dry_run: bool

    def count(self, status: str) -> int:
        return sum(1 for item in self.items if item.status == status)

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "new": self.count("new"),
                "exists": self.count("exists"), "duplicate": self.count("duplicate"),
                "items": [item.to_json() for item in self.items],
                "skipped": [{"origin": s.origin, "reason": s.reason} for s in self.skipped]}


# -- reading cells -----------------------------------------------------------------------------

_IGNORED_COMMENT = re.compile(r"#\s*(?:%%|In\s*\[|-\*-|type:|noqa|pragma|pylint|fmt:)|#!")


def _leading_comment(code: str) -> str:
    words: list[str] = []
    for line in code.splitlines():
        text = line.strip()
        if not text:
            if words:
                break
            continue
        if not text.startswith("#"):
            break
        if not _IGNORED_COMMENT.match(text):
            words.append(text.lstrip("#").strip())
    return " ".join(" ".join(words).split())


def _markdown_text(text: str) -> str:
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.DOTALL)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", text)  # images and attachments
    lines = [re.sub(r"^\s{0,3}(?:#{1,6}\s*|>\s?|[-*+]\s+)", "", line)
             for line in text.splitlines()]
    return " ".join(re.sub(r"\*\*|__", "", " ".join(lines)).split())


def _is_python(code: str) -> bool:
    # magics and `!shell` lines mixed with code are fine in a notebook
    return as_python(code) is not None


def _rejection(code: str, outputs: Iterable[Any] = ()) -> str | None:
    """Why a code cell is not imported, or None."""
    lines = [line.strip() for line in code.splitlines() if line.strip()]
    statements = [line for line in lines if not line.startswith("#")]
    if not lines:
        return "empty"
    if not statements:
        return "only comments"
    if statements[0].startswith("%%cached_task"):
        return "a %%cached_task cell (its code is cached already)"
    if statements[0].startswith("%%"):
        return f"a cell magic ({statements[0].split()[0]}), not plain Python"
    if all(line.startswith(("%", "!")) for line in statements):
        return "magics or shell commands only"
    if any(out.get("output_type") == "error" for out in outputs):
        return "it raised an error (error output)"
    if not _is_python(code):
        return "not valid Python"
    return None


def _assign_tasks(
    raw: Iterable[tuple[str, str, str, str, list[Any]]],
) -> Harvest:
    """(kind, source, title, origin, outputs) in order -> cells with tasks, and skips."""
    harvest = Harvest()
    markdown, fresh = "", False
    for kind, source, title, origin, outputs in raw:
        if kind == "markdown":
            text = _markdown_text(source)
            if text:
                markdown, fresh = text, True
            continue
        if kind != "code":
            continue
        reason = _rejection(source, outputs)
        if reason:  # a skipped cell leaves the markdown to the next (often the fixed) cell
            harvest.skipped.append(Skip(origin, reason))
            continue
        own = " ".join(title.split()) or _leading_comment(source)
        task = markdown if fresh else (own or markdown)
        fresh = False
        if not task:
            harvest.skipped.append(Skip(origin, "no task: no markdown before it and no "
                                                "leading comment"))
            continue
        harvest.cells.append(Cell(task=task, code=source.strip("\n") + "\n", origin=origin))
    return harvest


def _notebook_cells(path: Path) -> Harvest:
    text = read_text(path, "the file", HarvestError)
    try:
        notebook = parse_notebook(text)
    except Exception as exc:  # nbformat raises JSON, schema, version and attribute errors
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise HarvestError(f"{path} is not a valid notebook: {first}") from exc
    meta = notebook.get("metadata", {})
    language = (meta.get("kernelspec", {}).get("language")
                or meta.get("language_info", {}).get("name") or "python")
    if str(language).lower() != "python":
        return Harvest(skipped=[Skip(str(path), f"a {language} notebook, not Python")])
    return _assign_tasks(
        (cell.get("cell_type", ""), cell.get("source", ""), "", f"{path}: cell {n}",
         list(cell.get("outputs", [])))
        for n, cell in enumerate(notebook.cells, 1)
    )


_CELL_MARK = re.compile(r"^#\s?%%(?P<rest>.*)$")


def _script_cells(path: Path) -> Harvest:
    """Cells of a ``# %%`` (percent format) script; ``# %% [markdown]`` cells are prose."""
    lines = read_text(path, "the file", HarvestError).splitlines()
    marks = [i for i, line in enumerate(lines) if _CELL_MARK.match(line)]
    if not marks:
        raise HarvestError(f"{path} has no '# %%' cell markers",
                           hint="mark cells with '# %%' lines; nothing was imported")
    raw: list[tuple[str, str, str, str, list[Any]]] = []
    if any(line.strip() for line in lines[: marks[0]]):
        raw.append(("code", "\n".join(lines[: marks[0]]), "", f"{path}: line 1", []))
    for n, start in enumerate(marks):
        end = marks[n + 1] if n + 1 < len(marks) else len(lines)
        rest = _CELL_MARK.match(lines[start]).group("rest")  # type: ignore[union-attr]
        body = lines[start + 1: end]
        tags = re.findall(r"\[(\w+)\]", rest)
        title = re.sub(r"\[\w+\]|\w+=\S+", "", rest).strip()
        if {"markdown", "md"} & set(tags):
            prose = [re.sub(r"^#\s?", "", line) for line in body]
            raw.append(("markdown", "\n".join([title, *prose]), "", "", []))
        else:
            raw.append(("code", "\n".join(body), title, f"{path}: line {start + 1}", []))
    return _assign_tasks(raw)


def harvest_file(path: str | Path) -> Harvest:
    """The importable cells of one ``.ipynb`` or ``# %%`` ``.py`` file."""
    path = Path(path)
    if path.suffix.lower() == ".ipynb":
        return _notebook_cells(path)
    if path.suffix.lower() == ".py":
        return _script_cells(path)
    raise HarvestError(f"cannot import {path}: expected a .ipynb notebook or a .py file "
                       "with '# %%' cells")


def harvest_files(paths: Sequence[str | Path]) -> Harvest:
    """All files' cells; raises :class:`HarvestError` on the first bad file."""
    if not paths:
        raise HarvestError("no files to import", hint="give one or more .ipynb or .py files")
    total = Harvest()
    for path in paths:
        part = harvest_file(path)
        total.cells += part.cells
        total.skipped += part.skipped
    return total


def import_files(
    cache: SnippetCache,
    paths: Sequence[str | Path],
    *,
    namespace: str | None = None,
    tags: Sequence[str] = (),
    dry_run: bool = False,
) -> ImportReport:
    """Harvest ``paths`` and save the new snippets in one append (nothing on ``dry_run``).

    Snippets already in the store are reported as ``exists`` and left untouched
    (an import is not a use).
    """
    harvest = harvest_files(paths)
    skipped = list(harvest.skipped)
    items: list[ImportedCell] = []
    seen: set[str] = set()
    for cell in harvest.cells:
        try:
            snippet, found = cache.prepare(cell.task, cell.code, source="imported",
                                           namespace=namespace, tags=tags)
        except TaskError as err:  # e.g. a markdown essay over the task length limit
            skipped.append(Skip(cell.origin, err.message))
            continue
        items.append(ImportedCell(cell, snippet, "duplicate" if snippet.id in seen else "new",
                                  sorted(set(found))))
        seen.add(snippet.id)
    existing = cache.existing_ids([i.snippet.id for i in items if i.status == "new"])
    for item in items:
        if item.status == "new" and item.snippet.id in existing:
            item.status = "exists"
    new = [item for item in items if item.status == "new"]
    if new and not dry_run:
        saved = cache.save_many([{"task": i.cell.task, "code": i.cell.code, "tags": list(tags),
                                  "namespace": namespace} for i in new], source="imported")
        for item, result in zip(new, saved, strict=True):
            item.snippet = result.snippet
    return ImportReport(items=items, skipped=skipped, dry_run=dry_run)
