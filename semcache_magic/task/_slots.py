"""Slot substitution: a snippet's code with the task's values changed to a new task's.

A stored snippet for "Reverse the string 'notebook'" holding
``print('notebook'[::-1])`` becomes ``print('lancedb'[::-1])`` for "Reverse the
string 'lancedb'" by changing one token. Whether that result may be *served*
without the model is decided by the lookup from the evidence for each changed
value (see :mod:`semcache_magic.cache`); this module only says where each value
goes and whether the edit is mechanically sound.

A value bound in the code's parameters block (a *declared* parameter, see
``_params``) is edited there. Any other value is located heuristically, and
:func:`substitute` returns ``None`` (no mapping) unless all of these hold:

* both tasks have the same literal kinds in the same order (same template);
* the changed literals have pairwise different old values, none equal to an
  unchanged literal of the same task (which occurrence would be whose?);
* each changed old value occurs **exactly once** in the whole code -- counting
  code, strings *and* comments -- and that occurrence is a number token
  (numbers) or lies inside a plain string literal (strings, dates, paths);
* the new value keeps the number's type (int stays int) and a string needs no
  escaping (no quotes, backslashes, braces or new lines);
* the result parses, and only the edited tokens differ.

Occurrences are counted with regex escapes (``\\b``, ``\\d``...) read as word
boundaries, so a value hidden in ``r'\\bcat\\b'`` is seen.
"""

from __future__ import annotations

import ast
import io
import itertools
import keyword
import re
import tokenize
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ._analysis import Literal
from ._params import parameter_spans

__all__ = ["Substitution", "substitute"]


@dataclass(frozen=True)
class Substitution:
    """Code with literals substituted, the (old, new) pairs applied, the indices of the
    changed literals (``slots``) and, among them, those edited as declared parameters."""

    code: str
    changes: tuple[tuple[str, str], ...]
    slots: tuple[int, ...] = ()
    declared: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


_ESCAPE = re.compile(r"\\[A-Za-z]")
_UNSAFE_STRING_CHARS = re.compile(r"['\"\\{}\n\r\x00]")
# After these tokens a '-' is unary (part of a negative literal), not subtraction.
_UNARY_CONTEXT = {"(", "[", "{", ",", "=", ":", "+", "-", "*", "/", "%", "**", "//", "<", ">",
                  "<=", ">=", "==", "!=", "+=", "-=", "*=", "/=", "->", "@", "&", "|", "^"}


def substitute(
    code: str, old: Sequence[Literal], new: Sequence[Literal], *,
    declared: Mapping[int, str] | None = None,
) -> Substitution | None:
    """Return ``code`` with ``old`` literal values replaced by ``new``, or ``None``.

    ``declared`` maps literal indices to the variables of the code's parameters
    block. ``None`` means no mechanically sound mapping exists (see the module
    docstring); the caller must then fall through to the model.
    """
    if len(old) != len(new) or any(o.kind != n.kind for o, n in zip(old, new, strict=True)):
        return None
    changed = [i for i, (o, n) in enumerate(zip(old, new, strict=True)) if not _same(o, n)]
    if not changed:
        return Substitution(code=code, changes=())
    spans = parameter_spans(code, {i: v for i, v in (declared or {}).items() if i in changed})
    unchanged = [o for o, n in zip(old, new, strict=True) if _same(o, n)]
    heuristic = [i for i in changed if i not in spans]
    for k, i in enumerate(heuristic):
        o = old[i]
        if any(_same(o, old[j]) for j in heuristic[k + 1:]):
            return None  # two slots with the same old value
        if any(_same(o, u) for u in unchanged):
            return None  # an unchanged literal has the same value: whose occurrence is it?
    tokens = _tokens(code)
    if tokens is None:
        return None
    offsets = _line_offsets(code)
    edits: list[_Edit] = []
    for i in changed:
        o, n = old[i], new[i]
        if i in spans:
            edit = _edit_declared(code, spans[i], o, n)
        elif o.kind == "number":
            edit = _edit_number(code, tokens, offsets, o, n)
        else:
            edit = _edit_string(code, tokens, offsets, o, n)
        if edit is None:
            return None
        edits.append(edit)
    edits.sort(key=lambda e: e.start)
    if any(a.end > b.start for a, b in itertools.pairwise(edits)):
        return None
    result = code
    for edit in reversed(edits):
        result = result[: edit.start] + edit.text + result[edit.end :]
    if not _only_edits_changed(code, result, edits):
        return None
    return Substitution(
        code=result, changes=tuple((old[i].text, new[i].text) for i in changed),
        slots=tuple(changed), declared=tuple(i for i in changed if i in spans))


