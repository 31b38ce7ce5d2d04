"""Notebook files: read, build, write and execute them (the only nbformat/nbclient user).

Both libraries are imported inside the functions: only commands that touch a
notebook file pay for them.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["build_notebook", "execute_notebook", "load_notebook", "notebook_json",
           "parse_notebook", "read_notebook", "write_notebook"]


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


def load_notebook(text: str) -> Any:
    """A notebook of any format Jupyter reads (v1 to v4, any minor), upgraded to v4 but not
    validated: a cell id in a 4.4 file or a missing ``outputs`` key does not stop Jupyter
    from opening it, so it does not stop an import either.

    Raises :class:`ValueError` with a short reason (bad JSON, not a notebook, a format
    version nbformat does not know).
    """
    import nbformat

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"invalid JSON: {exc}") from exc
    if not isinstance(data, dict) or not ("cells" in data or "worksheets" in data):
        raise ValueError("not a notebook: JSON without cells")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # what validation would log, we tolerate
            major, minor = nbformat.reader.get_version(data)
            if major not in nbformat.versions:
                raise ValueError(f"Unsupported nbformat version {major}")
            notebook = nbformat.versions[major].to_notebook_json(data, minor=minor)
            return nbformat.convert(notebook, 4)
    except Exception as exc:  # nbformat raises version, schema and attribute errors
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise ValueError(f"not a readable notebook: {first}") from exc


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
