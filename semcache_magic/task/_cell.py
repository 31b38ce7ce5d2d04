"""Cell source as Python: the one reader of IPython syntax (``%magic``, ``!cmd``).

Notebook cells and model answers may hold lines that only IPython runs. Two readings:

* :func:`as_python` -- the cell as IPython runs it (its ``TransformerManager``: magics
  become ``get_ipython()`` calls), or ``None`` when IPython could not run it either.
  For analysis: imported libraries, whether an answer is code, whether a cell is Python.
* :func:`plain_python` -- the cell as plain Python, for export and for slicing: every
  physical line of a magic or shell escape (``!cmd \\`` continuations included) becomes a
  comment, except that magics which only time, profile or capture a statement keep the
  statement (``%time grid.fit(X, y)`` -> ``grid.fit(X, y)``; ``%%time`` keeps its body).

Both locate IPython syntax with IPython's own token finders, never regexes, so a ``%``
or ``!`` inside a string or a comment is never mistaken for a magic. This is the only
module that imports IPython's input transformers (lazily: most cells are plain Python).
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["STATEMENT_CELL_MAGICS", "as_python", "compiles", "imported_libraries",
           "parse_cell", "plain_python"]

# Top-level await is valid in a kernel, so it is valid here.
_FLAGS = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT

#: Line magics that run the rest of the line as a statement (value: options taking a value).
STATEMENT_LINE_MAGICS: dict[str, frozenset[str]] = {
    "time": frozenset(),
    "timeit": frozenset("nrp"),
    "prun": frozenset("slTD"),
}
#: Cell magics that run their body as Python (value: options taking a value).
STATEMENT_CELL_MAGICS: dict[str, frozenset[str]] = {**STATEMENT_LINE_MAGICS,
                                                    "capture": frozenset()}
_NOTE = "# IPython only: "


def _tree(code: str) -> ast.Module:
    with warnings.catch_warnings():  # `'\d'` in someone's notebook is not our warning
        warnings.simplefilter("ignore")
        tree: ast.Module = compile(code, "<cell>", "exec", flags=_FLAGS)
    return tree


def compiles(code: str) -> bool:
    """True when ``code`` is Python (top-level ``await`` allowed, as in a kernel)."""
    try:
        _tree(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _normalise(code: str) -> str:
    return code.replace("\r\n", "\n").replace("\r", "\n")


def as_python(code: str) -> str | None:
    """``code`` with IPython syntax turned into the Python IPython would run, or ``None``
    when it is not Python even then (or IPython is missing)."""
    code = _normalise(code)
    if compiles(code):
        return code
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return None
    try:
        transformed: str = TransformerManager().transform_cell(code)
    except (SyntaxError, ValueError, RuntimeError):
        return None
    return transformed if compiles(transformed) else None


def parse_cell(code: str) -> ast.Module | None:
    """The syntax tree of ``code`` read as a kernel would read it, or ``None``."""
    source = as_python(code)
    return None if source is None else _tree(source)


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


# -- plain Python ------------------------------------------------------------------------------

def _without_options(text: str, with_value: frozenset[str]) -> str:
    """``text`` without a magic's leading ``-x`` options (``-n 3``, ``-n3``, ``-q``)."""
    rest = text.lstrip()
    while rest.startswith("-"):
        match = re.match(r"-(\w)(\S*)\s*", rest)
        if match is None:
            break
        flag, attached = match.groups()
        rest = rest[match.end():]
        if flag in with_value and not attached:
            rest = re.sub(r"^\S+\s*", "", rest, count=1)
    return rest.strip()


def _comment(line: str, indent: str, first: bool) -> str:
    """One physical line of IPython-only syntax as a comment that keeps its block valid."""
    text = line.rstrip("\n").strip()
    if first and indent:  # the only statement of a block must stay a statement
        return f"{indent}pass  {_NOTE}{text}\n"
    return f"{indent}{_NOTE}{text}\n" if first else f"{indent}#   {text}\n"


