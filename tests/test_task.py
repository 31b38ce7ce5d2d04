"""Task analysis: normalisation, literals, templates and hashes."""

from __future__ import annotations

import pytest

from semcache_magic.errors import TaskError
from semcache_magic.task import analyse_task


def kinds(task: str) -> list[tuple[str, str]]:
    return [(lit.kind, lit.text) for lit in analyse_task(task).literals]


def test_whitespace_punctuation_and_uniform_case_normalise_to_one_task() -> None:
    a = analyse_task("Subtract 7 from 50 and print the difference.")
    b = analyse_task("  subtract 7   from 50\nand print the difference?  ")
    c = analyse_task("SUBTRACT 7 FROM 50 AND PRINT THE DIFFERENCE")
    assert a.normalised == "subtract 7 from 50 and print the difference"
    assert a.task_hash("ns") == b.task_hash("ns") == c.task_hash("ns")


@pytest.mark.parametrize(("a", "b"), [
    ("Reverse the word python", "Reverse the word PYTHON"),
    ("Swap the case of the word hello", "Swap the case of the word Hello"),
    ("Format the date 2024-03-05 as %d/%m/%Y", "Format the date 2024-03-05 as %d/%m/%y"),
    ("Format the date 2024-03-05 as %d/%m/%Y", "Format the date 2024-03-05 as %d/%M/%Y"),
    ("Find all matches of \\d+ in 'ab12'", "Find all matches of \\D+ in 'ab12'"),
    ("Convert 800 Mb to MB", "Convert 800 MB to Mb"),
    ("What is 7?", "What is 7!"),
    ("Print `name`", "Print 'name'"),
    ("Concatenate 'ab' + 'cd'", "Concatenate \"ab' + 'cd\""),
])
def test_changes_that_can_change_the_meaning_are_other_tasks(a: str, b: str) -> None:
    assert analyse_task(a).task_hash("ns") != analyse_task(b).task_hash("ns")


def test_literal_case_is_kept_and_changes_the_task() -> None:
    a = analyse_task("Reverse the string 'Notebook'")
    b = analyse_task("Reverse the string 'notebook'")
    assert a.normalised != b.normalised
    assert a.template == b.template == "reverse the string <str>"


def test_names_and_capitals_keep_their_case_only_a_sentence_start_folds() -> None:
    normalised = analyse_task("Sort the DataFrame by myColumn in USD. Then plot it").normalised
    assert normalised == "sort the DataFrame by myColumn in USD. then plot it"


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("Print the mean of 4, -8.5 and 1e3", [("number", "4"), ("number", "-8.5"),
                                               ("number", "1e3")]),
        ("Subtract 7 from 50", [("number", "7"), ("number", "50")]),
        ("Reverse 'abc' and \"def\"", [("string", "abc"), ("string", "def")]),
        ("Weekday of 2024-07-04", [("date", "2024-07-04")]),
        ("Load data/sales.csv then ~/x/y.parquet", [("path", "data/sales.csv"),
                                                    ("path", "~/x/y.parquet")]),
        ("Read report.xlsx", [("path", "report.xlsx")]),
        ("Fetch https://example.com/a.csv.", [("path", "https://example.com/a.csv")]),
        ("Plot column `price`", [("string", "price")]),
        ("Print the user's name", []),
        ("Use MiniLM-L6 v2 for the 3rd item", [("number", "3")]),
        ("Compute 50-7", [("number", "50"), ("number", "7")]),
    ],
)
def test_literals_are_extracted_by_kind(task: str, expected: list[tuple[str, str]]) -> None:
    assert kinds(task) == expected


def test_a_date_is_one_literal_not_three_numbers() -> None:
    assert analyse_task("Weekday of 2024-07-04").template == "weekday of <date>"


def test_number_values_keep_their_type() -> None:
    values = [lit.value for lit in analyse_task("Use 6 and 6.5 and -2").literals]
    assert values == [6, 6.5, -2]
    assert isinstance(values[0], int) and isinstance(values[1], float)


def test_hash_depends_on_schema_language_and_namespace() -> None:
    base = analyse_task("Plot df")
    assert base.task_hash("a") != base.task_hash("b")
    other_schema = analyse_task("Plot df", input_schema={"df": "DataFrame"})
    assert base.task_hash("a") != other_schema.task_hash("a")
    assert base.template_hash != other_schema.template_hash
    assert analyse_task("Plot df", language="r").task_hash("a") != base.task_hash("a")
    # Schema order does not matter.
    s1 = analyse_task("x", input_schema={"a": "int", "b": "str"})
    s2 = analyse_task("x", input_schema={"b": "str", "a": "int"})
    assert s1.task_hash("n") == s2.task_hash("n")


@pytest.mark.parametrize("bad", ["", "   \n\t ", b"\xff\xfe bad", "a\x00b", "\udcff"])
def test_unusable_tasks_raise_task_error(bad: str | bytes) -> None:
    with pytest.raises(TaskError):
        analyse_task(bad)


def test_oversized_task_names_the_limit() -> None:
    with pytest.raises(TaskError, match="limit"):
        analyse_task("x" * 30, max_chars=20)


def test_bytes_in_utf8_are_accepted() -> None:
    assert analyse_task("Print 'héllo'".encode()).literals[0].text == "héllo"


def test_ordinals_are_number_literals_with_their_own_placeholder() -> None:
    a = analyse_task("Print the 20th Fibonacci number")
    assert a.template == "print the <ord> Fibonacci number"
    assert [(lit.kind, lit.text) for lit in a.literals] == [("number", "20")]
    assert a.normalised == "print the 20th Fibonacci number"
    assert analyse_task("Print the 3rd Fibonacci number").template == a.template
    assert analyse_task("Print the 20 Fibonacci number").template != a.template
