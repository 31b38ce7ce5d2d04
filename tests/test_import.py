"""Import, reading side: files and folders in; cells with context, tasks and origins out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from nbformat import v3, v4
from nbmaker import code, error_output, md, write_notebook

from semcache_magic.errors import HarvestError
from semcache_magic.share import harvest_paths, read_cells
from semcache_magic.task import plain_python


def sales_notebook(path: Path) -> Path:
    return write_notebook(path, [
        md("# Sales [![badge](https://x/b.svg)](https://x)\n\n"
           "### Step 1. Import the necessary libraries"),
        code("import json\nimport math\nimport random\n%matplotlib inline\nrandom.seed(1)"),  # 1
        md("### Step 2. Assign the data to a variable called sales"),
        code("sales = json.loads('[3, 1, 2]')\nprint(sales)"),           # 3
        code("sales"),                                                   # 4
        md("### Step 3. Sort the sales and keep the top two"),
        code("sales.sort(reverse=True)\ntop = sales[:2]\ntop"),          # 6
        code("print(1 / 0)", outputs=[error_output()]),                  # 7
        md("## Growth\n\nCompare the **total** with `math.fsum`."),
        code("%time total = math.fsum(top)\nprint(total)"),              # 9
        code("print(total * 2)"),                                        # 10
        code(""),                                                        # 11
        code("%%bash\nls"),                                              # 12
        code("!pip install x \\\n  y"),                                  # 13
        code("def broken(:\n    pass"),                                  # 14
        code("# just a thought"),                                        # 15
        code("%%cached_task\nPlot churn by month"),                      # 16
        v4.new_raw_cell("raw text is ignored"),
    ])


def test_cells_become_snippets_with_their_context(tmp_path: Path) -> None:
    harvest = harvest_paths([sales_notebook(tmp_path / "sales.ipynb")])
    cells = {cell.cell: cell for cell in harvest.cells}
    assert sorted(cells) == [3, 6, 9, 10]
    assert cells[3].task == "Assign the data to a variable called sales"
    assert cells[6].task == "Sort the sales and keep the top two"
    assert cells[9].task == "Growth: Compare the total with math.fsum."
    assert cells[10].task == "Growth: print total * 2"
    assert cells[6].context_code == "import json\n\nsales = json.loads('[3, 1, 2]')\n"
    assert cells[10].context_code == (
        "import json\nimport math\n\nsales = json.loads('[3, 1, 2]')\n\n"
        "sales.sort(reverse=True)\ntop = sales[:2]\n\ntotal = math.fsum(top)\n")
    assert all(cell.free_names == () for cell in harvest.cells)
    assert cells[9].code == "%time total = math.fsum(top)\nprint(total)\n"
    assert cells[9].origin == {"path": "sales.ipynb", "cell": 9}
    reasons = {skip.cell: skip.reason for skip in harvest.skipped}
    assert reasons == {
        1: "imports and settings only (the cells that use them carry them)",
        4: "display only", 7: "it raised an error (error output)", 11: "empty",
        12: "a cell magic (%%bash), not Python", 13: "magics or shell commands only",
        14: "not valid Python", 15: "only comments",
        16: "a %%cached_task cell (its code is cached already)"}
    assert harvest.code_cells == 13 and harvest.files == ["sales.ipynb"]


def test_each_snippet_runs_alone_as_a_script(tmp_path: Path) -> None:
    harvest = harvest_paths([sales_notebook(tmp_path / "sales.ipynb")])
    last = next(cell for cell in harvest.cells if cell.cell == 10)
    done = subprocess.run([sys.executable, "-I", "-c", plain_python(last.context_code +
                                                                    last.code)[0]],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout == "10.0\n", done.stderr


def test_a_failed_cell_gives_what_ran_before_the_failing_line(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "f.ipynb", [
        md("## Ratios"),
        code("ratio = 3 / 4\nfactor = 2\nboom()\nlost = 1", outputs=[error_output(3)]),
        code("# print the scaled ratio\nprint(ratio * factor)"),
        code("# print what never ran\nprint(lost * 2)"),
        code("x = (\n", outputs=[error_output(None, "SyntaxError")]),
    ])
    cells = {cell.cell: cell for cell in harvest_paths([path]).cells}
    assert cells[2].context_code == "ratio = 3 / 4\nfactor = 2\n"
    assert cells[2].free_names == ()
    assert cells[3].free_names == ("lost",)


def raw_notebook(cells: list[dict[str, object]], minor: int = 4) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": minor, "metadata": {}, "cells": cells})


def test_unusual_but_valid_notebooks_are_read(tmp_path: Path) -> None:
    (tmp_path / "ids.ipynb").write_text(raw_notebook([
        {"id": "a1", "cell_type": "markdown", "metadata": {}, "source": ["## Add\n", "two"]},
        {"id": "b2", "cell_type": "code", "metadata": {}, "source": ["x = 1\n", "y = x + 1"]},
    ], minor=4))  # cell ids before 4.5, and neither "outputs" nor "execution_count"
    (tmp_path / "string.ipynb").write_text(raw_notebook([
        {"cell_type": "code", "metadata": {}, "source": "# add three numbers\nz = 1 + 2 + 3",
         "outputs": [], "execution_count": None}], minor=0))
    cells = harvest_paths([tmp_path]).cells
    assert [(c.path, c.task, c.code) for c in cells] == [
        ("ids.ipynb", "Add: two", "x = 1\ny = x + 1\n"),
        ("string.ipynb", "add three numbers", "# add three numbers\nz = 1 + 2 + 3\n")]


def test_an_old_notebook_format_is_converted(tmp_path: Path) -> None:
    nb = v3.new_notebook(worksheets=[v3.new_worksheet(cells=[
        v3.new_text_cell("markdown", source="Print the answer to everything"),
        v3.new_code_cell(input="print(6 * 7)")])])
    (tmp_path / "old.ipynb").write_text(v3.writes_json(nb))
    (cell,) = harvest_paths([tmp_path / "old.ipynb"]).cells
    assert cell.task == "Print the answer to everything" and cell.code == "print(6 * 7)\n"


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "empty file"),
    (b"  \n", "empty file"),
    (b"{not json", "invalid JSON: Expecting property name"),
    (b"[1, 2]", "not a notebook: JSON without cells"),
    (b'{"nbformat": 9, "nbformat_minor": 0, "cells": [], "metadata": {}}',
     "not a readable notebook: Unsupported nbformat version 9"),
    ("{\"caf\xe9\": 1}".encode("latin-1"), "not UTF-8 text"),
])
def test_bad_files_are_skipped_with_their_reason(tmp_path: Path, content: bytes,
                                                 reason: str) -> None:
    sales_notebook(tmp_path / "good.ipynb")
    (tmp_path / "bad.ipynb").write_bytes(content)
    harvest = harvest_paths([tmp_path])
    assert {c.path for c in harvest.cells} == {"good.ipynb"}
    (skip,) = harvest.skipped_files
    assert (skip.path, skip.cell) == ("bad.ipynb", None)
    assert skip.reason.startswith(reason)
    with pytest.raises(HarvestError, match=reason.split(":")[0]):
        read_cells(tmp_path / "bad.ipynb")


def test_every_bad_file_is_named(tmp_path: Path) -> None:
    for name in ("a.ipynb", "b.ipynb", "c.ipynb"):
        (tmp_path / name).write_text("")
    write_notebook(tmp_path / "r.ipynb", [code("sum(c(1, 2))")], language="R")
    skipped = harvest_paths([tmp_path]).skipped_files
    assert [(s.path, s.reason) for s in skipped] == [
        ("a.ipynb", "empty file"), ("b.ipynb", "empty file"), ("c.ipynb", "empty file"),
        ("r.ipynb", "a R notebook, not Python")]


def test_directories_are_searched_recursively(tmp_path: Path) -> None:
    root = tmp_path / "project"
    sales_notebook(root / "nested" / "deep" / "sales.ipynb")
    sales_notebook(root / "nested" / ".ipynb_checkpoints" / "sales-checkpoint.ipynb")
    sales_notebook(root / ".hidden" / "x.ipynb")
    (root / "script.py").write_text(
        "import math\n\n# %% [markdown]\n# Print the square root of 81\n\n"
        "# %%\nprint(math.sqrt(81))\n\n"
        "# %% Greet Ada politely\nprint('Good day,', 'Ada'.upper())\n")
    (root / "module.py").write_text("def f():\n    return 1\n")
    (root / "notes.txt").write_text("not code")
    sales_notebook(tmp_path / "elsewhere" / "linked.ipynb")
    (root / "link.ipynb").symlink_to(tmp_path / "elsewhere" / "linked.ipynb")
    (root / "loop").symlink_to(root)  # a folder link is not followed
    harvest = harvest_paths([root])
    assert harvest.root == str(root)
    assert harvest.files == ["link.ipynb", "nested/deep/sales.ipynb", "script.py"]
    script = [c for c in harvest.cells if c.path == "script.py"]
    assert [(c.task, c.context_code, c.cell) for c in script] == [
        ("Print the square root of 81", "import math\n", 2), ("Greet Ada politely", "", 3)]
    assert [(s.path, s.reason) for s in harvest.skipped_files] == [
        ("module.py", "a .py file without '# %%' cell markers")]


def test_arguments_that_are_not_notebooks_are_skipped(tmp_path: Path) -> None:
    sales_notebook(tmp_path / "sub" / "a.ipynb")
    (tmp_path / "notes.txt").write_text("hello")
    harvest = harvest_paths([tmp_path / "sub" / "a.ipynb", tmp_path / "notes.txt",
                             tmp_path / "missing.ipynb"])
    assert sorted((s.path, s.reason) for s in harvest.skipped_files) == [
        (str(tmp_path / "missing.ipynb"), "no such file or directory"),
        (str(tmp_path / "notes.txt"), "not a notebook (.ipynb) or script (.py)")]
    assert {c.path for c in harvest.cells} == {"a.ipynb"}
    with pytest.raises(HarvestError, match="no files to import"):
        harvest_paths([])


def test_duplicates_across_files_are_skipped_and_tasks_are_unique(tmp_path: Path) -> None:
    for name in ("exercise.ipynb", "solution.ipynb"):
        sales_notebook(tmp_path / name)
    write_notebook(tmp_path / "variant.ipynb", [
        md("### Step 2. Assign the data to a variable called sales"), code("sales = [5, 4]")])
    harvest = harvest_paths([tmp_path])
    tasks = [c.task for c in harvest.cells]
    assert len(tasks) == len(set(tasks)) == 5
    dupes = [s for s in harvest.skipped if s.reason.startswith("duplicate")]
    assert (dupes[0].path, dupes[0].cell, dupes[0].reason) == (
        "solution.ipynb", 3, "duplicate of exercise.ipynb [cell 3]")
    assert len(dupes) == 4
    assert "Assign the data to a variable called sales: set sales = [5, 4]" in tasks


def test_the_import_is_deterministic(tmp_path: Path) -> None:
    sales_notebook(tmp_path / "b.ipynb")
    sales_notebook(tmp_path / "a" / "a.ipynb")
    first = harvest_paths([tmp_path / "b.ipynb", tmp_path / "a"])
    again = harvest_paths([tmp_path / "a", tmp_path / "b.ipynb"])
    assert [c.to_json() for c in first.cells] == [c.to_json() for c in again.cells]
    assert first.skipped == again.skipped
    assert first.cells[0].origin == {"path": "a/a.ipynb", "cell": 3}


def test_percent_scripts_take_titles_comments_and_markdown_cells(tmp_path: Path) -> None:
    script = tmp_path / "analysis.py"
    script.write_text(
        "import math\n\n"
        "# %% [markdown]\n# Print the square root of 81\n\n"
        "# %%\nprint(math.sqrt(81))\n\n"
        "# %% Greet 'Ada' politely\nprint('Good day,', 'Ada'.title())\n\n"
        "# %%\n# double 21\nprint(21 * 2)\n\n"
        "# %%\nprint('only shows a value')\n\n"
        "# %%\n%pip install nothing\n")
    harvest = harvest_paths([script])
    assert [c.task for c in harvest.cells] == [
        "Print the square root of 81", "Greet 'Ada' politely", "double 21"]
    assert [s.reason for s in harvest.skipped] == [
        "imports and settings only (the cells that use them carry them)",
        "display only", "magics or shell commands only"]


def test_a_timed_fit_is_part_of_the_context(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "grid.ipynb", [
        code("class Grid:\n    def fit(self, X):\n        self.best_ = max(X)\n"
             "grid = Grid()\nX = [1, 3, 2]"),
        code("%time grid.fit(X)"),
        code("%%time\n# fit the grid on squares\ngrid.fit([x * x for x in X])"),
        code("# print the best value found\nprint(grid.best_ + 0)"),
    ])
    cells = {c.cell: c for c in harvest_paths([path]).cells}
    assert cells[2].task == "fit the grid on squares"
    assert cells[3].context_code.endswith("\ngrid.fit(X)\n\ngrid.fit([x * x for x in X])\n")
    script = plain_python(cells[3].context_code + cells[3].code)[0]
    out = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout == "9\n", out.stderr
