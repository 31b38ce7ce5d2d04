"""The quickstart notebook executes headless (nbclient) against the local model server."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from fixtures_kernel import kernel_processes, wait_until

from semcache_magic.demo import run_quickstart, summarise

pytestmark = pytest.mark.slow


def test_quickstart_runs_the_whole_loop(tmp_path: Path) -> None:
    before = set(kernel_processes())
    path = run_quickstart(tmp_path)
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors == []
    assert [tier for _task, tier, _said in summarise(path)] == [
        "miss", "exact", "slot", "semantic", "miss"]
    text = json.dumps(notebook)
    assert "[0, 1, 1, 2, 3, 5, 8, 13, 21, 34]" in text
    assert "4181]" in text  # the 20 Fibonacci numbers of the slot hit
    assert "price" in text and "mean" in text  # --out summary came back and displayed
    assert "model calls: 3 made, 2 avoided" in text
    # The notebook kernel stopped, and it stopped its own isolated kernels on the way out.
    assert wait_until(lambda: not set(kernel_processes()) - before, timeout=10), (
        set(kernel_processes()) - before)
