"""Shape checks: may a new task value take an old value's place in the same code?

A slot substitution is only as good as the assumption that the code does not
depend on *what* the value is, only on *where* it goes. That assumption breaks
at observable boundaries: a sign or a zero (``x[-n:]`` with ``n = 0``), int vs
float (``'ab' * 2.5``), the order of two values (``range(a, b)`` with ``a > b``),
the separators of a string (``'x.tar.gz'.split('.')[1]``) or the format of a
date (``fromisoformat('12/25/2023')``). :func:`shape_changes` lists such changes
(empty when every changed value keeps the old one's shape and every relation
between the task's values holds); each has a key, so the model's word on one can
be remembered as evidence.

Small integers (-1, 0, 1, 2) are also structure in code (``n + 1``, ``i ** 2``,
``range(1, n, 2)``): a mapping that rests only on such a value occurring once in
the code is never trusted (:func:`is_structural`); only a declared parameter is.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ._analysis import Literal

__all__ = ["STRUCTURAL_NUMBERS", "ShapeChange", "is_structural", "shape_change", "shape_changes",
           "value_class", "value_shape"]

#: Numbers that are as often structure (offsets, exponents, steps) as data.
STRUCTURAL_NUMBERS = frozenset({-1, 0, 1, 2})


def is_structural(literal: Literal) -> bool:
    """True for a number that code uses as structure as often as data (-1, 0, 1, 2)."""
    return literal.kind == "number" and literal.value in STRUCTURAL_NUMBERS


def value_class(literal: Literal) -> str:
    """A finer class than the shape, for evidence: a confirmation earned with an even
    number says nothing about odd ones (``range(start, stop, 2)``), so each class needs
    its own (the old value's class is known good: the code was right for it)."""
    value = literal.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return literal.kind
    if isinstance(value, float):
        return "float"
    return "int-even" if value % 2 == 0 else "int-odd"


def value_shape(literal: Literal) -> tuple[object, ...]:
    """What must stay the same when this value is replaced (see the module docstring)."""
    value = literal.value
    if literal.kind == "number":
        assert isinstance(value, int | float)
        sign = (value > 0) - (value < 0)
        return ("number", type(value).__name__, sign)
    text = literal.text
    if literal.kind == "date":
        return ("date", re.sub(r"\d", "9", text))
    separators = sorted(Counter(c for c in text if not c.isalnum()).items())
    digits_only = text.isdigit()
    shape: tuple[object, ...] = (literal.kind, bool(text), digits_only, tuple(separators))
    if literal.kind == "path":
        suffix = re.search(r"\.[A-Za-z0-9]+$", text)
        shape += (suffix.group(0).lower() if suffix else "",)
    return shape


@dataclass(frozen=True)
class ShapeChange:
    """One observable change a substitution would make: ``key`` names it for evidence
    (``shape/<literal>/<new shape>`` or ``order/<i>/<j>/<new order>``), ``reason`` says it."""

    key: str
    reason: str
    kinds: bool = False  # the values are of different kinds: no evidence can cover it


def shape_changes(old: Sequence[Literal], new: Sequence[Literal]) -> list[ShapeChange]:
    """Every shape and order change between two tasks' values with the same template.

    Only changed values are checked against their old shape; relations are checked
    between every pair of values where at least one changed.
    """
    if len(old) != len(new):
        return [ShapeChange("count", "the tasks hold different numbers of values", True)]
    changed = [i for i, (o, n) in enumerate(zip(old, new, strict=True)) if o.text != n.text]
    found: list[ShapeChange] = []
    for i in changed:
        o, n = old[i], new[i]
        if o.kind != n.kind:
            found.append(ShapeChange(f"kind/{i}", f"{o.text!r} is a {o.kind}, {n.text!r} a "
                                     f"{n.kind}", True))
        elif value_shape(o) != value_shape(n):
            signature = hashlib.sha256(repr(value_shape(n)).encode()).hexdigest()[:8]
            found.append(ShapeChange(
                f"shape/{i}/{signature}",
                f"{n.text!r} does not have the shape of {o.text!r} ({_describe(o, n)})"))
    for i, a_old in enumerate(old):
        for j in range(i + 1, len(old)):
            if i not in changed and j not in changed:
                continue
            before = _order(a_old, old[j])
            after = _order(new[i], new[j])
            if before is not None and before != after:
                found.append(ShapeChange(
                    f"order/{i}/{j}/{after}",
                    f"the order of {new[i].text!r} and {new[j].text!r} differs from "
                    f"{a_old.text!r} and {old[j].text!r}"))
    return found


def shape_change(old: Sequence[Literal], new: Sequence[Literal]) -> str | None:
    """Why ``new`` cannot simply take ``old``'s place (the first change), or ``None``."""
    changes = shape_changes(old, new)
    return changes[0].reason if changes else None


def _order(a: Literal, b: Literal) -> int | None:
    """-1, 0 or 1 comparing two values of the same kind; None when they do not compare."""
    if a.kind == "number" and b.kind == "number":
        va, vb = a.value, b.value
        assert isinstance(va, int | float) and isinstance(vb, int | float)
        return (va > vb) - (va < vb)
    if a.kind == "date" and b.kind == "date" and value_shape(a) == value_shape(b):
        ka, kb = _date_key(a.text), _date_key(b.text)
        return (ka > kb) - (ka < kb)
    return None


def _date_key(text: str) -> tuple[int, ...]:
    """Comparable parts of a date written ``Y-m-d``, ``Y/m/d`` or ``m/d/Y`` (time after)."""
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    if re.match(r"\d{1,2}/\d{1,2}/\d{4}", text) and len(numbers) >= 3:
        numbers = [numbers[2], numbers[0], numbers[1], *numbers[3:]]
    return tuple(numbers)


def _describe(old: Literal, new: Literal) -> str:
    a, b = value_shape(old), value_shape(new)
    if old.kind == "number":
        if a[1] != b[1]:
            return f"{a[1]} vs {b[1]}"
        return "sign or zero differs"
    if old.kind == "date":
        return "another date format"
    return "other separators, digits or file type"
