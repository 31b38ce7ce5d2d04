"""Notebooks into the cache: harvested cells saved as ``imported`` snippets, and forgotten.

:func:`import_files` harvests files and folders (:func:`._harvest.harvest_paths`), prepares
each cell as a snippet -- task, code and context redacted, origin ``{"path", "cell"}``
recorded -- and saves the new ones in batches (one embedding batch and one append each),
reporting progress. Snippets already stored are left untouched (an import is not a use),
so importing the same files again changes nothing.

Imported snippets are references: the lookup hands them to the model to adapt and never
serves them as they are, because a notebook cell was never run on its own.

:func:`forget_imported` deletes what came from given notebooks, so a notebook that changed
can be imported afresh (``semcache import --forget nb.ipynb nb.ipynb``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ..errors import TaskError
from ._harvest import Cell, Harvest, Progress, harvest_paths
from ._notebooks import Skip, find_files

if TYPE_CHECKING:
    from ..cache import SnippetCache
    from ..snippet import Snippet

__all__ = ["ImportReport", "ImportedCell", "forget_imported", "import_files"]

#: Snippets embedded and appended at a time: progress moves, memory stays flat.
BATCH = 128


@dataclass
class ImportedCell:
    """A harvested cell as it is (or would be) stored; ``status`` is ``new``, ``exists``
    (stored before) or ``duplicate`` (the same snippet earlier in this import)."""

    cell: Cell
    snippet: Snippet
    status: str
    redacted: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"origin": self.cell.origin, "status": self.status, "id": self.snippet.id,
                "task": self.snippet.task, "free_names": self.snippet.free_names,
                "redacted": self.redacted}


@dataclass
class ImportReport:
    harvest: Harvest
    items: list[ImportedCell]
    dry_run: bool
    forgotten: list[Snippet] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)  # the harvest's, and failed saves

    def count(self, status: str) -> int:
        return sum(1 for item in self.items if item.status == status)

    @property
    def self_contained(self) -> int:
        """Snippets whose code and context define every name they use."""
        return sum(1 for item in self.items if not item.snippet.free_names)

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "root": self.harvest.root,
                "files": len(self.harvest.files), "code_cells": self.harvest.code_cells,
                "new": self.count("new"), "exists": self.count("exists"),
                "duplicate": self.count("duplicate"), "self_contained": self.self_contained,
                "forgotten": [{"id": s.id, "origin": s.origin} for s in self.forgotten],
                "items": [item.to_json() for item in self.items],
                "skipped": [skip.to_json() for skip in self.skipped]}


def _prepare(cache: SnippetCache, harvest: Harvest, *, namespace: str | None,
             tags: Sequence[str], progress: Progress | None,
             gone: set[str]) -> tuple[list[ImportedCell], list[Skip]]:
    items: list[ImportedCell] = []
    failed: list[Skip] = []
    seen: set[str] = set()
    for number, cell in enumerate(harvest.cells, 1):
        if progress is not None:  # the first one waits for the model and the store
            progress("preparing", number - 1, len(harvest.cells))
        try:
            snippet, found = cache.prepare(
                cell.task, cell.code, source="imported", namespace=namespace, tags=tags,
                origin=cell.origin, context_code=cell.context_code, free_names=cell.free_names)
        except TaskError as err:
            failed.append(Skip(cell.path, cell.cell, err.message))
            continue
        status = "duplicate" if snippet.id in seen else "new"
        items.append(ImportedCell(cell, snippet, status, sorted(set(found))))
        seen.add(snippet.id)
    # on a dry run the forgotten snippets are still stored, yet would be imported anew
    existing = cache.existing_ids([i.snippet.id for i in items if i.status == "new"]) - gone
    for item in items:
        if item.status == "new" and item.snippet.id in existing:
            item.status = "exists"
    return items, failed


def import_files(
    cache: SnippetCache,
    paths: Sequence[str | Path],
    *,
    namespace: str | None = None,
    tags: Sequence[str] = (),
    dry_run: bool = False,
    forget: Sequence[str | Path] = (),
    progress: Progress | None = None,
) -> ImportReport:
    """Import the code cells of ``paths`` (notebooks, ``# %%`` scripts, folders of them).

    ``forget`` first deletes what earlier imports took from those notebooks (see
    :func:`forget_imported`). Nothing is written on ``dry_run``. Bad files and skipped
    cells are in the report with their reasons; nothing here raises for one bad file.
    """
    forgotten = forget_imported(cache, forget, namespace=namespace, dry_run=dry_run) \
        if forget else []
    with warnings.catch_warnings():
        # Parsing other people's cells: "invalid escape sequence" and the like are theirs
        # to fix, and one per cell would bury the import's own report.
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        harvest = harvest_paths(paths, progress=progress) if paths else Harvest(root="")
        items, failed = _prepare(cache, harvest, namespace=namespace, tags=tags,
                                 progress=progress, gone={s.id for s in forgotten})
    new = [item for item in items if item.status == "new"]
    if not dry_run:
        if progress is not None and new:  # shown while the embedding model loads
            progress("saving", 0, len(new))
        for start in range(0, len(new), BATCH):
            batch = new[start: start + BATCH]
            stored = cache.add_prepared([item.snippet for item in batch])
            for item, (snippet, _) in zip(batch, stored, strict=True):
                item.snippet = snippet
            if progress is not None:
                progress("saving", start + len(batch), len(new))
    return ImportReport(harvest=harvest, items=items, dry_run=dry_run, forgotten=forgotten,
                        skipped=[*harvest.skipped, *failed])


def _held_in(stored: str, given: Path) -> bool:
    """True when the origin path ``stored`` (relative to some import root) names ``given``
    or a notebook under it: its trailing components match, or it lies in that folder."""
    parts = PurePosixPath(stored).parts
    wanted = PurePosixPath(given.as_posix()).parts
    if not parts or not wanted:
        return False
    if len(wanted) >= len(parts) and wanted[len(wanted) - len(parts):] == parts:
        return True
    # `sub` names the origins `sub/...` (never `.` or `/`: those would name everything)
    return not given.is_absolute() and len(parts) > len(wanted) and (
        parts[: len(wanted)] == wanted)


def forget_imported(
    cache: SnippetCache, paths: Sequence[str | Path], *, namespace: str | None = None,
    dry_run: bool = False,
) -> list[Snippet]:
    """Delete the imported snippets (in the save namespace) that came from ``paths``.

    A path names a notebook as it is on disk or as its origin is stored (relative to the
    folder it was imported from); a folder names every notebook in it. Returns what was
    (or, on ``dry_run``, would be) deleted.
    """
    targets: list[Path] = []
    for given in paths:
        path = Path(given).expanduser()
        targets += find_files([path])[1] if path.is_dir() else [path]
        targets.append(path)  # a folder also matches origins stored under its name
    chosen = [s for s in cache.imported(namespace)
              if any(_held_in(str(s.origin.get("path", "")), t) for t in targets)]
    if chosen and not dry_run:
        cache.delete_many([s.id for s in chosen])
    return chosen
