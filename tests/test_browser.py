"""The sidebar in a real browser: JupyterLab on 127.0.0.1, Debian chromium, Playwright.

JupyterLab runs as its own process on a seeded store (``SEMCACHE_HOME``); the server
extension and the labextension are the installed ones (``pip install -e .``; after
``jupyter labextension develop --overwrite .`` a rebuild of labextension/ is tested at once).
The browser is /usr/bin/chromium (``tests/run.sh`` installs it); Playwright never
downloads one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    STEP_TIMEOUT_MS,
    running_lab,
    wait_for_kernel,
    write_notebook,
)
from fixtures_browser import cell_sources as _cell_sources

pytestmark = pytest.mark.slow

TASK = "Print the factorial of 6"
CODE = "import math\n\nprint(math.factorial(6))\n"


@pytest.fixture
def seeded_home(tmp_path, real_embedder):
    from semcache_magic.cache import SnippetCache
    from semcache_magic.config import SemCache

    home = tmp_path / "semcache_home"
    cache = SnippetCache(SemCache(store=str(home)), embedder=real_embedder)
    cache.save(TASK, CODE, tags=["math"])
    cache.save("Reverse the string 'hello'", "print('hello'[::-1])\n")  # listed first
    yield home, cache
    cache.close()


@pytest.fixture
def lab(tmp_path, seeded_home):
    """A JupyterLab server process: (base url, token, log path)."""
    home, _ = seeded_home
    with running_lab(tmp_path, home) as (url, token, log, root):
        write_notebook(root / "demo.ipynb", ["x = 1"])
        yield url, token, log


def test_sidebar_search_and_insert(lab, seeded_home, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    url, token, log = lab
    _, writer = seeded_home
    shot = tmp_path / "sidebar.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 900},
        )
        page = browser.new_page()
        try:
            page.set_default_timeout(STEP_TIMEOUT_MS)
            expect.set_options(timeout=STEP_TIMEOUT_MS)
            page.goto(f"{url}lab/tree/demo.ipynb?token={token}")
            first_cell = page.locator(".jp-Notebook .jp-Cell").first
            expect(first_cell).to_contain_text("x = 1")

            page.locator('.jp-SideBar [data-id="semcache-sidebar"]').click()
            sidebar = page.locator("#semcache-sidebar")
            items = sidebar.locator(".jp-semcache-item")
            expect(items).to_have_count(2)
            expect(items.first).to_contain_text("Reverse the string")  # newest first

            sidebar.locator(".jp-semcache-search").fill("compute six factorial")
            expect(items.first.locator(".jp-semcache-score")).to_be_visible()  # ranked
            expect(sidebar.locator(".jp-semcache-list")).to_have_attribute("aria-busy", "false")
            expect(items.first).to_contain_text(TASK)
            item = items.first
            item.click()
            preview = item.locator(".jp-semcache-preview")
            expect(preview.locator(".jp-semcache-code")).to_contain_text("math.factorial(6)")
            expect(preview.locator(".jp-semcache-provenance")).to_contain_text("math")

            first_cell.click()  # the active cell: the new one goes below it
            preview.get_by_role("button", name="Insert below").click()
            cells = page.locator(".jp-Notebook .jp-Cell")
            expect(cells).to_have_count(2)
            expect(cells.nth(1).locator(".cm-content")).to_contain_text(
                "print(math.factorial(6))")
            assert _cell_sources(page) == ["x = 1", CODE.rstrip("\n")]
            page.screenshot(path=str(shot))

            # Insert at the cursor of the active cell (the new one, cursor at its start).
            preview.get_by_role("button", name="Insert", exact=True).click()
            assert _cell_sources(page)[1] == CODE + CODE.rstrip("\n")

            preview.get_by_role("button", name="▲ 0").click()
            expect(preview.get_by_role("button", name="▲ 1")).to_be_visible()

            with page.expect_download() as download:
                preview.get_by_role("button", name="Export .py").click()
            name = download.value.suggested_filename
            assert name == "print_the_factorial_of_6.py"
            exported = Path(download.value.path()).read_text()
            assert exported.rstrip().endswith("print(math.factorial(6))")

            preview.get_by_role("button", name="Delete").click()
            page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
            expect(items).to_have_count(0)  # it was the only match of the search
            sidebar.locator(".jp-semcache-search").fill("")
            expect(items).to_have_count(1)
            expect(items.first).to_contain_text("Reverse the string")

            # Saved by another process after the page loaded: a refresh shows it.
            writer.save("Print the sum of 2 and 3", "print(2 + 3)\n")
            sidebar.locator(".jp-semcache-search").fill("")
            sidebar.locator(".jp-semcache-refresh").click()
            expect(sidebar.locator(".jp-semcache-item").first).to_contain_text(
                "Print the sum of 2 and 3")
        except Exception:
            if not shot.exists():
                page.screenshot(path=str(shot))
            print(f"screenshot: {shot}\nJupyterLab log:\n{log.read_text()[-4000:]}")
            raise
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


def test_magic_widget_in_jupyterlab(lab, tmp_path):
    """%%cached_task in a real notebook kernel: the widget renders, the snippet's output
    is a normal cell output, and the widget's Insert button adds a cell below."""
    import nbformat
    from playwright.sync_api import expect, sync_playwright

    url, token, log = lab
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell("%load_ext semcache_magic"),
                      nbformat.v4.new_code_cell(f"%%cached_task\n{TASK}")]
    nbformat.write(notebook, str(tmp_path / "root" / "magic.ipynb"))
    shot = tmp_path / "magic.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile-magic"), executable_path=CHROMIUM,
            headless=True, args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 900},
        )
        page = browser.new_page()
        try:
            page.set_default_timeout(STEP_TIMEOUT_MS)
            expect.set_options(timeout=STEP_TIMEOUT_MS)
            page.goto(f"{url}lab/tree/magic.ipynb?token={token}")
            cells = page.locator(".jp-Notebook .jp-Cell")
            expect(cells).to_have_count(2)
            wait_for_kernel(page)
            page.evaluate("() => window.jupyterapp.commands.execute("
                          "'notebook:run-all-cells')")
            magic_cell = cells.nth(1)
            expect(magic_cell.locator(".jp-OutputArea-output")).to_contain_text(["720"])
            widget = magic_cell.locator(".jupyter-widgets").first
            expect(widget).to_contain_text("exact")
            expect(widget).to_contain_text("running")
            insert = magic_cell.get_by_role("button", name="Insert cell")
            expect(insert).to_be_enabled()
            magic_cell.click()  # the new cell goes below the active one
            insert.click()
            expect(cells).to_have_count(3)
            assert _cell_sources(page)[2] == CODE.rstrip("\n")
            page.screenshot(path=str(shot))
        except Exception:
            page.screenshot(path=str(shot))
            print(f"screenshot: {shot}\nJupyterLab log:\n{log.read_text()[-4000:]}")
            raise
        finally:
            browser.close()
