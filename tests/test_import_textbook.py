"""Import of the harder kind of notebook: a textbook chapter and a handbook section.

Functions defined in one cell, the data split in another, models fitted in a third and
plots later; `%matplotlib inline`, `!pip install`, classes, loops, `%time`, a star
import, a cell that failed half-way, IPython's `_`. The exported snippets run on their
own in this environment (scikit-learn's bundled digits: no network).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from nbmaker import code, error_output, md, write_notebook

from semcache_magic.cache import SnippetCache
from semcache_magic.share import Cell, export_snippets, harvest_paths, import_files

pytestmark = pytest.mark.slow

SETUP = '''\
# Python >= 3.5 is required
import sys
assert sys.version_info >= (3, 5)
import numpy as np
import os
np.random.seed(42)
%matplotlib inline
import matplotlib as mpl
import matplotlib.pyplot as plt
mpl.rc('axes', labelsize=14)
IMAGES_PATH = os.path.join(".", "images")
os.makedirs(IMAGES_PATH, exist_ok=True)

def save_fig(fig_id, tight_layout=True, fig_extension="png", resolution=50):
    path = os.path.join(IMAGES_PATH, fig_id + "." + fig_extension)
    if tight_layout:
        plt.tight_layout()
    plt.savefig(path, format=fig_extension, dpi=resolution)'''

CROSS_VALIDATION = '''\
from sklearn.model_selection import StratifiedKFold
from sklearn.base import clone

skfolds = StratifiedKFold(n_splits=3, shuffle=True, random_state=42)

for train_index, test_index in skfolds.split(X_train, y_train_5):
    clone_clf = clone(sgd_clf)
    clone_clf.fit(X_train[train_index], y_train_5[train_index])
    y_pred = clone_clf.predict(X_train[test_index])
    n_correct = sum(y_pred == y_train_5[test_index])
    print(n_correct / len(y_pred))'''

NEVER_5 = '''\
from sklearn.base import BaseEstimator
class Never5Classifier(BaseEstimator):
    def fit(self, X, y=None):
        return self
    def predict(self, X):
        return np.zeros((len(X), 1), dtype=bool)'''

CURVE = '''\
precisions, recalls, thresholds = precision_recall_curve(y_train_5, y_scores)

def plot_precision_recall_vs_threshold(precisions, recalls, thresholds):
    plt.plot(thresholds, precisions[:-1], "b--", label="Precision", linewidth=2)
    plt.plot(thresholds, recalls[:-1], "g-", label="Recall", linewidth=2)
    plt.legend(loc="center right", fontsize=16)

plt.figure(figsize=(8, 4))
plot_precision_recall_vs_threshold(precisions, recalls, thresholds)
save_fig("precision_recall_vs_threshold_plot")
plt.show()'''


def chapter(path: Path) -> Path:
    """A classification chapter as machine-learning textbooks write them."""
    return write_notebook(path, [
        md('**Chapter 3 – Classification**\n\n<a href="https://colab.research.google.com/x">'
           '<img src="https://colab.research.google.com/assets/colab-badge.svg"/></a>'),
        md("# Setup"),
        code(SETUP),                                                                  # 2
        code("!pip install -q scikit-learn \\\n    matplotlib"),                        # 3
        md("# MNIST"),
        code("from sklearn.datasets import load_digits\ndigits = load_digits()\n"
             "digits.keys()"),                                                        # 5
        code('X, y = digits["data"], digits["target"]\nX.shape'),                     # 6
        code("y.shape"),                                                              # 7
        code("some_digit = X[0]\nplt.imshow(some_digit.reshape(8, 8), cmap=mpl.cm.binary)\n"
             'plt.axis("off")\nsave_fig("some_digit_plot")\nplt.show()'),             # 8
        code("y = y.astype(np.uint8)"),                                               # 9
        code("X_train, X_test, y_train, y_test = X[:1000], X[1000:], y[:1000], y[1000:]"),
        md("# Training a Binary Classifier"),
        code("y_train_5 = (y_train == 5)\ny_test_5 = (y_test == 5)"),                # 12
        code("from sklearn.linear_model import SGDClassifier\n\n"
             "sgd_clf = SGDClassifier(max_iter=1000, tol=1e-3, random_state=42)\n"
             "sgd_clf.fit(X_train, y_train_5)"),                                      # 13
        code("sgd_clf.predict([some_digit])"),                                        # 14
        md("# Performance Measures\n\n## Measuring Accuracy Using Cross-Validation"),
        code(CROSS_VALIDATION),                                                       # 16
        code("from sklearn.model_selection import cross_val_score\n"
             'cross_val_score(sgd_clf, X_train, y_train_5, cv=3, scoring="accuracy")'),  # 17
        code(NEVER_5),                                                                # 18
        code("never_5_clf = Never5Classifier()\n"
             'cross_val_score(never_5_clf, X_train, y_train_5, cv=3, scoring="accuracy")'),
        md("## Confusion Matrix"),
        code("from sklearn.model_selection import cross_val_predict\n\n"
             "y_train_pred = cross_val_predict(sgd_clf, X_train, y_train_5, cv=3)"),  # 21
        code("from sklearn.metrics import *\nconfusion_matrix(y_train_5, y_train_pred)"),
        code("precision_score(y_train_5, y_train_pred)"),                             # 23
        code('%time y_scores = cross_val_predict(sgd_clf, X_train, y_train_5, cv=3, '
             'method="decision_function")'),                                          # 24
        code(CURVE),                                                                  # 25
        code("threshold_90 = thresholds[np.argmax(precisions >= 0.90)]\n"
             "y_train_pred_90 = (y_scores >= threshold_90)\n"
             'precision_score(y_train_5, y_train_pred_90, average="nope")',
             outputs=[error_output(3, "ValueError")]),                               # 26
        code("recall_score(y_train_5, y_train_pred_90)"),                             # 27
        code("%%time\nfrom sklearn.ensemble import RandomForestClassifier\n"
             "forest_clf = RandomForestClassifier(n_estimators=10, random_state=42)\n"
             "y_probas_forest = cross_val_predict(forest_clf, X_train, y_train_5, cv=3,\n"
             '                                    method="predict_proba")'),          # 28
        code("y_scores_forest = y_probas_forest[:, 1]\n"
             "print(roc_auc_score(y_train_5, y_scores_forest))"),                    # 29
        code("print(_ + 1)"),                                                         # 30
        code("files = !ls\nprint(len(files))"),                                       # 31
    ])


def handbook(path: Path) -> Path:
    """A handbook section: many small cells, timings, displays and an aside."""
    return write_notebook(path, [
        md("# Computation on NumPy Arrays: Universal Functions"),
        md("## The Slowness of Loops"),
        code("import numpy as np\nnp.random.seed(0)\n\ndef compute_reciprocals(values):\n"
             "    output = np.empty(len(values))\n    for i in range(len(values)):\n"
             "        output[i] = 1.0 / values[i]\n    return output\n\n"
             "values = np.random.randint(1, 10, size=5)\ncompute_reciprocals(values)"),   # 2
        code("big_array = np.random.randint(1, 100, size=1000)\n"
             "%timeit -n1 -r1 compute_reciprocals(big_array)"),                       # 3
        md("## Introducing UFuncs\n\n> **Note:** this is the fast way."),
        code("print(compute_reciprocals(values))\nprint(1.0 / values)"),              # 5
        code("%timeit -n1 -r1 (1.0 / big_array)"),                                     # 6
        code("x = np.arange(9).reshape((3, 3))\n2 ** x"),                              # 7
        md("### Specifying output"),
        code("x = np.arange(5)\ny = np.empty(5)\nnp.multiply(x, 10, out=y)\nprint(y)"),  # 9
        code("y = np.zeros(10)\nnp.power(2, x, out=y[::2])\nprint(y)"),                # 10
        code("x"),                                                                     # 11
        md("### Aggregates"),
        code("total = 0\nfor v in x:\n    total += v\nprint(total, np.add.reduce(x))"),  # 13
    ])


TRANSFORMER = '''\
from sklearn.base import BaseEstimator, TransformerMixin

rooms_ix, households_ix = 0, 1

class CombinedAttributesAdder(BaseEstimator, TransformerMixin):
    def __init__(self, add_rooms_per_household=True):
        self.add_rooms_per_household = add_rooms_per_household
    def fit(self, X, y=None):
        return self
    def transform(self, X):
        rooms_per_household = X[:, rooms_ix] / X[:, households_ix]
        return np.c_[X, rooms_per_household]'''


def housing(path: Path) -> Path:
    """An end-to-end project chapter: a frame changed in place, a stratified split in a
    loop, columns dropped from both sets in a loop, a custom transformer, a pipeline."""
    return write_notebook(path, [
        md("# End-to-end Machine Learning project"),
        code("import numpy as np\nimport pandas as pd\nnp.random.seed(42)\n"
             "try:\n    from sklearn.impute import SimpleImputer\n"
             "except ImportError:\n    from sklearn.preprocessing import Imputer as SimpleImputer"),
        md("# Get the data"),
        code("def load_housing_data(n=400):\n    rng = np.random.RandomState(0)\n"
             "    return pd.DataFrame({'total_rooms': rng.randint(10, 100, n).astype(float),\n"
             "                         'households': rng.randint(1, 10, n).astype(float),\n"
             "                         'median_income': rng.uniform(0.5, 10, n),\n"
             "                         'median_house_value': rng.uniform(1e4, 5e5, n)})"),
        code("housing = load_housing_data()\nhousing.head()"),                          # 4
        code("housing.loc[::7, 'total_rooms'] = np.nan"),                                # 5
        code('housing["income_cat"] = pd.cut(housing["median_income"],\n'
             "                               bins=[0., 1.5, 3.0, 4.5, 6., np.inf],\n"
             "                               labels=[1, 2, 3, 4, 5])"),                  # 6
        code("from sklearn.model_selection import StratifiedShuffleSplit\n\n"
             "split = StratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=42)\n"
             'for train_index, test_index in split.split(housing, housing["income_cat"]):\n'
             "    strat_train_set = housing.loc[train_index]\n"
             "    strat_test_set = housing.loc[test_index]"),                            # 7
        code("for set_ in (strat_train_set, strat_test_set):\n"
             '    set_.drop("income_cat", axis=1, inplace=True)'),                       # 8
        md("# Prepare the data for Machine Learning algorithms"),
        code('housing = strat_train_set.drop("median_house_value", axis=1)\n'
             'housing_labels = strat_train_set["median_house_value"].copy()'),          # 10
        code('imputer = SimpleImputer(strategy="median")\nimputer.fit(housing)\n'
             "imputer.statistics_"),                                                    # 11
        code(TRANSFORMER),                                                               # 12
        code("from sklearn.pipeline import Pipeline\nfrom sklearn.preprocessing import "
             "StandardScaler\n\nnum_pipeline = Pipeline([\n"
             "        ('imputer', SimpleImputer(strategy=\"median\")),\n"
             "        ('attribs_adder', CombinedAttributesAdder()),\n"
             "        ('std_scaler', StandardScaler()),\n    ])\n\n"
             "housing_prepared = num_pipeline.fit_transform(housing)"),                # 13
        md("# Select and train a model"),
        code("from sklearn.linear_model import LinearRegression\n\nlin_reg = LinearRegression()\n"
             "lin_reg.fit(housing_prepared, housing_labels)"),                          # 15
        code("from sklearn.metrics import mean_squared_error\n\n"
             "housing_predictions = lin_reg.predict(housing_prepared)\n"
             "lin_rmse = np.sqrt(mean_squared_error(housing_labels, housing_predictions))\n"
             "print(round(lin_rmse, -3) > 0, strat_train_set.shape[1])"),              # 16
    ])


def cells_of(path: Path) -> dict[int, Cell]:
    return {cell.cell: cell for cell in harvest_paths([path]).cells}


def test_a_textbook_chapter_is_sliced_into_self_contained_snippets(tmp_path: Path) -> None:
    harvest = harvest_paths([chapter(tmp_path / "03_classification.ipynb")])
    cells = {cell.cell: cell for cell in harvest.cells}
    alone = [c for c in harvest.cells if not c.free_names]
    assert len(alone) / len(harvest.cells) >= 0.8
    assert {c.cell: c.free_names for c in harvest.cells if c.free_names} == {
        30: ("_",), 31: ("files",)}
    cross = cells[17].context_code
    for needed in ("digits = load_digits()", 'X, y = digits["data"]', "y = y.astype(np.uint8)",
                   "X_train, X_test", "y_train_5 = (y_train == 5)", "sgd_clf.fit(X_train"):
        assert needed in cross
    assert "plt" not in cross and "some_digit" not in cross and "print" not in cross
    assert "def save_fig" in cells[25].context_code  # a function the plot calls
    assert "IMAGES_PATH = " in cells[25].context_code  # ... and what the function reads
    assert "from sklearn.metrics import *" in cells[23].context_code
    assert "threshold_90 = " in cells[27].context_code  # ran before the failing line
    assert "y_scores = cross_val_predict" in cells[25].context_code  # %time kept it
    assert "forest_clf = RandomForestClassifier" in cells[29].context_code  # %%time body
    assert "class Never5Classifier" in cells[19].context_code
    reasons = {s.cell: s.reason for s in harvest.skipped}
    assert reasons[3] == "magics or shell commands only" and reasons[7] == "display only"
    assert reasons[26] == "it raised an error (error output)"
    tasks = [c.task for c in harvest.cells]
    assert len(set(tasks)) == len(tasks) and all(len(t) <= 200 for t in tasks)
    assert not any("<" in t or "colab" in t.lower() for t in tasks)


def test_a_handbook_section_keeps_loops_timings_and_rebindings_straight(tmp_path: Path) -> None:
    cells = cells_of(handbook(tmp_path / "ufuncs.ipynb"))
    assert all(not c.free_names for c in cells.values())
    assert "big_array = np.random.randint" in cells[6].context_code
    assert "values = np.random.randint" in cells[5].context_code
    assert "x = np.arange(5)" in cells[10].context_code  # the later x, not the 3x3 one
    assert "np.arange(9)" not in cells[13].context_code
    assert 11 not in cells and "Note" not in cells[5].task


def test_a_project_chapter_keeps_changes_made_in_place_and_in_loops(tmp_path: Path) -> None:
    cells = cells_of(housing(tmp_path / "02_end_to_end.ipynb"))
    assert all(not c.free_names for c in cells.values())
    context = cells[16].context_code
    for needed in ("housing.loc[::7, 'total_rooms'] = np.nan", 'housing["income_cat"] = ',
                   "for train_index, test_index in split.split", "for set_ in (strat_train_set",
                   "class CombinedAttributesAdder", "rooms_ix, households_ix = 0, 1",
                   "except ImportError:", "lin_reg.fit(housing_prepared, housing_labels)"):
        assert needed in context, needed
    assert "imputer.fit(housing)" not in context  # the pipeline makes its own imputer
    done = subprocess.run([sys.executable, "-c", context + cells[16].code],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout == "True 4\n", done.stderr  # income_cat was dropped from the set


@pytest.fixture
def exported(fast_cache: SnippetCache, tmp_path: Path) -> tuple[SnippetCache, list[Path]]:
    import_files(fast_cache, [chapter(tmp_path / "nb" / "03.ipynb"),
                              handbook(tmp_path / "nb" / "ufuncs.ipynb"),
                              housing(tmp_path / "nb" / "02.ipynb")])
    return fast_cache, export_snippets(fast_cache, tmp_path / "scripts")


def test_exported_snippets_with_no_free_names_run_alone(
    exported: tuple[SnippetCache, list[Path]], tmp_path: Path
) -> None:
    cache, paths = exported
    by_id = {s.id: s for s in cache.list_snippets(limit=1000)}
    alone = [p for p in paths if "does not run on its own" not in p.read_text()]
    assert len(alone) >= 0.8 * len(paths)
    env = {**os.environ, "MPLBACKEND": "Agg"}
    failures = []
    for path in alone:
        done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path, env=env)
        if done.returncode:
            failures.append(f"{path.name}: {done.stderr.strip().splitlines()[-1]}")
    assert failures == []
    assert any(s.free_names == ["_"] for s in by_id.values())
