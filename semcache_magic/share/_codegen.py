"""Rewriting snippet code for life outside the cache.

* :func:`script_code` -- IPython-only lines (magics, shell escapes) commented out.
* :func:`display_last` -- a trailing expression printed, as a notebook displays it.
* :func:`parametrize` -- a snippet's literal slots turned into function parameters,
  only where :func:`semcache_magic.task.substitute` would change them (the value
  occurs exactly once), so the function does what the snippet did.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Sequence

from ..task import Literal, plain_python, substitute

__all__ = ["default_value", "display_last", "indent", "parametrize", "parses", "script_code",
           "trailing_expression"]

_PARAM_BASE = {"number": "number", "string": "text", "path": "path", "date": "date"}


def parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


_DISPLAY_SHIM = (
    "try:\n"
    "    from IPython.display import display\n"
    "except ImportError:  # plain Python: show the value as text\n"
    "    display = print\n"
)


def script_code(code: str) -> tuple[str, list[str]]:
    """``code`` as a plain Python script, and notes on what changed.

    IPython-only lines become comments (:func:`semcache_magic.task.plain_python`: every
    line of a continued ``!cmd \\``, while ``%time stmt`` keeps ``stmt``). ``display`` is
    a builtin only inside IPython: code that calls it without importing it gets a
    fallback to ``print``.
    """
    result, dropped = plain_python(code)
    notes = [f"IPython-only line commented out: {line.strip()[:60]}" for line in dropped]
    if not parses(result):
        notes.append("this code does not parse as plain Python")
    else:
        try:  # parses but may not compile: top-level `await` works in IPython only
            compile(result, "<snippet>", "exec")
        except SyntaxError as exc:
            notes.append(f"not plain Python ({exc.msg}); IPython runs it as is")
    if _uses_bare_display(result):
        lines = result.split("\n")
        head = 0  # `from __future__` lines must stay first
        while head < len(lines) and re.match(r"from\s+__future__\s+import\b", lines[head]):
            head += 1
        result = "\n".join([*lines[:head], _DISPLAY_SHIM + "\n".join(lines[head:])])
        notes.append("display() falls back to print() where IPython is not installed")
    return result, notes


def _uses_bare_display(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    used = defined = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "display":
            used = used or isinstance(node.ctx, ast.Load)
            defined = defined or isinstance(node.ctx, ast.Store)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            defined = defined or any((a.asname or a.name) == "display" for a in node.names)
        elif isinstance(node, ast.FunctionDef) and node.name == "display":
            defined = True
    return used and not defined


#: Calls made for their effect that return None (``plt.show()``, ``items.append(x)``):
#: a notebook displays nothing for them, so they stay plain statements.
_NONE_CALLS = frozenset({
    "print", "display", "show", "savefig", "close", "tight_layout", "append", "extend",
    "insert", "update", "sort", "clear", "write", "writelines", "seed", "set_option",
    "pprint",
})
#: Writers that return None given a target (``df.to_csv("out.csv")``), text without one.
_WRITERS = frozenset({"to_csv", "to_json", "to_parquet", "to_excel", "to_pickle",
                      "to_feather"})


def _returns_none(call: ast.Call) -> bool:
    func = call.func
    name = func.id if isinstance(func, ast.Name) else (
        func.attr if isinstance(func, ast.Attribute) else "")
    return name in _NONE_CALLS or (name in _WRITERS and bool(call.args or call.keywords))


def trailing_expression(code: str) -> tuple[str, str] | None:
    """(code before, expression) when the code ends in an expression a notebook displays."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    node = tree.body[-1] if tree.body else None
    if not isinstance(node, ast.Expr) or node.col_offset or code.rstrip().endswith(";"):
        return None
    call = node.value
    if isinstance(call, ast.Call) and _returns_none(call):
        return None  # a statement for its effect: it stays a plain statement
    segment = ast.get_source_segment(code, node)
    if segment is None:
        return None
    before = "".join(code.split("\n")[i] + "\n" for i in range(node.lineno - 1))
    return before, segment


def _string_lines(code: str) -> set[int]:
    """Line numbers that start inside a multi-line string (indenting them would change it)."""
    inside: set[int] = set()
    for node in ast.walk(ast.parse(code)):
        is_text = isinstance(node, ast.JoinedStr) or (
            isinstance(node, ast.Constant) and isinstance(node.value, str | bytes))
        start, end = getattr(node, "lineno", 0), getattr(node, "end_lineno", 0)
        if is_text and end and end > start:
            inside.update(range(start + 1, end + 1))
    return inside


def indent(code: str, prefix: str = "    ") -> str:
    keep = _string_lines(code)
    return "\n".join(line if not line.strip() or number in keep else prefix + line
                     for number, line in enumerate(code.split("\n"), 1))