def _edit_declared(code: str, span: tuple[int, int], old: Literal, new: Literal) -> _Edit | None:
    """Replace the value a declared parameter is bound to (a number or a plain string)."""
    start, end = span
    current = code[start:end]
    if old.kind == "number":
        if type(old.value) is not type(new.value):
            return None
        return _Edit(start, end, new.text)
    opening = re.match(r"([A-Za-z]*)('\'\'|\"\"\"|'|\")", current)
    if opening is None or opening.group(1) or _UNSAFE_STRING_CHARS.search(new.text):
        return None  # prefixed (raw, bytes, f) strings and escapes are not ours to rewrite
    quote = opening.group(2)
    return _Edit(start, end, f"{quote}{new.text}{quote}")


def _same(a: Literal, b: Literal) -> bool:
    if a.kind == "number" and b.kind == "number":
        va, vb = a.value, b.value
        return type(va) is type(vb) and va == vb
    return a.text == b.text


def _tokens(code: str) -> list[tokenize.TokenInfo] | None:
    try:
        ast.parse(code)
        return list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (SyntaxError, tokenize.TokenError, IndentationError, ValueError):
        return None


def _line_offsets(code: str) -> list[int]:
    offsets = [0]
    for line in code.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    return offsets


def _span(tok: tokenize.TokenInfo, offsets: list[int]) -> tuple[int, int]:
    (srow, scol), (erow, ecol) = tok.start, tok.end
    return offsets[srow - 1] + scol, offsets[erow - 1] + ecol


def _textual_occurrences(code: str, text: str) -> list[int]:
    """Start offsets where ``text`` appears as a whole word/number anywhere in the code.

    Backslash escapes count as separators (``\\bcat`` holds the word ``cat``); the
    replacement keeps every offset in place.
    """
    code = _ESCAPE.sub("  ", code)
    left = r"(?<![\w.])" if re.match(r"[\w.]", text) else ""
    right = r"(?![\w.])" if re.search(r"[\w.]$", text) else ""
    if text.startswith("-"):
        left = r"(?<![\w.\-])"
    return [m.start() for m in re.finditer(left + re.escape(text) + right, code)]


def _number_value(token: str) -> int | float | None:
    try:
        value = ast.literal_eval(token)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _edit_number(
    code: str,
    tokens: list[tokenize.TokenInfo],
    offsets: list[int],
    old: Literal,
    new: Literal,
) -> _Edit | None:
    old_value, new_value = old.value, new.value
    if type(old_value) is not type(new_value):
        return None  # 6 -> 6.5 would change the program's types
    negative = isinstance(old_value, int | float) and old_value < 0
    magnitude = abs(old_value) if isinstance(old_value, int | float) else old_value
    hits: list[tuple[int, int, bool]] = []  # (start, end, unary-minus-included)
    significant = [t for t in tokens if t.type not in _TRIVIA]
    for i, tok in enumerate(significant):
        if tok.type != tokenize.NUMBER:
            continue
        value = _number_value(tok.string)
        if value is None or value != magnitude:
            continue
        if type(value) is not type(magnitude):
            return None  # 5.0 where the task says 5: the same value written another way
        prev = significant[i - 1] if i else None
        before = significant[i - 2] if i > 1 else None
        unary = (
            prev is not None
            and prev.type == tokenize.OP
            and prev.string == "-"
            and (before is None or before.string in _UNARY_CONTEXT or _is_keyword(before))
        )
        if unary != negative:
            return None  # the code has -x where the task says x (or vice versa)
        start, end = _span(tok, offsets)
        if unary and prev is not None:
            start = _span(prev, offsets)[0]
        hits.append((start, end, unary))
    # Count every textual appearance too (inside strings, comments, f-strings) so a
    # value also printed in a label, or named in a comment, makes the slot ambiguous.
    textual = [p for p in _textual_occurrences(code, old.text) if not _inside(p, hits)]
    if len(hits) + len(textual) != 1:
        return None
    if textual:
        return _edit_inside_string(code, tokens, offsets, textual[0], old.text, new.text)
    start, end, unary = hits[0]
    text = new.text
    if new.text.startswith("-") and not unary:
        text = f"({new.text})"  # 50 - 7 -> 50 - (-12), never 50 - -12 by accident of spacing
    return _Edit(start, end, text)


