"""The serving rules: the exact key, shape checks, declared parameters and evidence.

Property tests (hypothesis) draw value changes and check the one promise that
matters: a change that breaks a shape relation is never served without the model.
"""

from __future__ import annotations

import subprocess
import sys

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from semcache_magic.cache import same_program
from semcache_magic.cache._serving import decide_slot
from semcache_magic.snippet import Snippet
from semcache_magic.task import (
    analyse_task,
    declared_parameters,
    shape_change,
    value_shape,
)

WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)


def snippet(task: str, code: str, *, source: str = "manual",
            evidence: dict[str, list[str]] | None = None) -> Snippet:
    a = analyse_task(task)
    return Snippet(id="0" * 16, namespace="ns", task=a.task, task_norm=a.normalised,
                   template=a.template, template_hash=a.template_hash,
                   task_hash=a.task_hash("ns"), code=code, code_hash="", literals=a.literals,
                   source=source, params=declared_parameters(code, a.literals),
                   evidence=evidence or {})


def output(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30)
    return done.stdout.strip() if done.returncode == 0 else f"<error {done.stderr[-200:]}>"


# -- the exact key ---------------------------------------------------------------------------

@given(st.lists(WORDS, min_size=1, max_size=6), st.sampled_from([" ", "  ", "\t", "\n "]),
       st.sampled_from(["", ".", "?", " .", ";"]))
def test_white_space_trailing_punctuation_and_shouting_keep_the_key(
    words: list[str], gap: str, end: str,
) -> None:
    task = "Print " + " ".join(words)
    for variant in (gap.join(["Print", *words]) + end, task.upper(), "  " + task + end):
        assert analyse_task(variant).task_hash("n") == analyse_task(task).task_hash("n")


@given(st.lists(WORDS, min_size=2, max_size=6), st.data())
def test_changing_the_case_of_one_inner_word_makes_another_task(
    words: list[str], data: st.DataObject,
) -> None:
    index = data.draw(st.integers(min_value=1, max_value=len(words) - 1))
    changed = list(words)
    changed[index] = changed[index].upper()
    assume(changed[index] != words[index])
    a = analyse_task("Reverse the word " + " ".join(words))
    b = analyse_task("Reverse the word " + " ".join(changed))
    assert a.task_hash("n") != b.task_hash("n")


# -- shapes ------------------------------------------------------------------------------------

INTS = st.integers(min_value=-1000, max_value=1000)


@given(INTS, INTS)
def test_a_sign_or_zero_change_is_a_shape_change(old: int, new: int) -> None:
    a, b = analyse_task(f"Use {old} here"), analyse_task(f"Use {new} here")
    flipped = (old > 0) != (new > 0) or (old == 0) != (new == 0)
    assert (shape_change(a.literals, b.literals) is not None) == flipped


POSITIVE = st.integers(min_value=1, max_value=1000)


@given(POSITIVE, POSITIVE, POSITIVE, POSITIVE)
def test_the_order_of_two_values_must_hold(a1: int, b1: int, a2: int, b2: int) -> None:
    old = analyse_task(f"Count from {a1} to {b1}").literals
    new = analyse_task(f"Count from {a2} to {b2}").literals
    order_kept = (a1 > b1) - (a1 < b1) == (a2 > b2) - (a2 < b2)
    assert (shape_change(old, new) is None) == order_kept


@given(WORDS, WORDS, st.sampled_from([".", ",", "/", "-", " "]), st.integers(1, 3))
def test_string_separators_must_match(a: str, b: str, sep: str, extra: int) -> None:
    old = analyse_task(f"Split '{a}{sep}{b}' and print it").literals
    same = analyse_task(f"Split '{b}{sep}{a}' and print it").literals
    more = analyse_task(f"Split '{a}{sep * (1 + extra)}{b}' and print it").literals
    assert shape_change(old, same) is None
    assert shape_change(old, more) is not None


def test_int_and_float_and_date_formats_are_shapes() -> None:
    assert value_shape(analyse_task("x 3").literals[0]) != value_shape(
        analyse_task("x 2.5").literals[0])
    assert value_shape(analyse_task("on 2024-02-25").literals[0]) != value_shape(
        analyse_task("on 12/25/2023").literals[0])


# -- serving decisions -------------------------------------------------------------------------

@given(st.integers(min_value=3, max_value=500), INTS)
@settings(max_examples=60)
def test_a_declared_value_is_served_only_when_its_shape_holds(old: int, new: int) -> None:
    assume(new != old)
    seed = snippet(f"Print the square of {old}", f"# parameters\nn = {old}\nprint(n ** 2)\n")
    decision = decide_slot(seed, analyse_task(f"Print the square of {new}"))
    assert decision.served == (new > 0)
    if decision.served:
        assert decision.evidence == "declared"
        assert decision.substitution is not None
        assert f"n = {new}\n" in decision.substitution.code


@given(st.integers(min_value=3, max_value=99), st.integers(min_value=-5, max_value=99))
@settings(max_examples=60)
def test_an_undeclared_value_needs_the_models_confirmation_for_its_class(
    old: int, new: int,
) -> None:
    assume(new != old)
    code = f"print(sum(range({old})))\n"
    task = f"Print the sum of the numbers below {old}"
    query = analyse_task(f"Print the sum of the numbers below {new}")
    unconfirmed = decide_slot(snippet(task, code), query)
    assert not unconfirmed.served
    # A confirmation with a value of the old value's parity: the other parity stays unproven.
    same_parity = "int-even" if old % 2 == 0 else "int-odd"
    confirmed = decide_slot(
        snippet(task, code, evidence={"confirmed": [f"0/{same_parity}"]}), query)
    assert confirmed.served == (new > 0 and new % 2 == old % 2)
    both = decide_slot(
        snippet(task, code, evidence={"confirmed": ["0/int-even", "0/int-odd"]}), query)
    assert both.served == (new > 0)
    refuted = decide_slot(snippet(
        task, code, evidence={"confirmed": ["0/int-even", "0/int-odd"], "refuted": ["0"]}),
        query)
    assert not refuted.served and refuted.substitution is None