def display_last(code: str) -> str:
    """Print a trailing expression's value, as a notebook would display it."""
    split = trailing_expression(code)
    if split is None:
        return code
    before, expression = split
    return (f"{before}_result = ({expression})\n"
            "if _result is not None:  # a notebook would display this value\n"
            "    print(repr(_result))")


# -- literal slots as parameters ------------------------------------------------------------------

def _sentinel(literal: Literal, index: int, code: str) -> Literal:
    if literal.kind == "number":
        base = 7301946000 + 17 * index
        text = f"{base}.5" if isinstance(literal.value, float) else str(base)
    else:
        text = f"zqsemcacheslot{index}x"
    if text in code:  # never true in practice; keeps the sentinel unique if it is
        text = text.replace("7301946", "7301947").replace("zq", "zqz")
    return Literal(kind=literal.kind, text=text)


def _slot_string(token: str, slots: dict[str, tuple[str, Literal]], alone: bool) -> str | None:
    """A string token holding sentinels rewritten to use the parameters, or None."""
    opening = re.match(r"([A-Za-z]*)('''|\"\"\"|'|\")", token)
    if opening is None:
        return None
    prefix, quote = opening.groups()
    body = token[len(opening.group(0)): len(token) - len(quote)]
    hits = [s for s in slots if s in body]
    name, literal = slots[hits[0]]
    if alone and body == hits[0] and literal.kind != "number":
        try:
            same = ast.literal_eval(token.replace(hits[0], literal.text)) == literal.text
        except (SyntaxError, ValueError):
            same = False
        if same:  # the string's value is the stored text: the parameter can stand for it
            return name
    if "\\N" in body:
        return None  # \N{...} holds braces an f-string would read as a field
    for sentinel in hits:
        lit = slots[sentinel][1]
        if re.search(r"['\"\\{}]", lit.text) or (lit.kind == "number"
                                                 and str(lit.value) != lit.text):
            return None  # the f-string would not print the same text
    parts = re.split("(" + "|".join(map(re.escape, hits)) + ")", body)
    new_body = "".join("{" + slots[p][0] + "}" if p in slots else
                       p.replace("{", "{{").replace("}", "}}") for p in parts)
    return prefix.replace("u", "").replace("U", "") + "f" + quote + new_body + quote


def _apply_slots(code: str, slots: dict[str, tuple[str, Literal]]) -> tuple[str, set[str]]:
    """Replace sentinel tokens by parameter references; revert those that cannot be."""
    lines = code.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(code).readline)
              if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT,
                                tokenize.INDENT, tokenize.DEDENT)]
    edits, used = [], set()
    for i, tok in enumerate(tokens):
        hits = [s for s in slots if s in tok.string]
        if not hits:
            continue
        start = offsets[tok.start[0] - 1] + tok.start[1]
        end = offsets[tok.end[0] - 1] + tok.end[1]
        new: str | None = None
        if tok.type == tokenize.NUMBER and tok.string in slots:
            new = slots[tok.string][0]
        elif tok.type == tokenize.STRING:
            neighbours = tokens[i - 1: i] + tokens[i + 1: i + 2]
            alone = not any(t.type == tokenize.STRING for t in neighbours)
            new = _slot_string(tok.string, slots, alone)
        if new is None:  # back to the stored value: it stays a constant
            new = tok.string
            for sentinel in hits:
                new = new.replace(sentinel, slots[sentinel][1].text)
        else:
            used.update(hits)
        edits.append((start, end, new))
    for start, end, text in reversed(edits):
        code = code[:start] + text + code[end:]
    return code, used


def parametrize(
    code: str, literals: Sequence[Literal], reserved: set[str]
) -> tuple[str, list[tuple[str, Literal]]]:
    """Code with each unambiguous literal slot replaced by a parameter, and the parameters."""
    chosen: dict[int, Literal] = {}
    current = None
    for i, literal in enumerate(literals):
        trial = {**chosen, i: _sentinel(literal, i, code)}
        result = substitute(code, literals, [trial.get(j, lit) for j, lit in enumerate(literals)])
        if result is not None and len(result.changes) == len(trial):
            chosen, current = trial, result.code
    if current is None:
        return code, []
    taken = reserved | {t.string for t in tokenize.generate_tokens(io.StringIO(code).readline)
                        if t.type == tokenize.NAME}
    kinds = [literals[i].kind for i in chosen]
    slots: dict[str, tuple[str, Literal]] = {}
    for n, (i, sentinel) in enumerate(chosen.items()):
        base = _PARAM_BASE.get(literals[i].kind, "value")
        name = f"{base}_{kinds[: n + 1].count(literals[i].kind)}" if kinds.count(
            literals[i].kind) > 1 else base
        while name in taken:
            name += "_"
        taken.add(name)
        slots[sentinel.text] = (name, literals[i])
    converted, used = _apply_slots(current, slots)
    if not parses(converted):
        return code, []
    return converted, [slots[s] for s in slots if s in used]


def default_value(literal: Literal) -> str:
    return repr(literal.value if literal.kind == "number" else literal.text)
