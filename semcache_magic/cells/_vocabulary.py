"""What common calls do, as far as the importer cares: the names it recognises.

The slicer asks whether a call changes its object (``model.fit``, ``items.append``), only
looks at it (``df.head``, ``df.sum``), configures a module (``np.random.seed``) or writes a
file (``df.to_csv``). The describer asks whether a call plots, decorates a plot, or loads
data, and which first words of a comment are verbs. :func:`is_inspection` tells cells that
only show a value (``df``, ``df.shape``, ``X_train[0]``, ``df.head()``) from the rest.
"""

from __future__ import annotations

import ast
import builtins
import re

__all__ = [
    "BUILTIN_NAMES",
    "CONFIG_CALLS",
    "MUTATING_METHODS",
    "VIEW_METHODS",
    "is_inspection",
    "is_setup_only",
]

#: Names a notebook cell can read without defining them. IPython's ``_``, ``_3``, ``In`` and
#: ``Out`` are *not* here: they are earlier outputs, which a script does not have.
BUILTIN_NAMES = frozenset(dir(builtins)) - {"_"} | {"display", "get_ipython", "__name__",
                                                   "__doc__", "__builtins__"}

MUTATING_METHODS = frozenset({
    "fit", "partial_fit", "fit_transform", "fit_predict", "fit_resample", "append", "extend",
    "insert", "remove", "pop", "popitem", "clear", "sort", "reverse", "update", "setdefault",
    "add", "discard", "difference_update", "intersection_update", "write", "writelines",
    "close", "load_state_dict", "train", "compile", "set_params", "add_module", "put",
})
#: Methods whose call changes nothing: they show or return a new value.
VIEW_METHODS = frozenset({
    "head", "tail", "info", "describe", "sample", "show", "plot", "hist", "boxplot", "bar",
    "barh", "scatter", "pie", "to_string", "value_counts", "unique", "nunique", "count", "sum",
    "mean", "median", "mode", "min", "max", "std", "var", "corr", "cov", "isnull", "isna",
    "notnull", "notna", "any", "all", "memory_usage", "nlargest", "nsmallest", "idxmax",
    "idxmin", "summary", "get_params", "score", "predict", "predict_proba", "transform",
    "copy", "round", "abs", "agg", "aggregate", "groupby", "sort_values", "sort_index",
    "drop", "dropna", "fillna", "rename", "replace", "astype", "apply", "map", "merge",
    "join", "concat", "pivot", "pivot_table", "melt", "query", "filter", "where", "keys",
    "values", "items", "get", "format", "split", "strip", "lower", "upper", "legend",
    "set_title", "set_xlabel", "set_ylabel", "set_xticks", "set_yticks", "set_xlim",
    "set_ylim", "set_xticklabels", "set_yticklabels", "annotate", "text", "imshow", "grid",
    "savefig", "to_csv", "to_excel", "to_json", "to_parquet", "to_pickle", "to_html",
})
#: Module functions that change global state a later cell depends on.
CONFIG_CALLS = frozenset({"seed", "set", "set_option", "set_theme", "set_style", "set_context",
                          "set_palette", "filterwarnings", "simplefilter", "use", "rc",
                          "manual_seed", "set_seed", "set_printoptions", "chdir"})
ARG_MUTATORS = frozenset({"shuffle"})
WRITERS = frozenset({"to_csv", "to_excel", "to_json", "to_parquet", "to_pickle", "to_html",
                      "to_feather", "savefig", "save", "dump", "urlretrieve", "write_text",
                      "write_bytes", "makedirs", "mkdir", "extractall", "copy", "copyfile",
                      "move", "rename"})
PATH_LIKE = re.compile(r"^[\w.\-/\\~]+\.\w{1,8}$|^[\w.\-~]*[/\\][\w.\-/\\]+$")
#: Methods and attributes that only look at a value (for "display only" cells).
PEEK_METHODS = frozenset({"head", "tail", "info", "describe", "sample", "to_string",
                           "memory_usage", "keys", "get_params", "summary"})
PEEK_FUNCTIONS = frozenset({"print", "display", "type", "repr", "dir", "vars", "id"})


