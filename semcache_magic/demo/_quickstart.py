"""The quickstart demo: a temporary store, a model (real or local), and headless execution.

``prepare_demo()`` is the quickstart notebook's first cell: it points the cache at
a fresh temporary store (so the first task is a miss) and, when no
``ANTHROPIC_API_KEY`` is set, starts the local Messages-API server with scripted
answers for the demo tasks. With a key, the real Claude answers.

``run_quickstart()`` executes the notebook headless with nbclient (what
``semcache demo`` does) and returns where the executed copy is.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["DEMO_ANSWERS", "find_quickstart", "prepare_demo", "run_quickstart"]

_FIBONACCI = """\
# parameters
count = 10

a, b = 0, 1
numbers = []
for _ in range(count):
    numbers.append(a)
    a, b = b, a + b
print(numbers)
"""

_SUMMARY = """\
numeric = df.select_dtypes("number")
summary = numeric.agg(["mean", "std"]).T
print(summary)
"""

#: Scripted answers of the local model server, by normalised task.
DEMO_ANSWERS: dict[str, str] = {
    "print the first 10 Fibonacci numbers as a list": _FIBONACCI,
    "compute the mean and standard deviation of every numeric column of df into summary":
        _SUMMARY,
}

_server: Any = None


def prepare_demo(*, store: str | None = None) -> dict[str, str]:
    """Use a fresh store and, without an API key, the local model server.

    Call it before ``%load_ext semcache_magic``. Returns what was set up.
    """
    global _server
    home = store or tempfile.mkdtemp(prefix="semcache-demo-store-")
    os.environ["SEMCACHE_HOME"] = home
    if os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN"):
        model = "Claude (ANTHROPIC_API_KEY is set)"
    else:
        from ._server import ModelServer

        if _server is None:
            _server = ModelServer(answers=DEMO_ANSWERS).start()
        os.environ["ANTHROPIC_BASE_URL"] = _server.url
        os.environ["ANTHROPIC_API_KEY"] = "sk-ant-local-demo"
        model = f"the local demo model server at {_server.url} (no ANTHROPIC_API_KEY set)"
    print(f"store: {home}\nmodel: {model}")
    return {"store": home, "model": model}


def find_quickstart() -> Path:
    """The quickstart notebook: packaged in the wheel, or in the source checkout."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "data" / "quickstart.ipynb",
                      package.parent / "notebooks" / "quickstart.ipynb"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("quickstart.ipynb is not installed with this package")


def run_quickstart(out_dir: str | Path | None = None, *, timeout: int = 600) -> Path:
    """Execute the quickstart headless (nbclient) and return the executed notebook's path.

    Raises nbclient's CellExecutionError if a cell fails (the partial notebook is
    still written, so it can be inspected).
    """
    from ..share import execute_notebook, read_notebook, write_notebook

    source = find_quickstart()
    target_dir = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="semcache-demo-"))
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / "quickstart.ipynb"
    notebook = read_notebook(source)
    # Text progress lines read well in a saved notebook opened without a live kernel.
    previous = os.environ.get("SEMCACHE_UI")
    os.environ["SEMCACHE_UI"] = "text"
    from ..run import notebook_kernel_manager

    manager = notebook_kernel_manager("python3")
    try:
        execute_notebook(notebook, kernel_manager=manager, cwd=target_dir, timeout=timeout)
    finally:
        write_notebook(notebook, target)
        # nbclient does not stop a kernel it was handed; a graceful stop lets the
        # notebook kernel's atexit hooks shut down its own isolated kernels.
        if manager.has_kernel:
            manager.shutdown_kernel(now=False)
        shutil.rmtree(os.path.dirname(manager.connection_file), ignore_errors=True)
        if previous is None:
            os.environ.pop("SEMCACHE_UI", None)
        else:
            os.environ["SEMCACHE_UI"] = previous
    return target


def summarise(path: str | Path) -> list[tuple[str, str, str]]:
    """(task, tier, what it said) for each ``%%cached_task`` cell of an executed notebook,
    read from the record each task's output keeps."""
    from ..share import read_notebook
    from ..view import find_record

    rows = []
    for cell in read_notebook(path).cells:
        if cell.cell_type != "code" or not cell.source.startswith("%%cached_task"):
            continue
        task = cell.source.splitlines()[1] if "\n" in cell.source else ""
        record = next((r for r in map(find_record, cell.get("outputs", [])) if r), None)
        said = [line[len("semcache: "):] for line in (record or {}).get("lines", [])
                if line.startswith("semcache: ")]
        rows.append((task, str((record or {}).get("tier") or "?"), said[0] if said else ""))
    return rows
