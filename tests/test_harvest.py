"""Import: harvesting code cells from real notebook files and `# %%` scripts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import v4

from semcache_magic.cache import SnippetCache
from semcache_magic.cli import main
from semcache_magic.errors import HarvestError
from semcache_magic.share import export_snippets, harvest_file, import_files

SECRET = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123"
REVERSE = "Reverse the string 'notebook' and print it"


def _error_output() -> Any:
    return v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                         traceback=["Traceback...", "ZeroDivisionError: division by zero"])


def write_notebook(path: Path) -> Path:
    """A notebook as people leave them: prose, outputs, a failure, a secret, magics."""
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    stdout = v4.new_output("stream", name="stdout", text="koobeton\n")
    nb.cells = [
        v4.new_markdown_cell("# Churn analysis\n\nNotes for the team."),
        v4.new_code_cell("%matplotlib inline\n!pip install nothing"),       # magics only
        v4.new_markdown_cell(f"## {REVERSE}"),
        v4.new_code_cell("print('notebook'[::-1])", outputs=[stdout]),  # 4: markdown task
        v4.new_code_cell("# print the factorial of 6\nimport math\nprint(math.factorial(6))"),
        v4.new_code_cell(""),                                              # empty
        v4.new_markdown_cell("Connect to the **billing** API"),
        v4.new_code_cell(f'api_key = "{SECRET}"\nprint("connected")'),  # 8: secret
        v4.new_code_cell("print('still billing')"),                     # 9: nearest markdown
        v4.new_markdown_cell("Compute the ratio"),
        v4.new_code_cell("print(1 / 0)", outputs=[_error_output()]),    # failed
        v4.new_code_cell("print(1 / 2)"),                               # 12: the fix
        v4.new_code_cell("%%cached_task\nPlot churn by month"),
        v4.new_code_cell("%%bash\nls -l"),
        v4.new_raw_cell("raw text is ignored"),
        v4.new_code_cell("def broken(:\n    pass"),
        v4.new_markdown_cell(f"### {REVERSE}"),
        v4.new_code_cell("print('notebook'[::-1])\n"),                  # 18: duplicate
        v4.new_code_cell("%time total = sum(range(4))\nprint(total)"),  # 19: magic + code
    ]
    nbformat.write(nb, path)
    return path


def test_harvest_picks_tasks_and_skips_what_should_not_be_cached(tmp_path: Path) -> None:
    harvest = harvest_file(write_notebook(tmp_path / "churn.ipynb"))
    tasks = {cell.origin.rsplit(" ", 1)[1]: cell.task for cell in harvest.cells}
    assert tasks == {
        "4": REVERSE,
        "5": "print the factorial of 6",
        "8": "Connect to the billing API",
        "9": "Connect to the billing API",
        "12": "Compute the ratio",
        "18": REVERSE,
        "19": REVERSE,  # the nearest markdown above it
    }
    reasons = {s.origin.rsplit(" ", 1)[1]: s.reason for s in harvest.skipped}
    assert reasons["2"] == "magics or shell commands only"
    assert reasons["6"] == "empty"
    assert "error output" in reasons["11"]
    assert "%%cached_task" in reasons["13"] and "%%bash" in reasons["14"]
    assert reasons["16"] == "not valid Python"


def test_import_redacts_dedupes_and_is_idempotent(
    fast_cache: SnippetCache, tmp_path: Path
) -> None:
    path = write_notebook(tmp_path / "churn.ipynb")
    preview = import_files(fast_cache, [path], dry_run=True)
    assert (preview.count("new"), preview.count("duplicate")) == (6, 1)
    assert fast_cache.store.count() == 0  # a dry run writes nothing
    assert all(SECRET not in json.dumps(item.to_json()) for item in preview.items)

    report = import_files(fast_cache, [path])
    assert report.count("new") == 6 and fast_cache.store.count() == 6
    stored = fast_cache.list_snippets()
    assert {s.source for s in stored} == {"imported"}
    assert not any(SECRET in s.code or SECRET in s.task for s in stored)
    billing = next(s for s in stored if "connected" in s.code)
    assert 'api_key = "<redacted>"' in billing.code
    assert next(i for i in report.items if "connected" in i.snippet.code).redacted
    match = fast_cache.lookup("reverse the string 'notebook' and print it.")
    # An imported cell is a reference, never served without the model (its task was
    # inferred from the notebook's prose).
    assert match.tier == "semantic" and match.code is None
    assert match.snippet is not None and match.snippet.code == "print('notebook'[::-1])\n"

    again = import_files(fast_cache, [path])
    assert again.count("new") == 0 and again.count("exists") == 6
    assert fast_cache.store.count() == 6
    assert all(s.use_count == 0 for s in fast_cache.list_snippets())  # not counted as uses


def test_percent_scripts_are_harvested(fast_cache: SnippetCache, tmp_path: Path) -> None:
    script = tmp_path / "analysis.py"
    script.write_text(
        "import math\n\n"
        "# %% [markdown]\n# Print the square root of 81\n\n"
        "# %%\nprint(math.sqrt(81))\n\n"
        "# %% Greet 'Ada' politely\nprint('Good day, Ada')\n\n"
        "# %%\n# double 21\nprint(21 * 2)\n\n"
        "# %%\n%pip install nothing\n"
    )
    harvest = harvest_file(script)
    assert [c.task for c in harvest.cells] == [
        "Print the square root of 81", "Greet 'Ada' politely", "double 21"]
    assert [s.reason for s in harvest.skipped] == [
        "no task: no markdown before it and no leading comment",  # the preamble
        "magics or shell commands only"]
    assert import_files(fast_cache, [script]).count("new") == 3


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bad.ipynb", b"{not json", "not a valid notebook"),
    ("schema.ipynb", b'{"nbformat": 4, "nbformat_minor": 5, "cells": [{}], "metadata": {}}',
     "not a valid notebook"),
    ("future.ipynb", b'{"nbformat": 9, "nbformat_minor": 0, "cells": [], "metadata": {}}',
     "not a valid notebook"),
    ("latin1.ipynb", "{\"caf\xe9\": 1}".encode("latin-1"), "not UTF-8"),
    ("plain.py", b"print(1)\n", "no '# %%' cell markers"),
    ("notes.txt", b"hello", "expected a .ipynb"),
    ("missing.ipynb", None, "cannot read"),
])
def test_bad_files_are_clear_errors_and_nothing_is_half_imported(
    fast_cache: SnippetCache, tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    good = write_notebook(tmp_path / "good.ipynb")
    bad = tmp_path / name
    if content is not None:
        bad.write_bytes(content)
    with pytest.raises(HarvestError, match=message) as caught:
        import_files(fast_cache, [good, bad])
    assert str(bad) in str(caught.value)
    assert fast_cache.store.count() == 0


def test_other_languages_are_skipped(tmp_path: Path) -> None:
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    nb.cells = [v4.new_markdown_cell("Sum"), v4.new_code_cell("sum(c(1, 2))")]
    nbformat.write(nb, tmp_path / "r.ipynb")
    harvest = harvest_file(tmp_path / "r.ipynb")
    assert not harvest.cells and "R notebook" in harvest.skipped[0].reason


def test_an_exported_notebook_imports_back_as_the_same_snippets(
    fast_cache: SnippetCache, tmp_path: Path
) -> None:
    fast_cache.save(REVERSE, "print('notebook'[::-1])")
    fast_cache.save("Print the factorial of 6", "import math\nprint(math.factorial(6))")
    (path,) = export_snippets(fast_cache, tmp_path / "round.ipynb", fmt="notebook")
    report = import_files(fast_cache, [path], dry_run=True)
    assert [i.status for i in report.items] == ["exists", "exists"]


def test_cli_import(fast_cache: SnippetCache, store_uri: str, tmp_path: Path,
                   capsys: pytest.CaptureFixture[str]) -> None:
    fast_cache.save("seed", "print(0)")  # creates the store with the test embedder's schema
    fast_cache.close()
    path = write_notebook(tmp_path / "churn.ipynb")
    assert main(["--store", store_uri, "import", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would import" in out and "skipped" in out and SECRET not in out
    assert "would import 6 snippet(s); 0 already stored, 1 duplicate(s), 6 cell(s) skipped" in out
    assert main(["--store", store_uri, "import", str(tmp_path / "nope.ipynb")]) == 1
    err = capsys.readouterr().err
    assert "cannot read" in err and "nothing was imported" in err
