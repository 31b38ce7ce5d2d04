"""The share stage: snippets out to files, notebooks into the cache, between namespaces.

* export: :func:`export_snippets` writes scripts, a module or a notebook that run
  without semcache (:func:`render_script` and friends render one; ``_codegen``
  rewrites IPython-only lines and turns literal slots into parameters);
* import: :func:`import_files` turns the code cells of notebooks and ``# %%`` scripts
  (files or folders) into snippets with their context, free names, task and origin
  (:func:`harvest_paths` reads them without saving; :func:`forget_imported` deletes
  what came from given notebooks);
* :func:`promote_snippet` copies a snippet into another namespace (e.g. ``team``);
* :func:`read_text` reads a user's file (or standard input) as UTF-8, with one-line errors;
  ``_nbfile`` reads, writes, builds and executes notebook files (nbformat, nbclient);
* freeze: :func:`freeze_notebook` writes a copy of a notebook whose ``%%cached_task``
  cells are the code that ran (:func:`freeze_cells` does it to cells), also as the
  nbconvert :class:`SemcacheFreeze` preprocessor and :class:`FreezeExporter`
  (imported on first use: nbconvert is slow to import).
"""

from __future__ import annotations

from typing import Any

from ._export import (
    FORMATS,
    export_snippets,
    promote_snippet,
    render_module,
    render_notebook,
    render_script,
    safe_name,
    select_snippets,
)
from ._files import read_text
from ._freeze import FreezeReport, freeze_cells
from ._harvest import Cell, Harvest, Progress, harvest_paths
from ._import import ImportedCell, ImportReport, forget_imported, import_files
from ._nbfile import (
    build_notebook,
    execute_notebook,
    notebook_json,
    parse_notebook,
    read_notebook,
    write_notebook,
)
from ._notebooks import Skip, find_files, read_cells

__all__ = [
    "FORMATS",
    "Cell",
    "FreezeExporter",
    "FreezeReport",
    "Harvest",
    "ImportReport",
    "ImportedCell",
    "Progress",
    "SemcacheFreeze",
    "Skip",
    "build_notebook",
    "execute_notebook",
    "export_snippets",
    "find_files",
    "forget_imported",
    "freeze_cells",
    "freeze_notebook",
    "harvest_paths",
    "import_files",
    "notebook_json",
    "parse_notebook",
    "promote_snippet",
    "read_cells",
    "read_notebook",
    "read_text",
    "render_module",
    "render_notebook",
    "render_script",
    "safe_name",
    "select_snippets",
    "write_notebook",
]


def __getattr__(name: str) -> Any:
    if name in ("FreezeExporter", "SemcacheFreeze", "freeze_notebook"):
        from . import _nbconvert

        return getattr(_nbconvert, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
