"""`semcache import` from the command line: folders with odd files, show, forget, serving."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nbmaker import code, md, write_notebook

from semcache_magic.cli import main

pytestmark = pytest.mark.slow

HEADING = "Cluster the customers by spending"


def folder(tmp_path: Path) -> Path:
    root = tmp_path / "notebooks"
    write_notebook(root / "clusters.ipynb", [
        md(f"## {HEADING}"),
        code("spend = [[1, 2], [1, 3], [9, 9], [8, 9]]\n"
             "labels = [0 if x < 5 else 1 for x, _ in spend]\nprint(labels)"),
        code("sizes = {k: labels.count(k) for k in set(labels)}\nprint(sizes)"),
        code("print(max(sizes, key=sizes.get) * 10)"),
    ])
    (root / "ids.ipynb").write_text(json.dumps({  # nbformat 4.4 with cell ids: valid
        "nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [
            {"id": "c1", "cell_type": "markdown", "metadata": {}, "source": "## Add two"},
            {"id": "c2", "cell_type": "code", "metadata": {}, "outputs": [],
             "execution_count": 1, "source": "x = 1\nprint(x + 2)"}]}))
    (root / "placeholder.ipynb").write_text("")
    (root / "broken.ipynb").write_text("{oops")
    (root / "old" / "notes.py").parent.mkdir()
    (root / "old" / "notes.py").write_text("print('no cell markers')\n")
    return root


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_folder_with_odd_files_imports_and_names_every_bad_one(
    real_embedder, store_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]  # type: ignore[no-untyped-def]
) -> None:
    root = folder(tmp_path)
    status, out, err = cli(capsys, "--store", store_uri, "import", str(root))
    assert status == 0, err
    assert "skipped file    broken.ipynb: invalid JSON" in out
    assert "skipped file    placeholder.ipynb: empty file" in out
    assert "skipped file    old/notes.py: a .py file without '# %%' cell markers" in out
    assert "imported 4 snippet(s) from 2 file(s)" in out and "3 file(s) skipped" in out

    status, out, _ = cli(capsys, "--store", store_uri, "import", str(root), "--json")
    report = json.loads(out)
    assert status == 0 and report["new"] == 0 and report["exists"] == 4  # idempotent
    item = next(i for i in report["items"] if i["origin"] == {"path": "clusters.ipynb",
                                                              "cell": 3})

    status, out, _ = cli(capsys, "--store", store_uri, "show", item["id"], "--json")
    shown = json.loads(out)
    assert shown["origin"] == {"path": "clusters.ipynb", "cell": 3}
    assert "sizes = {k: labels.count(k)" in shown["context_code"]
    assert shown["free_names"] == [] and shown["source"] == "imported"
    status, out, _ = cli(capsys, "--store", store_uri, "show", item["id"])
    assert "origin:     clusters.ipynb [cell 3]" in out and "--- context" in out

    status, out, _ = cli(capsys, "--store", store_uri, "import", "--forget",
                         str(root / "ids.ipynb"))
    assert status == 0 and "forgot" in out
    status, out, _ = cli(capsys, "--store", store_uri, "list", "--json")
    assert {s["origin"]["path"] for s in json.loads(out)} == {"clusters.ipynb"}


def test_nothing_to_import_fails_and_says_why(
    real_embedder, store_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]  # type: ignore[no-untyped-def]
) -> None:
    (tmp_path / "empty.ipynb").write_text("")
    status, out, err = cli(capsys, "--store", store_uri, "import", str(tmp_path))
    assert status == 1 and "empty.ipynb: empty file" in out and "nothing was imported" in err
    status, _, err = cli(capsys, "--store", store_uri, "import")
    assert status == 1 and "give the notebooks" in err


def test_a_shared_heading_is_never_served_without_the_model(
    real_embedder, store_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]  # type: ignore[no-untyped-def]
) -> None:
    assert cli(capsys, "--store", store_uri, "import", str(folder(tmp_path)))[0] == 0
    status, out, _ = cli(capsys, "--store", store_uri, "lookup", HEADING, "--json")
    assert status == 0 and json.loads(out)["tier"] not in ("exact", "slot")
    status, out, err = cli(capsys, "--store", store_uri, "run", HEADING, "--no-model")
    assert status == 3, (out, err)


def test_import_from_a_notebook(ip, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    from fixtures_magic import cache_of

    ip.run_line_magic("semcache", f"import {folder(tmp_path)}")
    assert "imported 4 snippet(s) from 2 file(s)" in capsys.readouterr().out
    assert {s.origin["path"] for s in cache_of(ip).list_snippets()} == {
        "clusters.ipynb", "ids.ipynb"}
