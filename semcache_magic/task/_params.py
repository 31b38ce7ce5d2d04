"""Declared parameters: the task's values bound to named variables at the top of the code.

Claude is asked to start every program with a parameters block::

    # parameters
    celsius = 25
    places = 2

one assignment per value taken from the task, written as the task gives it, with
the rest of the program derived from these names. Such a binding says, with
certainty, where a task value lives in the code: the strongest evidence a slot
substitution can have. :func:`declared_parameters` finds the bindings of a task's
literals (slot index -> variable name); :func:`parameter_spans` finds, in the
code, the value each declared variable is bound to, so the slot tier can edit
exactly that token.

Code written without the marker (by a person, or a model that did not follow the
prompt) may still open with such bindings (``c = 25`` then ``print(c * 9 / 5 +
32)``): the place of the value is as certain, but nobody promised the code works
for every value, so :func:`has_parameters_marker` tells the two apart and the
serving rules ask more of an unmarked block.

A binding only counts when it is certain: the block is the top of the program
(after the marker, if any; imports and data literals such as ``data = [1, 2]`` may
sit in it); the value equals exactly one of the task's values; the value appears
nowhere else in the code (a label still printing the old value would make the
served output wrong); and the variable is not assigned again.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence

from ._analysis import Literal

__all__ = ["PARAMETERS_MARKER", "declared_parameters", "has_parameters_marker",
           "inline_parameters", "parameter_spans"]

#: The comment that opens a parameters block (case-insensitive; text may follow).
PARAMETERS_MARKER = re.compile(r"^#\s*parameters\b", re.IGNORECASE)

#: (start, end) character offsets of a bound value in the code.
Span = tuple[int, int]


def declared_parameters(code: str, literals: Sequence[Literal]) -> dict[int, str]:
    """Slot index -> variable name for each task literal the parameters block binds."""
    bindings = _bindings(code)
    if not bindings:
        return {}
    declared: dict[int, str] = {}
    for name, (node, _span) in bindings.items():
        slots = [i for i, lit in enumerate(literals) if _equals(node, lit)]
        if len(slots) != 1 or slots[0] in declared:
            continue  # two task values alike: which one is bound here is not certain
        if _occurrences(code, literals[slots[0]]) != 1:
            continue  # the value is also written elsewhere (a label, a comment)
        declared[slots[0]] = name
    return declared


def parameter_spans(code: str, names: Mapping[int, str]) -> dict[int, Span]:
    """Slot index -> the span of the value its declared variable is bound to."""
    bindings = _bindings(code)
    return {slot: bindings[name][1] for slot, name in names.items() if name in bindings}


def has_parameters_marker(code: str) -> bool:
    """True when the code opens its parameters block with the ``# parameters`` comment."""
    return any(PARAMETERS_MARKER.match(line) for line in code.splitlines())


def _bindings(code: str) -> dict[str, tuple[ast.expr, Span]]:
    """Variable -> (value node, value span) for the parameters block of ``code``."""
    lines = code.splitlines(keepends=True)
    marker = next((i for i, line in enumerate(lines) if PARAMETERS_MARKER.match(line)), -1)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return {}
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    found: dict[str, tuple[ast.expr, Span]] = {}
    started = False
    for statement in tree.body:
        if statement.lineno <= marker + 1:
            continue
        pairs = _constant_assignments(statement)
        if pairs is None:
            if isinstance(statement, ast.Import | ast.ImportFrom) or _data(statement) or (
                    not started and _docstring(statement)):
                continue
            break  # the block ends at the first statement that is not a binding
        started = True
        for name, node in pairs:
            if name in found:
                return {}  # bound twice: not a clean block
            found[name] = (node, _span(node, lines, offsets))
    assigned_again = {
        target.id for node in ast.walk(tree)
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.For)
        for target in _targets(node)
        if isinstance(target, ast.Name) and target.id in found
        and getattr(node, "lineno", 0) > max(_line_of(found[target.id][0]), marker + 1)
    }
    return {name: value for name, value in found.items() if name not in assigned_again}


