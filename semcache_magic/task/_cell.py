"""Cell source as Python: the one reader of IPython syntax (``%magic``, ``!cmd``).

Notebook cells and model answers may hold lines that only IPython runs. Analysis
(imported libraries, whether an answer is code at all, whether a notebook cell is
Python) needs them as plain Python: IPython's own input transformer does that,
so this is the only module that imports it (lazily: it is needed only for the
rare cell that is not plain Python already).
"""

from __future__ import annotations

import ast

__all__ = ["as_python", "imported_libraries", "parse_cell"]

# Top-level await is valid in a kernel, so it is valid here.
_FLAGS = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def as_python(code: str) -> str | None:
    """``code`` with IPython syntax turned into the Python IPython would run, or ``None``
    when it is not Python even then (or IPython is missing)."""
    if _compiles(code):
        return code
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return None
    try:
        transformed: str = TransformerManager().transform_cell(code)
    except (SyntaxError, ValueError):
        return None
    return transformed if _compiles(transformed) else None


def parse_cell(code: str) -> ast.Module | None:
    """The syntax tree of ``code`` read as a kernel would read it, or ``None``."""
    source = as_python(code)
    if source is None:
        return None
    tree: ast.Module = compile(source, "<cell>", "exec", flags=_FLAGS)
    return tree


def imported_libraries(code: str) -> list[str]:
    """Top-level modules the code imports (best effort; IPython magics are tolerated)."""
    tree = parse_cell(code)
    if tree is None:
        return []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return sorted(names)


def _compiles(code: str) -> bool:
    try:
        compile(code, "<cell>", "exec", flags=_FLAGS)
    except (SyntaxError, ValueError):
        return False
    return True