_TRIVIA = {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT,
           tokenize.ENCODING, tokenize.ENDMARKER}


def _is_keyword(tok: tokenize.TokenInfo) -> bool:
    return tok.type == tokenize.NAME and keyword.iskeyword(tok.string)


def _inside(position: int, hits: list[tuple[int, int, bool]]) -> bool:
    return any(start <= position < end for start, end, _ in hits)


def _edit_string(
    code: str,
    tokens: list[tokenize.TokenInfo],
    offsets: list[int],
    old: Literal,
    new: Literal,
) -> _Edit | None:
    if not old.text or "\\" in old.text or _UNSAFE_STRING_CHARS.search(new.text):
        return None
    occurrences = _textual_occurrences(code, old.text)
    if len(occurrences) != 1:
        return None
    return _edit_inside_string(code, tokens, offsets, occurrences[0], old.text, new.text)


def _edit_inside_string(
    code: str,
    tokens: list[tokenize.TokenInfo],
    offsets: list[int],
    position: int,
    old_text: str,
    new_text: str,
) -> _Edit | None:
    """Replace the occurrence at ``position`` if it lies inside a plain string literal."""
    if _UNSAFE_STRING_CHARS.search(new_text):
        return None
    for tok in tokens:
        if tok.type != tokenize.STRING:
            continue
        start, end = _span(tok, offsets)
        if not start <= position < end:
            continue
        opening = re.match(r"([A-Za-z]*)('\'\'|\"\"\"|'|\")", tok.string)
        if opening is None:
            return None
        letters, quote = opening.group(1).lower(), opening.group(2)
        if "f" in letters or "b" in letters:
            return None  # f-string fields are code; bytes cannot take any text
        body_start, body_end = start + len(opening.group(0)), end - len(quote)
        if position < body_start or position + len(old_text) > body_end:
            return None  # overlaps a quote or prefix
        return _Edit(position, position + len(old_text), new_text)
    return None  # the value appears only in code or comments: not a literal we may touch


def _only_edits_changed(before: str, after: str, edits: list[_Edit]) -> bool:
    """``after`` parses and its tokens equal ``before``'s everywhere outside the edits."""
    new_tokens, old_tokens = _tokens(after), _tokens(before)
    if new_tokens is None or old_tokens is None:
        return False
    new_edits, shift = [], 0
    for edit in edits:  # edits are sorted and disjoint
        new_edits.append(_Edit(edit.start + shift, edit.start + shift + len(edit.text), ""))
        shift += len(edit.text) - (edit.end - edit.start)
    return _masked(before, old_tokens, edits) == _masked(after, new_tokens, new_edits)


def _masked(code: str, tokens: list[tokenize.TokenInfo], edits: list[_Edit]) -> list[str]:
    """Token strings with each edited span collapsed to one marker (strings: text outside it)."""
    offsets = _line_offsets(code)
    out: list[str] = []
    for tok in tokens:
        if tok.type in _TRIVIA and tok.type != tokenize.COMMENT:
            continue
        start, end = _span(tok, offsets)
        hit = next((i for i, e in enumerate(edits) if start < e.end and e.start < end), None)
        if hit is None:
            out.append(tok.string)
            continue
        edit = edits[hit]
        if start <= edit.start and edit.end <= end and tok.type == tokenize.STRING:
            out.append(code[start : edit.start] + f"\x00{hit}" + code[edit.end : end])
        elif not out or out[-1] != f"\x00{hit}":
            out.append(f"\x00{hit}")  # number, unary minus and added parentheses
    return out