def _constant_assignments(statement: ast.stmt) -> list[tuple[str, ast.expr]] | None:
    """``a = 1`` or ``a, b = 1, 'x'``: (name, value) pairs; None for anything else."""
    if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
        return None
    target, value = statement.targets[0], statement.value
    if isinstance(target, ast.Name) and _constant(value):
        return [(target.id, value)]
    if (isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple)
            and len(target.elts) == len(value.elts)
            and all(isinstance(t, ast.Name) for t in target.elts)
            and all(_constant(v) for v in value.elts)):
        return [(t.id, v) for t, v in zip(target.elts, value.elts, strict=True)
                if isinstance(t, ast.Name)]
    return None


def _data(statement: ast.stmt) -> bool:
    """``data = [4, 8, 15]``: a literal container, data rather than a parameter."""
    return (isinstance(statement, ast.Assign) and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and isinstance(statement.value, ast.List | ast.Tuple | ast.Set | ast.Dict)
            and all(isinstance(n, ast.Constant | ast.UnaryOp | ast.List | ast.Tuple
                               | ast.Dict | ast.expr_context | ast.USub)
                    for n in ast.walk(statement.value)))


def _docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) and (
        isinstance(statement.value.value, str))


def _constant(node: ast.expr) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, int | float | str) and (
        not isinstance(node.value, bool))


def _value(node: ast.expr) -> object:
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        return -node.operand.value  # type: ignore[operator]
    assert isinstance(node, ast.Constant)
    return node.value


def _equals(node: ast.expr, literal: Literal) -> bool:
    value = _value(node)
    if literal.kind == "number":
        expected = literal.value
        return type(value) is type(expected) and value == expected
    return isinstance(value, str) and value == literal.text


def _occurrences(code: str, literal: Literal) -> int:
    """How often the literal's text appears in the code as a whole word or number."""
    text = literal.text.lstrip("-") if literal.kind == "number" else literal.text
    left = r"(?<![\w.])" if re.match(r"[\w.]", text) else ""
    right = r"(?![\w]|\.\d)" if re.search(r"[\w.]$", text) else ""
    return len(re.findall(left + re.escape(text) + right, code))


def _span(node: ast.expr, lines: list[str], offsets: list[int]) -> Span:
    # ast columns count UTF-8 bytes; the spans count characters.
    def char(line: int, col: int) -> int:
        return offsets[line - 1] + len(lines[line - 1].encode()[:col].decode(errors="ignore"))

    end_line = node.end_lineno or node.lineno
    end_col = node.end_col_offset if node.end_col_offset is not None else node.col_offset
    return char(node.lineno, node.col_offset), char(end_line, end_col)


def _line_of(node: ast.expr) -> int:
    return node.lineno


def _targets(node: ast.stmt) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        out: list[ast.expr] = []
        for target in node.targets:
            out.extend(target.elts if isinstance(target, ast.Tuple) else [target])
        return out
    if isinstance(node, ast.AugAssign | ast.AnnAssign | ast.For):
        target = node.target
        return list(target.elts) if isinstance(target, ast.Tuple) else [target]
    return []


def inline_parameters(code: str) -> ast.Module | None:
    """The syntax tree of ``code`` with its parameters block folded into the code: each
    bound value written where its variable is read, the bindings dropped. Two programs
    that differ only in declaring their values (``n = 6; f(n)`` vs ``f(6)``) then have
    the same tree."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    values = {name: node for name, (node, _span) in _bindings(code).items()}
    if not values:
        return tree
    spans = {id(node) for node in values.values()}

    class Inline(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            if isinstance(node.ctx, ast.Load) and node.id in values:
                return ast.copy_location(_copy(values[node.id]), node)
            return node

    kept = []
    for statement in tree.body:
        pairs = _constant_assignments(statement)
        if pairs and all(name in values and id(values[name]) in spans for name, _ in pairs):
            continue  # a binding of the block: folded into its uses
        kept.append(statement)
    tree.body = kept
    inlined: ast.Module = Inline().visit(tree)
    return inlined


def _copy(node: ast.expr) -> ast.expr:
    copied = ast.parse(ast.unparse(node), mode="eval").body
    return copied
