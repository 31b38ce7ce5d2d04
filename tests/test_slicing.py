"""Slicing: the statements of earlier cells that a cell needs, found by def-use of names."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import textwrap

import pytest

from semcache_magic.cells import NotebookSlicer, is_inspection
from semcache_magic.cells._defuse import analyse_cell


def slice_of(*cells: str | None) -> tuple[str, tuple[str, ...]]:
    """(context code, free names) of the last cell."""
    result = NotebookSlicer([textwrap.dedent(c) if c else c for c in cells]).slice(len(cells) - 1)
    return result.context_code, result.free_names


def statements_of(context: str) -> list[str]:
    return [line for line in context.splitlines() if line.strip()]


def test_only_the_needed_statements_of_a_cell_are_kept() -> None:
    context, free = slice_of(
        "import pandas as pd\nimport os\nprint(pd.DataFrame({'a': range(1000)}))\nbig = 1",
        "df = pd.DataFrame({'a': [1, 2]})\ndf.head()\nprint(df)\ndf",
        "df.a.sum()",
    )
    assert statements_of(context) == ["import pandas as pd", "df = pd.DataFrame({'a': [1, 2]})"]
    assert free == ()
    assert context == "import pandas as pd\n\ndf = pd.DataFrame({'a': [1, 2]})\n"


def test_names_from_outside_stay_free() -> None:
    context, free = slice_of("import numpy as np", "X_train[0] + np.pi + _ + Out[3]")
    assert statements_of(context) == ["import numpy as np"]
    assert free == ("Out", "X_train", "_")


def test_builtins_and_ipython_display_are_not_free() -> None:
    assert slice_of("display(len([1]), print)")[1] == ()


@pytest.mark.parametrize("mutation", [
    "df['total'] = df.a * 2",
    "df.loc[0, 'a'] = 5",
    "df.total = 1",
    "df.drop(columns=['a'], inplace=True)",
    "df['a'].fillna(0, inplace=True)",
    "df.insert(0, 'b', 1)",
    "del df['a']",
    "df.a += 1",
])
def test_changes_to_an_object_are_part_of_its_slice(mutation: str) -> None:
    context, _ = slice_of("df = make()", mutation, "df.sort_values('a')")
    assert statements_of(context) == ["df = make()", mutation]


def test_calls_that_return_a_new_value_change_nothing() -> None:
    context, _ = slice_of("df = make()", "df.drop(columns=['a'])\ndf.describe()\ndf.plot()",
                          "df.sum()")
    assert statements_of(context) == ["df = make()"]


def test_fitting_a_model_changes_it() -> None:
    context, free = slice_of(
        "from sklearn.cluster import KMeans\nX = [[0], [1]]\nmodel = KMeans(2)",
        "model.fit(X)\nplt.show()",
        "model.labels_",
    )
    assert statements_of(context) == ["from sklearn.cluster import KMeans", "X = [[0], [1]]",
                                      "model = KMeans(2)", "model.fit(X)"]
    assert free == ()


def test_list_methods_and_helper_calls_change_their_object() -> None:
    context, _ = slice_of("items = []\nclean = print", "items.append(1)\nclean(items)",
                          "len(items)")
    assert statements_of(context) == ["items = []", "clean = print", "items.append(1)",
                                      "clean(items)"]


def test_a_rebinding_hides_earlier_definitions() -> None:
    context, _ = slice_of("x = 1", "x = 2", "print(x)")
    assert statements_of(context) == ["x = 2"]


def test_a_rebinding_that_reads_the_old_value_keeps_it() -> None:
    context, _ = slice_of("c = load()", "c = c.sum()\nc += 1", "c")
    assert statements_of(context) == ["c = load()", "c = c.sum()", "c += 1"]


def test_conditional_definitions_keep_the_earlier_one() -> None:
    context, _ = slice_of("y = 0", "if flag:\n    y = 1", "y")
    assert statements_of(context)[0] == "y = 0"
    assert "if flag:" in context


def test_comprehension_variables_are_local() -> None:
    context, free = slice_of("data = [1]\nx = 'unused'", "[x * 2 for x in data if x]")
    assert statements_of(context) == ["data = [1]"]
    assert free == ()


def test_walrus_in_a_comprehension_binds_outside() -> None:
    cells = NotebookSlicer(["[last := v for v in range(3)]\nprint(last, v)"])
    assert cells.free_names(0) == {"v"}


def test_functions_read_globals_when_called() -> None:
    context, free = slice_of(
        "import math\ndef scaled(v):\n    return v * factor * math.pi",
        "factor = 2\nunused = 3",
        "scaled(1)",
    )
    assert statements_of(context) == ["import math", "def scaled(v):",
                                      "    return v * factor * math.pi", "factor = 2"]
    assert free == ()


def test_decorated_functions_and_classes_come_whole() -> None:
    context, _ = slice_of(
        "import functools\n@functools.cache\ndef f(x):\n    return x\n",
        "class Model(Base):\n    size = f(2)\n    def run(self):\n        return helper()",
        "Model().run()",
    )
    assert "@functools.cache\ndef f(x):" in context
    assert context.index("import functools") < context.index("class Model(Base):")
    assert slice_of("class A:\n    def f(self):\n        return helper()", "A()")[1] == (
        "helper",)


def test_a_function_that_rebinds_a_global_defines_it_when_called() -> None:
    context, _ = slice_of("count = 0\ndef bump():\n    global count\n    count += 1",
                          "bump()", "print(count)")
    assert statements_of(context)[-1] == "bump()"
    assert statements_of(context)[0] == "count = 0"


def test_star_imports_bind_what_the_module_exports() -> None:
    cells = NotebookSlicer(["from math import *\nimport os", "print(pi)", "print(os.sep)"])
    assert cells.slice(1).free_names == () and cells.slice(1).star_imports == ()
    assert cells.slice(1).context_code == "from math import *\n"
    assert cells.slice(2).context_code == "import os\n"
    assert slice_of("from string import *", "print(ascii_letters)")[1] == ()  # its __all__


def test_a_star_import_is_read_without_running_the_package() -> None:
    script = ("import sys\nfrom semcache_magic.cells import NotebookSlicer\n"
              "s = NotebookSlicer(['from sklearn.metrics import *', 'print(precision_score)'])\n"
              "print(s.slice(1).free_names, 'sklearn' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout == "() False\n", done.stderr


def test_an_unknown_star_import_is_flagged_and_kept_when_names_are_missing() -> None:
    cells = NotebookSlicer(["from no_such_module_here import *\nimport os", "print(pi)",
                            "print(os.sep)"])
    needs_star = cells.slice(1)
    assert needs_star.star_imports == ("no_such_module_here",)
    assert needs_star.free_names == ("pi",)
    assert needs_star.context_code == "from no_such_module_here import *\n"
    assert cells.slice(2).star_imports == ()


def test_del_unbinds_within_a_cell() -> None:
    assert NotebookSlicer(["x = 1\ndel x\nprint(x)"]).free_names(0) == {"x"}


def test_a_file_written_earlier_is_part_of_the_slice() -> None:
    context, _ = slice_of("import pandas as pd\ndf = pd.DataFrame()", "df.to_csv('out.csv')",
                          "pd.read_csv('out.csv')")
    assert statements_of(context) == ["import pandas as pd", "df = pd.DataFrame()",
                                      "df.to_csv('out.csv')"]


def test_module_configuration_comes_with_the_module() -> None:
    context, _ = slice_of("import numpy as np\nimport matplotlib.pyplot as plt",
                          "np.random.seed(0)\nplt.title('x')", "np.random.rand(2)")
    assert statements_of(context) == ["import numpy as np", "np.random.seed(0)"]


def test_cells_that_are_left_out_give_nothing() -> None:
    # the importer passes None for markdown, invalid cells and cells with an error output
    context, free = slice_of("x = 1", None, "print(x)")
    assert statements_of(context) == ["x = 1"] and free == ()


def test_statements_sharing_a_line_are_split() -> None:
    context, _ = slice_of("import os; a = 1; print(os.sep)", "a")
    assert context == "a = 1\n"


def test_a_slice_runs_on_its_own() -> None:
    cells = [
        "import math\nfrom collections import Counter\nprint('setup')",
        "words = 'a b a c a'.split()\ncounts = Counter(words)\ncounts",
        "def top(n):\n    return counts.most_common(n)\nradius = 2",
        "counts['z'] += 5\ncounts.update(['b'])\nprint(counts)",
        "area = math.pi * radius ** 2\nresult = top(1) + [('area', round(area, 2))]",
        "print(result)",
    ]
    piece = NotebookSlicer(cells).slice(5)
    assert piece.free_names == ()
    assert "print('setup')" not in piece.context_code
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(piece.context_code + cells[5], {})
    assert out.getvalue() == "[('z', 5), ('area', 12.57)]\n"


def test_statement_records() -> None:
    (assign, call) = analyse_cell("a, b.c = f(x)\nprint(a)", 4, set(), {})
    assert (assign.cell, assign.defines, assign.mutates) == (4, {"a"}, {"b"})
    assert assign.uses == {"f", "x", "b"}
    assert call.changes_nothing


@pytest.mark.parametrize(("code", "only_looks"), [
    ("df", True), ("df.shape", True), ("X_train[0]", True), ("df.head()", True),
    ("df.head(10)\ndf.tail()", True), ("print(df.columns)", True), ("df.iloc[-1]", True),
    ("type(x)", True), ("df.a.sum()", False), ("len(df)", False), ("x = df", False),
    ("df[df.a > 1]", False), ("df.sort_values('a').head()", False), ("", False),
])
def test_inspection(code: str, only_looks: bool) -> None:
    assert is_inspection(code) is only_looks


def test_names_bound_in_a_loop_branch_or_try_are_not_missing() -> None:
    # the earlier certain definition is still kept; with none, the context defines it anyway
    context, free = slice_of(
        "try:\n    from sklearn.datasets import fetch_openml\n    mnist = fetch_openml('m')\n"
        "except ImportError:\n    mnist = None",
        "for seed in range(3):\n    best = seed",
        "if mnist is not None:\n    rows = 1\nelse:\n    rows = 0",
        "print(mnist, best, rows)",
    )
    assert free == ()
    assert "mnist = fetch_openml('m')" in context and "best = seed" in context


def test_a_name_read_before_a_conditional_binding_is_still_free() -> None:
    assert slice_of("for i in range(2):\n    total += i", "print(total)")[1] == ("total",)


def test_making_the_folder_a_name_points_at_is_part_of_its_slice() -> None:
    context, _ = slice_of("import os\nIMAGES = 'images'\nos.makedirs(IMAGES, exist_ok=True)\n"
                          "def save(name):\n    open(os.path.join(IMAGES, name), 'w').close()",
                          "save('a.txt')")
    assert "os.makedirs(IMAGES, exist_ok=True)" in context


def test_changing_each_object_of_a_loop_changes_them_all() -> None:
    context, _ = slice_of("train = make()\ntest = make()",
                          "for set_ in (train, test):\n    set_.drop('c', axis=1, inplace=True)",
                          "train.describe()")
    assert "for set_ in (train, test):" in context
