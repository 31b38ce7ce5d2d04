"""The share stage: snippets out to files, notebooks into the cache, between namespaces.

* export: :func:`export_snippets` writes scripts, a module or a notebook that run
  without semcache (:func:`render_script` and friends render one; ``_codegen``
  rewrites IPython-only lines and turns literal slots into parameters);
* import: :func:`import_files` harvests the code cells of notebooks and ``# %%``
  scripts into the cache (:func:`harvest_file` reads one without saving);
* :func:`promote_snippet` copies a snippet into another namespace (e.g. ``team``);
* :func:`read_text` reads a user's file (or standard input) as UTF-8, with one-line errors;
  ``_nbfile`` reads, writes, builds and executes notebook files (nbformat, nbclient).
"""

from __future__ import annotations

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
from ._harvest import (
    Cell,
    Harvest,
    ImportedCell,
    ImportReport,
    Skip,
    harvest_file,
    harvest_files,
    import_files,
)
from ._nbfile import (
    build_notebook,
    execute_notebook,
    notebook_json,
    parse_notebook,
    read_notebook,
    write_notebook,
)

__all__ = [
    "FORMATS",
    "Cell",
    "Harvest",
    "ImportReport",
    "ImportedCell",
    "Skip",
    "build_notebook",
    "execute_notebook",
    "export_snippets",
    "harvest_file",
    "harvest_files",
    "import_files",
    "notebook_json",
    "parse_notebook",
    "promote_snippet",
    "read_notebook",
    "read_text",
    "render_module",
    "render_notebook",
    "render_script",
    "safe_name",
    "select_snippets",
    "write_notebook",
]
