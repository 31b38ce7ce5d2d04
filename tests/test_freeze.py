"""`semcache freeze`: %%cached_task cells become the code that ran, read from the notebook.

The slow test executes the quickstart (real kernels, local model server), freezes it and
runs the frozen copy with nbclient in a plain kernel that never loads semcache.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
import tomllib
from nbclient import NotebookClient

from semcache_magic.cli import main
from semcache_magic.errors import ConfigurationError
from semcache_magic.share import freeze_cells, freeze_notebook
from semcache_magic.view import RECORD_MIME

ROOT = Path(__file__).resolve().parent.parent


def _record(**fields: Any) -> dict[str, Any]:
    record = {"version": 1, "state": "done", "task": "Print 7", "tier": "exact",
              "evidence": "exact", "evidence_words": "exact task", "status": "ok",
              "status_label": "done", "origin": "exact", "code": "print(7)\n",
              "snippet_id": "0123456789abcdef", "inputs": [], "outputs": []}
    return {**record, **fields}


def _task_cell(record: dict[str, Any] | None, line: str = "") -> Any:
    cell = nbformat.v4.new_code_cell(f"%%cached_task {line}".rstrip() + "\nPrint 7")
    if record is not None:
        cell.outputs = [
            nbformat.v4.new_output("display_data", data={RECORD_MIME: record,
                                                         "text/plain": "semcache"},
                                   metadata={"semcache": record}),
            nbformat.v4.new_output("stream", name="stdout", text="7\n"),
        ]
    return cell


def test_a_task_cell_becomes_its_code_and_keeps_the_program_output() -> None:
    cells = [_task_cell(_record(inputs=["df"], outputs=["total"]), "--in df --out total")]
    report = freeze_cells(cells)
    source = cells[0].source
    assert source.endswith("\nprint(7)")
    assert source.startswith("# Frozen from %%cached_task (semcache): Print 7")
    assert "tier exact · exact task" in source and "snippet 01234567" in source
    assert "inputs: df · outputs: total" in source
    assert [o.output_type for o in cells[0].outputs] == ["stream"]  # the record is gone
    assert cells[0].metadata["semcache"]["snippet_id"] == "0123456789abcdef"
    assert (report.frozen, report.missing) == (1, 0)


def test_a_dry_run_keeps_its_proposal_as_comments_and_a_failure_says_so() -> None:
    cells = [_task_cell(_record(status="dry_run", code="print(1)\n\nprint(2)\n")),
             _task_cell(_record(status="error", error="ValueError: boom",
                                code="raise ValueError('boom')\n"))]
    freeze_cells(cells)
    assert "# print(1)\n#\n# print(2)" in cells[0].source
    assert "Nothing ran (it was a dry run)" in cells[0].source
    assert "failed when the notebook ran: ValueError: boom" in cells[1].source
    assert cells[1].source.endswith("\nraise ValueError('boom')")


def test_a_task_without_a_record_is_commented_out_or_refused_when_strict() -> None:
    cells = [_task_cell(None)]
    report = freeze_cells(cells)
    assert report.missing == 1
    assert all(line.startswith("#") for line in cells[0].source.splitlines())
    with pytest.raises(ConfigurationError, match="without a record"):
        freeze_cells([_task_cell(None)], strict=True)


def test_semcache_only_lines_become_comments_and_other_code_stays() -> None:
    cells = [nbformat.v4.new_code_cell(
        "from semcache_magic.demo import prepare_demo\nimport math\n\nsetup = prepare_demo()"
        "\nprint(setup)\n%load_ext semcache_magic\nx = math.pi\n%config SemCache.threshold = .7"),
        nbformat.v4.new_code_cell("%semcache stats"), nbformat.v4.new_code_cell("%time x = 1")]
    cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="stats\n")]
    freeze_cells(cells)
    kept = [line for line in cells[0].source.splitlines() if not line.startswith("# [semcache]")]
    assert kept == ["import math", "", "x = math.pi"]
    assert cells[1].source == "# [semcache] %semcache stats" and cells[1].outputs == []
    assert cells[2].source == "%time x = 1"


def _notebook(path: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("%load_ext semcache_magic"),
                      _task_cell(_record())]
    nbformat.write(notebook, str(path))
    return path


def test_the_cli_writes_a_frozen_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _notebook(tmp_path / "analysis.ipynb")
    assert main(["freeze", str(source)]) == 0
    frozen = nbformat.read(str(tmp_path / "analysis.frozen.ipynb"), as_version=4)
    assert frozen.cells[1].source.endswith("print(7)")
    assert "1 tasks frozen" in capsys.readouterr().out
    (tmp_path / "broken.ipynb").write_text("{not json")
    assert main(["freeze", str(tmp_path / "broken.ipynb")]) == 1
    assert "not a readable notebook" in capsys.readouterr().err


@pytest.mark.parametrize("how", [
    ["--to", "semcache_magic.share.FreezeExporter"],
    ["--to", "notebook", "--Exporter.preprocessors=semcache_magic.share.SemcacheFreeze",
     "--output", "analysis.frozen"],
])
def test_nbconvert_freezes_with_the_preprocessor(tmp_path: Path, how: list[str]) -> None:
    source = _notebook(tmp_path / "analysis.ipynb")
    done = subprocess.run([sys.executable, "-m", "nbconvert", *how, str(source)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    frozen = nbformat.read(str(tmp_path / "analysis.frozen.ipynb"), as_version=4)
    assert frozen.cells[0].source == "# [semcache] %load_ext semcache_magic"
    assert frozen.cells[1].source.endswith("print(7)")


def test_the_exporter_is_registered_with_nbconvert() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    exporters = project["project"]["entry-points"]["nbconvert.exporters"]
    assert exporters == {"semcache_freeze": "semcache_magic.share:FreezeExporter"}


def _streams(cell: Any) -> str:
    return "".join(str(o.get("text", "")) for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream")


@pytest.mark.slow
def test_the_frozen_quickstart_runs_in_a_plain_kernel_with_the_same_output(
        tmp_path: Path) -> None:
    from semcache_magic.demo import run_quickstart

    original = nbformat.read(str(run_quickstart(tmp_path / "ran")), as_version=4)
    target, report = freeze_notebook(tmp_path / "ran" / "quickstart.ipynb",
                                     tmp_path / "frozen.ipynb")
    assert report.frozen == 5 and report.missing == 0
    frozen = nbformat.read(str(target), as_version=4)
    magics = [line for c in frozen.cells if c.cell_type == "code"
              for line in c.source.splitlines() if line.lstrip().startswith("%")]
    assert magics == []  # no %%cached_task, %load_ext or %semcache is left
    # Run it afresh: outputs cleared, plus a probe that semcache was never imported.
    for cell in frozen.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    frozen.cells.append(nbformat.v4.new_code_cell(
        "import sys\nprint('semcache loaded:', any(m.startswith('semcache_magic') "
        "for m in sys.modules))"))
    NotebookClient(frozen, kernel_name="python3", timeout=300,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert _streams(frozen.cells[-1]) == "semcache loaded: False\n"
    compared = 0
    for before, after in zip(original.cells, frozen.cells[:-1], strict=True):
        if before.cell_type != "code" or after.source.startswith("# [semcache]"):
            continue  # semcache's own cells (the demo set-up, stats) are comments now
        assert _streams(after) == _streams(before), after.source
        compared += 1
    assert compared == 7  # five tasks, the data frame, `summary`
    tasks = [c for c in original.cells if c.source.startswith("%%cached_task")]
    assert all(_streams(c) for c in tasks)  # each task printed something to compare