PLOT_CALLS = frozenset({"plot", "scatter", "hist", "bar", "barh", "pie", "boxplot", "imshow",
                         "heatmap", "countplot", "histplot", "lineplot", "scatterplot",
                         "barplot", "violinplot", "pairplot", "jointplot",
                         "distplot", "kdeplot", "lmplot", "regplot", "catplot", "relplot",
                         "stripplot", "swarmplot", "factorplot", "displot", "area", "line",
                         "matshow", "contour", "contourf", "errorbar", "stem", "step"})
PLOT_MODULES = frozenset({"plt", "sns", "px", "go", "pyplot", "ax", "axes", "fig"})
#: First words of a comment that says what a whole cell does (``# fit the model``).
VERBS = frozenset("""
    add aggregate apply assign build calculate check clean cluster combine compare compute
    concatenate convert count create define delete display download draw drop encode estimate
    evaluate extract filter find fit generate get group impute initialise initialize keep
    list load make merge normalise normalize parse pivot plot predict prepare print read
    remove rename reorder replace resample reset reshape sample save scale scrape select set
    show sort split standardise standardize store sum summarise summarize test tokenize
    train transform tune update validate visualise visualize write""".split())  # noqa: SIM905
DECORATIONS = frozenset({
    "show", "title", "suptitle", "xlabel", "ylabel", "legend", "add_legend", "tight_layout",
    "grid", "xticks", "yticks", "xlim", "ylim", "set_title", "set_xlabel", "set_ylabel",
    "set_xticks", "set_yticks", "set_xticklabels", "set_yticklabels", "set_xlim", "set_ylim",
    "savefig", "close", "figure", "subplots_adjust", "axis", "despine", "set_size_inches",
    "colorbar", "set_axis_labels", "set_titles"})
LOADERS = re.compile(r"^(?:read_\w+|load\w*|open|fetch_\w+|get_\w*data\w*|urlopen|get)$")


def _peek(node: ast.expr) -> bool:
    """A value that is only looked at: a name, ``df.shape``, ``X[0]``, ``df.head()``."""
    if isinstance(node, ast.Constant | ast.Name):
        return True
    if isinstance(node, ast.Attribute):
        return _peek(node.value)
    if isinstance(node, ast.Subscript):
        index = node.slice
        simple = isinstance(index, ast.Constant | ast.Slice | ast.UnaryOp) or (
            isinstance(index, ast.Tuple) and all(isinstance(e, ast.Constant | ast.Slice)
                                                 for e in index.elts))
        return simple and _peek(node.value)
    if isinstance(node, ast.Tuple | ast.List):
        return all(_peek(e) for e in node.elts)
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in PEEK_METHODS:
            return _peek(func.value) and all(isinstance(a, ast.Constant) for a in node.args)
        if isinstance(func, ast.Name) and func.id in PEEK_FUNCTIONS:
            return all(_peek(a) for a in node.args) and not node.keywords
    return False


def is_inspection(code: str) -> bool:
    """True when every statement only looks at a value (``df``, ``df.shape``, ``df.head()``,
    ``print(x)``): the cell shows state, it does not compute anything worth caching."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return bool(tree.body) and all(isinstance(s, ast.Expr) and _peek(s.value)
                                   for s in tree.body)


def is_setup_only(code: str) -> bool:
    """Only imports and module settings such as ``sns.set(style='ticks')``: the cells that
    use them carry them as context, so alone they are not worth a snippet."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    modules = {(a.asname or a.name).split(".")[0] for node in tree.body
               if isinstance(node, ast.Import | ast.ImportFrom) for a in node.names}
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        call = node.value if isinstance(node, ast.Expr) else None
        func = call.func if isinstance(call, ast.Call) else None
        root = func.value if isinstance(func, ast.Attribute) else None
        while isinstance(root, ast.Attribute):
            root = root.value
        if not (isinstance(func, ast.Attribute) and func.attr in CONFIG_CALLS
                and isinstance(root, ast.Name) and root.id in modules):
            return False
    return bool(tree.body)
