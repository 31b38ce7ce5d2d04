"""The names ``from module import *`` binds, found without running the module.

A star import hides which names a cell gets from it, so without this every name the
cell uses from the module would look undefined. The module's source is located the way
``import`` would (a path search that imports nothing, not even parent packages) and
read: its ``__all__`` when that is a literal list, else its public top-level names
(nested star imports followed). Only compiled standard-library modules, which have no
source, are imported to ask them (``math``); any other compiled module stays unknown.
"""

from __future__ import annotations

import ast
import functools
import importlib
import sys
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path

__all__ = ["star_names"]

# Importing these does something visible.
_NEVER_IMPORTED = frozenset({"this", "antigravity", "idlelib", "turtledemo", "tkinter"})


def _spec(module: str) -> ModuleSpec | None:
    parts = module.split(".")
    try:
        spec = PathFinder.find_spec(parts[0])
        for depth in range(1, len(parts)):
            if spec is None or not spec.submodule_search_locations:
                return None
            spec = PathFinder.find_spec(".".join(parts[: depth + 1]),
                                        list(spec.submodule_search_locations))
    except (ImportError, ValueError, OSError):
        return None
    return spec


def _compiled_stdlib(module: str) -> frozenset[str] | None:
    top = module.split(".")[0]
    if top not in sys.stdlib_module_names or top in _NEVER_IMPORTED:
        return None
    try:
        loaded = importlib.import_module(module)
    except Exception:
        return None
    names = getattr(loaded, "__all__", None)
    return frozenset(names if names is not None else
                     (n for n in dir(loaded) if not n.startswith("_")))


def _literal_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                 for t in node.targets)):
            try:
                value = ast.literal_eval(node.value)
            except (ValueError, SyntaxError, TypeError):
                return None
            return [str(v) for v in value] if isinstance(value, list | tuple) else None
    return None


def _top_level(tree: ast.Module, package: str, depth: int) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name != "*":
                    names.add((alias.asname or alias.name).split(".")[0])
                elif isinstance(node, ast.ImportFrom) and depth < 3:
                    base = package.rsplit(".", node.level - 1)[0] if node.level else ""
                    inner = ".".join(p for p in (base, node.module or "") if p)
                    names |= set(_names(inner, depth + 1) or ())
    return {n for n in names if not n.startswith("_")}


def _names(module: str, depth: int) -> frozenset[str] | None:
    spec = _spec(module)
    if spec is None:
        return _compiled_stdlib(module) if module in sys.builtin_module_names else None
    origin = spec.origin or ""
    if not origin.endswith(".py"):
        return _compiled_stdlib(module)
    try:
        tree = ast.parse(Path(origin).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return None
    listed = _literal_all(tree)
    if listed is not None:
        return frozenset(listed)
    package = module if spec.submodule_search_locations else module.rpartition(".")[0]
    return frozenset(_top_level(tree, package, depth))


@functools.lru_cache(maxsize=512)
def star_names(module: str) -> frozenset[str] | None:
    """The names ``from module import *`` binds, or None when that cannot be known."""
    if not module or module == "*" or module.startswith("."):
        return None
    return _names(module, 0)
