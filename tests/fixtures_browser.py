"""JupyterLab in a real browser: a server process on 127.0.0.1 and Debian's chromium.

* :func:`running_lab` -- a JupyterLab process on a store (``SEMCACHE_HOME``), with its own
  config, data, runtime and settings directories; yields (url, token, log path);
* :func:`open_page` -- a chromium page (Playwright, ``executable_path=/usr/bin/chromium``;
  Playwright never downloads a browser);
* :func:`write_notebook` -- a notebook file of code cells for the lab to open.

The server extension and labextension are the installed ones (``pip install -e .``;
after ``jupyter labextension develop --overwrite .`` a rebuild is tested at once).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CHROMIUM", "STEP_TIMEOUT_MS", "cell_sources", "open_page", "running_lab",
           "wait_for_kernel", "write_notebook"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SERVER_START_S = 90
STEP_TIMEOUT_MS = 60_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_notebook(path: Path, sources: Sequence[str]) -> Path:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, str(path))
    return path


def _wait_until_up(process: subprocess.Popen[bytes], url: str, token: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    request = urllib.request.Request(url + "api/status",
                                     headers={"Authorization": f"token {token}"})
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"JupyterLab did not start in {SERVER_START_S} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the JupyterLab we started, and its kernels (its own process group)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@contextlib.contextmanager
def running_lab(tmp_path: Path, home: Path, env: Mapping[str, str] | None = None
                ) -> Iterator[tuple[str, str, Path, Path]]:
    """A JupyterLab server process: (base url, token, log path, root directory)."""
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    settings = tmp_path / "lab-settings"
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = _free_port(), secrets.token_hex(16)
    process_env = {
        **os.environ,
        "SEMCACHE_HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "LANCEDB_LOG": "error",
        **(env or {}),
    }
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
        f"--port={port}", "--port-retries=0", "--allow-root",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={tmp_path / 'lab-workspaces'}",
        "--LabApp.expose_app_in_browser=True",
    ]
    log = tmp_path / "jupyterlab.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=process_env, stdout=out,
                                   stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_up(process, url, token, log)
        yield url, token, log, root
    finally:
        _stop(process)


@contextlib.contextmanager
def open_page(playwright: Any, profile: Path, *, width: int = 1400, height: int = 900
              ) -> Iterator[Any]:
    """A chromium page with the project's timeouts; the browser closes afterwards."""
    from playwright.sync_api import expect

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    browser = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": width, "height": height},
    )
    try:
        page = browser.new_page()
        page.set_default_timeout(STEP_TIMEOUT_MS)
        expect.set_options(timeout=STEP_TIMEOUT_MS)
        yield page
    finally:
        browser.close()


def cell_sources(page: Any) -> list[str]:
    sources: list[str] = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.cells"
        ".map(cell => cell.getSource())")
    return sources


def wait_for_kernel(page: Any) -> None:
    """Wait until the notebook's own kernel is connected and idle: JupyterLab may replace
    a kernel whose first websocket failed, and runs sent to the old one would be lost."""
    page.wait_for_function(
        "() => { const s = window.jupyterapp.shell.currentWidget?.sessionContext;"
        " const k = s?.session?.kernel; return !!k && k.connectionStatus === "
        "'connected' && k.status === 'idle' && !s.isRestarting; }",
        timeout=STEP_TIMEOUT_MS)