def _cell_magic(lines: list[str], dropped: list[str]) -> list[str] | None:
    """A ``%%magic`` cell: its body if the magic runs it as Python, else all commented."""
    start = next((i for i, line in enumerate(lines) if line.strip()), None)
    if start is None or not lines[start].startswith("%%"):
        return None
    name, _, args = lines[start][2:].rstrip("\n").partition(" ")
    if name in STATEMENT_CELL_MAGICS:
        # `%%timeit -n1 setup = 1` runs its arguments once, as setup, before the body
        setup = _without_options(args, STATEMENT_CELL_MAGICS[name]) if name == "timeit" else ""
        dropped.append(lines[start].rstrip("\n"))
        head = f"{setup}  {_NOTE}%%{name}\n" if setup else f"{_NOTE}{lines[start].strip()}\n"
        return [*lines[:start], head, *lines[start + 1:]]
    dropped.extend(line.rstrip("\n") for line in lines[start:])
    return [*lines[:start], *(_comment(line, "", i == 0)
                              for i, line in enumerate(lines[start:]))]


def _finders() -> list[Any]:
    from IPython.core import inputtransformer2 as it2

    return [it2.MagicAssign, it2.SystemAssign, it2.EscapedCommand, it2.HelpEnd]


def _span(found: Any, lines: list[str]) -> tuple[int, int]:
    """First and last physical line (0-based) of one piece of IPython syntax."""
    from IPython.core.inputtransformer2 import HelpEnd, find_end_of_continued_line

    if isinstance(found, HelpEnd):
        return found.start_line, found.q_line
    return found.start_line, find_end_of_continued_line(lines, found.start_line)


def _rewrite(found: Any, lines: list[str], dropped: list[str]) -> list[str]:
    from IPython.core.inputtransformer2 import EscapedCommand, assemble_continued_line

    first, last = _span(found, lines)
    original = lines[first: last + 1]
    indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
    if isinstance(found, EscapedCommand):
        text = assemble_continued_line(lines, (first, found.start_col), last)
        match = re.match(r"%(\w+)\s*(.*)$", text, flags=re.DOTALL)
        if match and match.group(1) in STATEMENT_LINE_MAGICS:
            statement = _without_options(match.group(2), STATEMENT_LINE_MAGICS[match.group(1)])
            if statement and compiles(statement):  # `%time grid.fit(X)` still fits the grid
                blank = ["\n"] * (len(original) - 1)  # keeps the line numbers
                return [*lines[:first], f"{indent}{statement}\n", *blank, *lines[last + 1:]]
    dropped.extend(line.rstrip("\n") for line in original)
    lhs = lines[first][: found.start_col]
    if lhs.strip():  # `x = %who_ls`, `files = !ls`: the name is left undefined
        indent = lhs[: len(lhs) - len(lhs.lstrip())]
    new = [_comment(line, indent, i == 0) for i, line in enumerate(original)]
    return [*lines[:first], *new, *lines[last + 1:]]


def _strip_prompts(lines: list[str]) -> list[str]:
    from IPython.core.inputtransformer2 import classic_prompt, ipython_prompt

    strippers: list[Callable[[list[str]], list[str]]] = [classic_prompt, ipython_prompt]
    for strip in strippers:
        stripped = strip(lines)
        if len(stripped) == len(lines):  # they keep lines; anything else is left alone
            lines = stripped
    return lines


def plain_python(code: str) -> tuple[str, list[str]]:
    """``code`` as plain Python, and the IPython-only lines that were commented out.

    Code that is already plain Python comes back unchanged; otherwise every line of the
    result stands for the same line of ``code``. The result may still not parse when
    the cell is not Python even for IPython (check with :func:`compiles`).
    """
    code = _normalise(code)
    if compiles(code):
        return code, []
    from IPython.core.inputtransformer2 import TokenTransformBase, make_tokens_by_line

    trailing = code.endswith("\n")
    lines = _strip_prompts((code if trailing else code + "\n").splitlines(keepends=True))
    dropped: list[str] = []
    magic_cell = _cell_magic(lines, dropped)
    if magic_cell is not None:
        lines = magic_cell
    finders = _finders()
    for _ in range(len(lines) + 1):  # each pass rewrites at least one piece of syntax
        tokens = make_tokens_by_line(lines)
        found = sorted((f for f in (finder.find(tokens) for finder in finders) if f),
                       key=TokenTransformBase.sortby)
        if not found:
            break
        lines = _rewrite(found[0], lines, dropped)
    result = "".join(lines)
    return (result if trailing else result[:-1]), dropped
