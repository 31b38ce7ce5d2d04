"""Notebook files: read, build, write and execute them (the only nbformat/nbclient user).

Both libraries are imported inside the functions: only commands that touch a
notebook file pay for them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["build_notebook", "execute_notebook", "notebook_json", "parse_notebook",
           "read_notebook", "write_notebook"]


def parse_notebook(text: str) -> Any:
    """A notebook (nbformat v4 ``NotebookNode``) from its JSON text, validated.

    Raises whatever nbformat raises for bad JSON, schema or version (callers turn
    it into their own error, naming the file).
    """
    import nbformat

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbformat warns about cell ids it fills in
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    return notebook


def read_notebook(path: str | Path) -> Any:
    """The notebook at ``path``, upgraded to nbformat v4 (not validated)."""
    import nbformat

    return nbformat.read(str(path), as_version=4)


def write_notebook(notebook: Any, path: str | Path) -> None:
    import nbformat

    nbformat.write(notebook, str(path))


def notebook_json(notebook: Any) -> str:
    import nbformat

    return str(nbformat.writes(notebook))


def build_notebook(cells: Sequence[tuple[str, str, str, Mapping[str, Any]]],
                   metadata: Mapping[str, Any] | None = None) -> Any:
    """A validated v4 notebook from ``(kind, source, cell id, metadata)`` tuples,
    ``kind`` being ``"markdown"`` or ``"code"``."""
    import nbformat
    from nbformat import v4

    notebook = v4.new_notebook()
    notebook.metadata.update(dict(metadata or {}))
    for kind, source, cell_id, meta in cells:
        make = v4.new_markdown_cell if kind == "markdown" else v4.new_code_cell
        notebook.cells.append(make(source, id=cell_id, metadata=dict(meta)))
    nbformat.validate(notebook)
    return notebook


def execute_notebook(notebook: Any, *, kernel_manager: Any, cwd: str | Path,
                     timeout: int = 600, kernel_name: str = "python3") -> None:
    """Run every cell of ``notebook`` in place (nbclient), in ``kernel_manager``'s kernel.

    Raises nbclient's ``CellExecutionError`` when a cell fails; the notebook then
    holds the outputs up to that cell.
    """
    from nbclient import NotebookClient

    client = NotebookClient(notebook, km=kernel_manager, timeout=timeout,
                            kernel_name=kernel_name, resources={"metadata": {"path": str(cwd)}})
    client.execute()
