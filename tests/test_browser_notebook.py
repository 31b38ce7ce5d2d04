"""The %%cached_task output in JupyterLab: Regenerate, a reopened notebook, the dark theme.

A real JupyterLab process (its kernels run the magic against a seeded store and the local
model server) driven by Debian's chromium through Playwright; no browser is downloaded.
Each test saves screenshots of the states it checks in its tmp directory.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nbformat
import pytest
from fixtures_browser import open_page, running_lab, wait_for_kernel, write_notebook

from semcache_magic.demo import ModelServer

pytestmark = pytest.mark.slow

# The value declared in a parameters block, as the system prompt asks: 9 is a slot hit.
FACTORIAL = ("Print the factorial of 6",
             "# parameters\nn = 6\n\nimport math\n\nprint(math.factorial(n))\n")
SQUARE = ("Print the square of 12", "print(12 ** 2)\n")
FIBONACCI = ("Print the first 10 Fibonacci numbers as a list",
             "a, b = 0, 1\nnumbers = []\nfor _ in range(10):\n    numbers.append(a)\n"
             "    a, b = b, a + b\nprint(numbers)\n")

#: Contrast ratios (WCAG) of every text-bearing element under a selector, from computed
#: styles: the background is the first opaque one up the tree, translucent layers blended.
CONTRAST_JS = """
(selector) => {
  const parse = c => { const m = c.match(/rgba?\\(([^)]+)\\)/);
    const p = m[1].split(',').map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const lum = c => { const f = v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const background = el => { const layers = [];
    for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; } }
    let out = [255, 255, 255];
    for (const c of layers.reverse()) out = out.map((v, i) => c[i] * c[3] + v * (1 - c[3]));
    return out; };
  const found = [];
  for (const root of document.querySelectorAll(selector)) {
    for (const el of [root, ...root.querySelectorAll('*')]) {
      if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
      const bg = background(el); const c = parse(getComputedStyle(el).color);
      const fg = c.slice(0, 3).map((v, i) => v * c[3] + bg[i] * (1 - c[3]));
      const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
      found.push({text: el.textContent.trim().slice(0, 40), ratio: (hi + 0.05) / (lo + 0.05)});
    }
  }
  return found;
}
"""


GENERATED = ("Print the numbers 1 to 3 joined by +", "print('+'.join(['1', '2', '3']))\n")


@pytest.fixture(scope="module")
def model() -> Iterator[ModelServer]:
    with ModelServer(answers=dict([GENERATED])) as server:
        yield server


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, real_embedder: Any,
        model: ModelServer) -> Iterator[SimpleNamespace]:
    from semcache_magic.cache import SnippetCache
    from semcache_magic.config import SemCache

    tmp = tmp_path_factory.mktemp("lab")
    home = tmp / "semcache_home"
    cache = SnippetCache(SemCache(store=str(home)), embedder=real_embedder)
    for task, code in (FACTORIAL, FIBONACCI, SQUARE):
        cache.save(task, code)
    cache.close()
    env = {"ANTHROPIC_BASE_URL": model.url, "ANTHROPIC_API_KEY": "sk-ant-test-browser"}
    with running_lab(tmp, home, env) as (url, token, log, root):
        yield SimpleNamespace(url=url, token=token, log=log, root=root)


def _open(page: Any, lab: SimpleNamespace, name: str) -> Any:
    from playwright.sync_api import expect

    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    # A workspace of its own: nothing another test opened is restored beside the notebook.
    page.goto(f"{lab.url}lab/workspaces/{uuid.uuid4().hex[:12]}/tree/{name}?token={lab.token}")
    cells = page.locator(".jp-Notebook .jp-Cell")
    expect(cells.first).to_be_visible()
    wait_for_kernel(page)
    page.errors = errors  # what the console said, for the tests that check it
    return cells


def _run_all(page: Any, lab: SimpleNamespace, name: str, sources: list[str]) -> Any:
    write_notebook(lab.root / name, sources)
    cells = _open(page, lab, name)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    return cells


def _shot(page: Any, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def test_regenerate_replaces_the_cells_view_and_output(lab: SimpleNamespace,
                                                      model: ModelServer,
                                                      tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright, open_page(playwright, tmp_path / "profile") as page:
        cells = _run_all(page, lab, "regenerate.ipynb",
                         ["%load_ext semcache_magic", f"%%cached_task\n{SQUARE[0]}"])
        output = cells.nth(1).locator(".jp-Cell-outputArea")
        expect(output).to_contain_text("exact task")
        expect(output).to_contain_text("144")
        _shot(page, tmp_path / "before-regenerate.png")
        calls = model.calls
        model.script("```python\nprint('fresh', 12 * 12)\n```")
        cells.nth(1).get_by_role("button", name="Regenerate").click()
        expect(output).to_contain_text("fresh 144")
        expect(output).to_contain_text("cache skipped")
        expect(output).not_to_contain_text("exact task")  # the old view is gone
        assert output.locator(".semcache-widget").count() == 1
        assert model.calls == calls + 1
        texts = output.locator(".jp-OutputArea-output").all_inner_texts()
        assert not any(text.strip() == "144" for text in texts)  # the old output is gone
        _shot(page, tmp_path / "after-regenerate.png")
        # Nothing of the new run landed in the Log Console.
        page.evaluate("() => window.jupyterapp.commands.execute('logconsole:open')")
        console = page.locator(".jp-LogConsole")
        expect(console).to_be_visible()
        assert console.locator(".jp-OutputArea-output").count() == 0
        _shot(page, tmp_path / "log-console.png")


def test_a_saved_notebook_reopened_without_its_kernel_shows_what_ran(
        lab: SimpleNamespace, model: ModelServer, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    tasks = [FACTORIAL[0], "Print the factorial of 9", GENERATED[0]]
    name = "reopen.ipynb"
    with sync_playwright() as playwright, open_page(playwright, tmp_path / "p1") as page:
        cells = _run_all(page, lab, name, ["%load_ext semcache_magic"]
                         + [f"%%cached_task\n{task}" for task in tasks])
        expect(cells.nth(3).locator(".jp-Cell-outputArea")).to_contain_text("1+2+3")
        expect(cells.nth(2).locator(".jp-Cell-outputArea")).to_contain_text("362880")
        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        page.wait_for_function(
            "() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:shutdown-kernel')"
                      ".catch(() => undefined)")
    saved = nbformat.read(str(lab.root / name), as_version=4)
    records = [o.metadata["semcache"] for c in saved.cells[1:] for o in c.outputs
               if "semcache" in o.get("metadata", {})]
    assert [r["tier"] for r in records] == ["exact", "slot", "miss"]
    assert "n = 9" in records[1]["code"] and "join" in records[2]["code"]

    with sync_playwright() as playwright, open_page(playwright, tmp_path / "p2") as page:
        cells = _open(page, lab, name)  # a new kernel: the widgets' models are gone
        expected = [("exact", "n = 6"), ("slot", "n = 9"),
                    ("miss", "'+'.join")]
        for index, (tier, code) in enumerate(expected, 1):
            output = cells.nth(index).locator(".jp-Cell-outputArea")
            expect(output.locator(".jp-semcache-record-static")).to_contain_text(tier)
            expect(output.locator(".jp-semcache-code")).to_contain_text(code)
        expect(page.locator(".jp-Notebook")).not_to_contain_text("model not found")
        assert page.locator(".jp-Notebook .jupyter-widgets").count() == 0
        assert not [e for e in page.errors if "widget" in e.lower() or "model" in e.lower()]
        _shot(page, tmp_path / "reopened.png")


def test_dark_theme_contrast_and_a_compact_view_at_900_px(lab: SimpleNamespace,
                                                         tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright, \
            open_page(playwright, tmp_path / "profile", width=900) as page:
        cells = _run_all(page, lab, "dark.ipynb", [
            "%load_ext semcache_magic",
            "%%cached_task --no-save\nShow the first 10 terms of the Fibonacci sequence as a list"])
        page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme',"
                      " {theme: 'JupyterLab Dark'})")
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
        widget = cells.nth(1).locator(".semcache-widget")
        expect(widget).to_contain_text("similar task")
        expect(widget).to_contain_text("done")
        height = widget.bounding_box()["height"]
        assert height < 260, height  # folded: header, stages, three folds, buttons
        _shot(page, tmp_path / "dark-folded.png")
        widget.evaluate("w => w.querySelectorAll('details').forEach(d => d.open = true)")
        code = page.evaluate(CONTRAST_JS, ".semcache-widget pre.sc-code")
        assert code and len(code) > 10
        low = [c for c in code if c["ratio"] < 4.5]
        assert not low, low
        print(f"dark theme: lowest code contrast {min(c['ratio'] for c in code):.2f} over "
              f"{len(code)} text elements; folded view {height:.0f} px high")
        dim = page.evaluate(CONTRAST_JS, ".semcache-widget .sc-dim")
        assert dim and min(c["ratio"] for c in dim) >= 4.5, dim
        # At 900 px no button label is cut.
        cut = widget.evaluate("w => [...w.querySelectorAll('button')].filter(b =>"
                              " b.offsetParent && b.scrollWidth > b.clientWidth + 1)"
                              ".map(b => b.textContent)")
        assert cut == []
        _shot(page, tmp_path / "dark-open.png")
        page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme',"
                      " {theme: 'JupyterLab Light'})")