def test_structural_values_are_never_served_or_proposed_without_a_declaration() -> None:
    seed = snippet("Print the sum of all integers up to 1 million",
                   "n = 1_000_000\nprint(n * (n + 1) // 2)\n",
                   evidence={"confirmed": ["0/int-even", "0/int-odd"]})
    decision = decide_slot(seed, analyse_task("Print the sum of all integers up to 2 million"))
    assert not decision.served and decision.substitution is None
    row = snippet("Print its 2nd row", "import numpy as np\nx = np.arange(9) ** 2\nprint(x[1])\n",
                  evidence={"confirmed": ["0/int-even", "0/int-odd"]})
    assert decide_slot(row, analyse_task("Print its 3rd row")).substitution is None


def test_imported_snippets_only_propose() -> None:
    seed = snippet("Print the square of 4", "# parameters\nn = 4\nprint(n ** 2)\n",
                   source="imported")
    decision = decide_slot(seed, analyse_task("Print the square of 9"))
    assert decision.substitution is not None and decision.evidence == "proposal"


def test_a_value_also_in_a_label_is_not_a_declaration() -> None:
    code = "# parameters\nrate = 5\nprint('Interest at 5%:', 1000 * rate / 100)\n"
    assert declared_parameters(code, analyse_task("Interest at 5% on 1000").literals) == {}
    clean = "# parameters\npercent = 5\nprint(f'Interest at {percent}%:', 1000 * percent / 100)\n"
    literals = analyse_task("Print the interest at 5% on 1000").literals
    assert declared_parameters(clean, literals) == {0: "percent"}


def test_a_regex_escape_does_not_hide_a_value() -> None:
    seed = snippet("Count the word 'cat' in 'a cat sat'",
                   "import re\nprint(len(re.findall(r'\\bcat\\b', 'a cat sat')))\n",
                   evidence={"confirmed": ["0/string", "1/string"]})
    decision = decide_slot(seed, analyse_task("Count the word 'dog' in 'a cat sat'"))
    assert decision.substitution is None  # 'cat' is in the regex and in the text


def test_served_declared_substitutions_print_the_right_answer() -> None:
    seed = snippet("Convert 25 degrees Celsius to Fahrenheit and print the value",
                   "# parameters\ncelsius = 25\nprint(celsius * 9 / 5 + 32)\n")
    for new, expected in ((37, "98.6"), (5, "41.0")):
        decision = decide_slot(seed, analyse_task(
            f"Convert {new} degrees Celsius to Fahrenheit and print the value"))
        assert decision.served and decision.substitution is not None
        assert output(decision.substitution.code) == expected
    negative = decide_slot(seed, analyse_task(
        "Convert -40 degrees Celsius to Fahrenheit and print the value"))
    assert not negative.served


def test_same_program_ignores_layout_and_comments_only() -> None:
    assert same_program("print( 1+2 )  # sum\n", "print(1 + 2)\n")
    assert not same_program("print(1 + 2)\n", "print(2 + 1)\n")


def test_a_confirmation_that_declares_its_values_is_the_same_program() -> None:
    proposal = "import math\nprint(math.factorial(9))\n"
    declared = "# parameters\nn = 9\n\nimport math\nprint(math.factorial(n))\n"
    assert same_program(declared, proposal)
    assert not same_program(declared.replace("n = 9", "n = 8"), proposal)


def test_an_unmarked_header_places_values_but_a_new_class_needs_the_model() -> None:
    code = "c = 25\nprint(c * 9 / 5 + 32)\n"
    seed = snippet("Convert 25 degrees Celsius to Fahrenheit and print the value", code)
    assert seed.params == {0: "c"}
    odd = decide_slot(seed, analyse_task(
        "Convert 37 degrees Celsius to Fahrenheit and print the value"))
    assert odd.served and odd.evidence == "declared"
    even = decide_slot(seed, analyse_task(
        "Convert 36 degrees Celsius to Fahrenheit and print the value"))
    assert not even.served and even.evidence == "proposal"
    marked = snippet(seed.task, "# parameters\n" + code)
    assert decide_slot(marked, analyse_task(
        "Convert 36 degrees Celsius to Fahrenheit and print the value")).served


def test_a_marked_block_turns_a_shape_change_into_a_proposal_once() -> None:
    code = "# parameters\ncelsius = 0\n\nprint(celsius * 9 / 5 + 32)\n"
    task = "Convert 0 degrees Celsius to Fahrenheit and print it"
    query = analyse_task("Convert 21 degrees Celsius to Fahrenheit and print it")
    first = decide_slot(snippet(task, code), query)
    assert first.evidence == "proposal" and first.pending and first.pending[0].startswith(
        "shape/0/")
    confirmed = decide_slot(snippet(task, code, evidence={"confirmed": list(first.pending)}),
                            query)
    assert confirmed.served
    assert decide_slot(snippet(task, code, evidence={"confirmed": list(first.pending)}),
                       analyse_task("Convert 37 degrees Celsius to Fahrenheit and print it")
                       ).served  # the same shape (a positive int) is covered
    refused = decide_slot(snippet(task, code, evidence={"refuted": list(first.pending)}), query)
    assert refused.substitution is None
    unmarked = decide_slot(snippet(task, code.replace("# parameters\n", "")), query)
    assert unmarked.substitution is None  # no promise: a shape change is never proposed
