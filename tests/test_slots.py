"""The slot tier's substitution: right when it answers, silent (None) when unsure."""

from __future__ import annotations

import ast
import io
import tokenize

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from semcache_magic.task import Literal, analyse_task, substitute


def sub(seed: str, code: str, task: str) -> str | None:
    old, new = analyse_task(seed), analyse_task(task)
    assert old.template == new.template
    result = substitute(code, old.literals, new.literals)
    return None if result is None else result.code


def run(code: str, capsys: pytest.CaptureFixture[str]) -> str:
    exec(compile(code, "<snippet>", "exec"), {})
    return capsys.readouterr().out.strip()


@pytest.mark.parametrize(
    ("seed", "code", "task", "expected"),
    [
        ("Subtract 7 from 50", "print(50 - 7)\n", "Subtract 12 from 30", "18"),
        ("Subtract 7 from 50", "print(50 - 7)\n", "Subtract -12 from 30", "42"),
        ("Subtract -7 from 50", "x = -7\nprint(50 - x)\n", "Subtract 12 from 30", "18"),
        ("Swap 7 and 50", "print(7, 50)\n", "Swap 50 and 7", "50 7"),
        ("Reverse 'notebook'", "print('notebook'[::-1])\n", "Reverse 'lancedb'", "bdecnal"),
        ("Print 1000 doubled", "print(1_000 * 2)\n", "Print 21 doubled", "42"),
        ("Say 'a b'", "s = '''a b'''\nprint(s)\n", "Say 'c d'", "c d"),
        ("Label 6", "print('value: 6')\n", "Label 7", "value: 7"),
        ("Round 1.25 to 1 place", "print(round(1.25, 1))\n", "Round 2.75 to 1 place", "2.8"),
    ],
)
def test_unambiguous_mappings_are_substituted_correctly(
    seed: str, code: str, task: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    new_code = sub(seed, code, task)
    assert new_code is not None
    assert run(new_code, capsys) == expected


@pytest.mark.parametrize(
    ("seed", "code", "task", "why"),
    [
        ("Print 2 squared", "print(2**2)\n", "Print 4 squared", "value occurs twice"),
        ("Factorial of 6", "import math\n# factorial of 6\nprint(math.factorial(6))\n",
         "Factorial of 7", "also in a comment"),
        ("Factorial of 6", "import math\nprint(f'6! = {math.factorial(6)}')\n",
         "Factorial of 7", "inside an f-string as well"),
        ("Weekday of 2024-07-04", "from datetime import date\nprint(date(2024, 7, 4))\n",
         "Weekday of 2025-12-25", "date literal absent from the code"),
        ("Mean of 4, 4 and 10", "print((4 + 4 + 10) / 3)\n", "Mean of 5, 4 and 10",
         "two slots share an old value"),
        ("Print 6", "print(6)\n", "Print 6.5", "int becomes float"),
        ("Print 5", "print(5, 5.0)\n", "Print 6", "same value written as a float too"),
        ("Print 5", "print(-5)\n", "Print 7", "code negates where the task does not"),
        ("Say 'hi'", "hi = 1\nprint('hi there')\n", "Say 'yo'", "also an identifier"),
        ("Say 'ab'", "print(b'ab')\n", "Say 'cd'", "bytes literal"),
        ("Say 'ab'", "print('ab')\n", "Say 'c\"d'", "new value needs escaping"),
        ("Use 3", "print(3 +)\n", "Use 4", "code does not parse"),
        ("Add 3 to 4", "print(7)\n", "Add 5 to 6", "literals absent from the code"),
    ],
)
def test_ambiguous_mappings_fall_through(seed: str, code: str, task: str, why: str) -> None:
    assert sub(seed, code, task) is None, why


def test_unchanged_literals_need_no_substitution() -> None:
    a = analyse_task("Print 5")
    result = substitute("print(5)\n", a.literals, a.literals)
    assert result is not None and result.changes == () and result.code == "print(5)\n"


def test_kinds_must_line_up() -> None:
    assert substitute("print(5)\n", (Literal("number", "5"),), (Literal("string", "5"),)) is None


def test_the_devset_param_queries_are_served_right(
    devset: list[dict], capsys: pytest.CaptureFixture[str]
) -> None:
    served = 0
    for family in devset:
        seed = analyse_task(family["seed_task"])
        for query in family["queries"]:
            task = analyse_task(query["task"])
            if task.template != seed.template:
                continue
            result = substitute(family["seed_code"], seed.literals, task.literals)
            if result is None:
                continue
            served += 1
            assert run(result.code, capsys) == query["expect"], query["task"]
    assert served >= 8


# -- properties -------------------------------------------------------------------------

def significant_tokens(code: str) -> list[str]:
    skip = {tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER, tokenize.ENCODING}
    return [t.string for t in tokenize.generate_tokens(io.StringIO(code).readline)
            if t.type not in skip]


numbers = st.integers(min_value=-1000, max_value=100_000)
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz _-./", min_size=1, max_size=12).filter(
    lambda s: s.strip() == s and s)


@st.composite
def programs(draw: st.DrawFn) -> tuple[str, list[int]]:
    """Small programs using a few integer constants in assorted positions."""
    values = draw(st.lists(numbers, min_size=1, max_size=4))
    templates = [
        "x{i} = {v}\n", "print({v})\n", "print(abs({v}) + 1)\n", "y = [{v}, 2]\n",
        "# note {v}\n", "print('n={v}')\n", "z = {{'k': {v}}}\n", "print(3 - {v})\n",
    ]
    lines = [draw(st.sampled_from(templates)).format(i=i, v=v) for i, v in enumerate(values)]
    return "".join(lines), values


@settings(max_examples=300, deadline=None)
@given(programs(), st.lists(numbers, min_size=1, max_size=4))
def test_number_substitution_parses_and_only_touches_asked_tokens(
    program: tuple[str, list[int]], replacements: list[int]
) -> None:
    code, values = program
    k = min(len(values), len(replacements))
    old = tuple(Literal("number", str(v)) for v in values[:k])
    new = tuple(Literal("number", str(v)) for v in replacements[:k])
    result = substitute(code, old, new)
    if result is None:
        return
    ast.parse(result.code)  # never produces code that does not parse
    changed = [(o.text, n.text) for o, n in zip(old, new, strict=True) if o.text != n.text]
    asked_old = {o.lstrip("-") for o, _ in changed}
    asked_new = {n.lstrip("-") for _, n in changed}
    # Negative values may add or drop a sign and parentheses; every other token must
    # stay in place, and a token that differs must be an asked literal.
    def core(code_text: str) -> list[str]:
        return [t for t in significant_tokens(code_text) if t not in {"-", "(", ")"}]

    before, after = core(code), core(result.code)
    assert len(before) == len(after), (code, result.code)
    for was, now in zip(before, after, strict=True):
        if was == now:
            continue
        if was.startswith("'"):  # a number inside a string label
            assert any(o in was for o, _ in changed) and any(n in now for _, n in changed)
        else:
            assert was in asked_old and now in asked_new, (code, result.code, was, now)


@settings(max_examples=200, deadline=None)
@given(words, words)
def test_string_substitution_changes_exactly_one_string_token(old: str, new: str) -> None:
    assume(old != new)
    code = f"a = 1\ntext = '{old}'\nprint(text, a)\n"
    result = substitute(code, (Literal("string", old),), (Literal("string", new),))
    if result is None:
        return
    ast.parse(result.code)
    before, after = significant_tokens(code), significant_tokens(result.code)
    diffs = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert diffs == [(f"'{old}'", f"'{new}'")]
