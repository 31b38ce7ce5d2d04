"""Import, storing side: snippets with context, free names and origin; forget; export."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nbmaker import code, md, write_notebook

from semcache_magic.cache import SnippetCache
from semcache_magic.model import SYSTEM_PROMPT, UNCHANGED_TOKEN
from semcache_magic.share import export_snippets, forget_imported, import_files
from semcache_magic.task import analyse_task

SECRET = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123"
BENCH = Path("/work/shared/bench/notebooks")


def billing_notebook(path: Path) -> Path:
    return write_notebook(path, [
        md("# Billing"),
        code(f"import json\nimport statistics\napi_key = \"{SECRET}\"\nrates = [3, 5, 4]"),
        md("## Connect to the billing API"),
        code("# connect with the key and the rates\n"
             "client = {'key': api_key, 'rates': json.dumps(rates)}\nprint(len(client))"),
        md("## Average rate"),
        code("mean = statistics.mean(rates)\nprint(mean)"),
        code("# print the rates over the outside threshold\n"
             "print([r for r in rates if r > threshold])"),
    ])


def test_snippets_keep_context_free_names_and_origin_with_secrets_redacted(
    fast_cache: SnippetCache, tmp_path: Path
) -> None:
    path = billing_notebook(tmp_path / "nb" / "billing.ipynb")
    preview = import_files(fast_cache, [path], dry_run=True)
    assert preview.count("new") == 4 and fast_cache.store.count() == 0
    assert SECRET not in json.dumps(preview.to_json())

    report = import_files(fast_cache, [tmp_path / "nb"])
    assert report.count("new") == 4 and report.self_contained == 3
    snippets = {s.origin["cell"]: s for s in fast_cache.list_snippets()}
    connect, mean, outside = snippets[3], snippets[5], snippets[6]
    assert connect.origin == {"path": "billing.ipynb", "cell": 3}
    assert connect.source == "imported" and connect.use_count == 0
    assert connect.context_code == 'import json\napi_key = "<redacted>"\nrates = [3, 5, 4]\n'
    assert SECRET not in json.dumps([s.to_dict() for s in snippets.values()])
    assert next(i for i in report.items if i.cell.cell == 3).redacted == ["anthropic-key"]
    assert mean.context_code == "import statistics\nrates = [3, 5, 4]\n"
    assert mean.libraries == ["statistics"] and mean.free_names == []
    assert outside.free_names == ["threshold"]
    assert connect.input_schema == {}  # free names are not inputs: they never reach the key

    again = import_files(fast_cache, [path])
    assert again.count("new") == 0 and again.count("exists") == 4
    assert fast_cache.store.count() == 4
    assert all(s.use_count == 0 for s in fast_cache.list_snippets())  # not counted as uses


def test_forget_removes_what_came_from_one_notebook(fast_cache: SnippetCache,
                                                     tmp_path: Path) -> None:
    root = tmp_path / "project"
    billing_notebook(root / "billing.ipynb")
    other = write_notebook(root / "sub" / "other.ipynb", [
        md("## Sum the rates"), code("rates = [1, 2]\nprint(sum(rates) * 10)")])
    import_files(fast_cache, [root])
    assert {s.origin["path"] for s in fast_cache.list_snippets()} == {
        "billing.ipynb", "sub/other.ipynb"}

    gone = forget_imported(fast_cache, [other], dry_run=True)  # as the file is on disk
    assert [s.origin["path"] for s in gone] == ["sub/other.ipynb"]
    assert fast_cache.store.count() == 5
    assert len(forget_imported(fast_cache, ["sub"])) == 1  # as stored: a folder of the root
    assert fast_cache.store.count() == 4
    assert forget_imported(fast_cache, ["."]) == []  # never "everything"
    fast_cache.save("a snippet of my own", "print('mine')")

    preview = import_files(fast_cache, [root / "billing.ipynb"],
                           forget=[root / "billing.ipynb"], dry_run=True)
    assert len(preview.forgotten) == 4 and preview.count("new") == 4
    refreshed = import_files(fast_cache, [root / "billing.ipynb"],
                             forget=[root / "billing.ipynb"])
    assert len(refreshed.forgotten) == 4 and refreshed.count("new") == 4
    assert len(forget_imported(fast_cache, ["billing.ipynb"])) == 4
    assert [s.task for s in fast_cache.list_snippets()] == ["a snippet of my own"]


def run_plain(script: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", "-S", str(script)], capture_output=True,
                          text=True, timeout=60, cwd=script.parent)


def test_exports_write_context_and_code_and_say_what_is_missing(
    fast_cache: SnippetCache, tmp_path: Path
) -> None:
    path = write_notebook(tmp_path / "grid.ipynb", [
        md("## Setup"),
        code("!pip install nothing \\\n    at-all\nclass Grid:\n    def fit(self, X):\n"
             "        self.best_ = max(X)\ngrid = Grid()\nX = [1, 3, 2]"),
        md("## Fit the grid and print its best value"),
        code("%time grid.fit(X)\nprint(grid.best_)"),
        md("## Scale by the outside factor"),
        code("print(grid.best_ * factor)"),
    ])
    import_files(fast_cache, [path])
    out = tmp_path / "out"
    files = {p.name: p for p in export_snippets(fast_cache, out)}
    fit = next(p for name, p in files.items() if name.startswith("fit_the_grid"))
    text = fit.read_text()
    assert "origin:    grid.ipynb [cell 3]" in text and "runs without it" in text
    done = run_plain(fit)
    assert done.returncode == 0 and done.stdout == "3\n", done.stderr  # %time kept the fit
    scale = next(p for name, p in files.items() if name.startswith("scale"))
    doc = ast.get_docstring(ast.parse(scale.read_text())) or ""
    assert "does not run on its own" in doc and "needs:     factor" in doc
    assert "runs without it" not in doc

    (module,) = export_snippets(fast_cache, tmp_path / "m.py", fmt="module")
    namespace: dict[str, object] = {}
    exec(compile(module.read_text(), str(module), "exec"), namespace)
    scale_fn = next(v for k, v in namespace.items() if k.startswith("scale"))
    assert scale_fn.__code__.co_varnames[:1] == ("factor",)  # type: ignore[attr-defined]

    (book,) = export_snippets(fast_cache, tmp_path / "back.ipynb", fmt="notebook")
    back = import_files(fast_cache, [book], dry_run=True)
    assert [i.status for i in back.items] == ["exists"] * 3
    assert any("context of an exported snippet" in s.reason for s in back.skipped)


def test_the_sidebar_json_carries_the_origin(fast_cache: SnippetCache, tmp_path: Path) -> None:
    from semcache_magic.server.handlers import snippet_json

    import_files(fast_cache, [billing_notebook(tmp_path / "billing.ipynb")])
    data = snippet_json(fast_cache.list_snippets()[0])
    assert set(data["origin"]) == {"path", "cell"} and data["origin"]["path"] == "billing.ipynb"
    assert "context_code" in data and "free_names" in data


def test_the_adapt_request_shows_an_imported_reference_honestly(
    fast_cache: SnippetCache, tmp_path: Path, claude_adapter, model_server  # type: ignore[no-untyped-def]
) -> None:
    import_files(fast_cache, [billing_notebook(tmp_path / "billing.ipynb")])
    outside = next(s for s in fast_cache.list_snippets() if s.free_names)
    model_server.script(UNCHANGED_TOKEN)
    result = claude_adapter.adapt(analyse_task("Print the rates over 4"), outside)
    sent = model_server.last
    assert sent.section("reference_context") == "rates = [3, 5, 4]"
    names = sent.section("reference_free_names") or ""
    assert "threshold" in names and "do not exist in the kernel" in names
    assert "<reference_free_names>" in SYSTEM_PROMPT  # the system prompt explains them
    assert result.code.startswith("rates = [3, 5, 4]\n")  # "unchanged" is context + code

    plain = fast_cache.save("Print 1", "print(1)").snippet
    claude_adapter.adapt(analyse_task("Print 2"), plain)
    assert model_server.last.section("reference_context") is None
    assert model_server.last.section("reference_free_names") is None


@pytest.mark.skipif(not BENCH.is_dir(), reason="the bench notebooks are not on this machine")
def test_the_bench_folder_imports_in_one_call(fast_cache: SnippetCache) -> None:
    start = time.perf_counter()
    report = import_files(fast_cache, [BENCH])
    seconds = time.perf_counter() - start
    assert len(report.harvest.files) == 85 and not report.harvest.skipped_files
    assert report.count("new") == len(report.items) > 150
    assert fast_cache.store.count() == report.count("new")
    tasks = [item.snippet.task.casefold() for item in report.items]
    assert len(set(tasks)) == len(tasks)
    assert report.self_contained / len(report.items) >= 0.9
    assert all(len(task) <= 200 for task in tasks)
    assert seconds < 120


def test_a_cells_future_import_stays_first_in_its_export(fast_cache: SnippetCache,
                                                          tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "old.ipynb", [
        code("from __future__ import division\nimport math\nradius = 2.0"),
        md("## Show the area"),
        code("from __future__ import print_function\ndisplay(round(math.pi * radius ** 2, 1))"),
    ])
    import_files(fast_cache, [path])
    (script,) = [p for p in export_snippets(fast_cache, tmp_path / "out")
                 if p.name.startswith("show")]
    done = run_plain(script)
    assert done.returncode == 0 and done.stdout == "12.6\n", done.stderr
