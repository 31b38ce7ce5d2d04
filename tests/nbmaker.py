"""Notebooks for import tests, written with nbformat as Jupyter writes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbformat import v4


def error_output(line: int | None = None, ename: str = "ZeroDivisionError") -> Any:
    """An error output as IPython 8 leaves it (ANSI colours, the cell's own frame first)."""
    frame = ([f"\x1b[0;31mCell In[7], line {line}\x1b[0m\n----> {line} boom()"]
             if line is not None else [])
    return v4.new_output("error", ename=ename, evalue="boom",
                         traceback=["\x1b[0;31m-------\x1b[0m", *frame, f"{ename}: boom"])


def write_notebook(path: Path, cells: list[Any], language: str = "python") -> Path:
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "k", "display_name": "K", "language": language}
    nb.cells = cells
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def md(text: str) -> Any:
    return v4.new_markdown_cell(text)


def code(source: str, **kwargs: Any) -> Any:
    return v4.new_code_cell(source, **kwargs)
