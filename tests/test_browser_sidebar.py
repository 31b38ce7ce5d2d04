"""The snippet sidebar in JupyterLab: no match, the keyboard, saving a cell, editing, live refresh.

A real JupyterLab process on a seeded store, driven by Debian's chromium through
Playwright (no browser download). Each test saves screenshots in its tmp directory.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fixtures_browser import cell_sources, open_page, running_lab, write_notebook

pytestmark = pytest.mark.slow

FACTORIAL = ("Print the factorial of 6", "import math\n\nprint(math.factorial(6))\n")
REVERSE = ("Reverse the string 'hello'", "print('hello'[::-1])\n")
SUM = ("Sum the numbers from 1 to 100", "print(sum(range(1, 101)))\n")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, real_embedder: Any
        ) -> Iterator[SimpleNamespace]:
    from semcache_magic.cache import SnippetCache
    from semcache_magic.config import SemCache

    tmp = tmp_path_factory.mktemp("sidebar-lab")
    home = tmp / "semcache_home"
    cache = SnippetCache(SemCache(store=str(home)), embedder=real_embedder)
    ids = {task: cache.save(task, code).snippet.id for task, code in (FACTORIAL, REVERSE, SUM)}
    cache.record_use(ids[FACTORIAL[0]], success=True)  # "1 use", not "1 uses"
    with running_lab(tmp, home) as (url, token, log, root):
        yield SimpleNamespace(url=url, token=token, log=log, root=root, cache=cache, ids=ids)
    cache.close()


def _sidebar(page: Any, lab: SimpleNamespace, notebook: str, sources: list[str]) -> Any:
    from playwright.sync_api import expect

    write_notebook(lab.root / notebook, sources)
    # A workspace of its own: nothing another test opened is restored.
    page.goto(f"{lab.url}lab/workspaces/{uuid.uuid4().hex[:12]}/tree/{notebook}"
              f"?token={lab.token}")
    expect(page.locator(".jp-Notebook .jp-Cell").first).to_contain_text(sources[0][:10])
    page.locator('.jp-SideBar [data-id="semcache-sidebar"]').click()
    sidebar = page.locator("#semcache-sidebar")
    expect(sidebar.locator(".jp-semcache-item").first).to_be_visible()
    return sidebar


def _shot(page: Any, path: Path) -> None:
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")


def test_a_search_without_a_match_says_so(lab: SimpleNamespace, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright, open_page(playwright, tmp_path / "profile") as page:
        sidebar = _sidebar(page, lab, "nomatch.ipynb", ["x = 1"])
        sidebar.locator(".jp-semcache-search").fill("zxqv blorp")
        empty = sidebar.locator(".jp-semcache-empty")
        expect(empty).to_contain_text("No match for “zxqv blorp”")
        expect(sidebar.locator(".jp-semcache-item")).to_have_count(0)
        _shot(page, tmp_path / "no-match.png")
        sidebar.locator(".jp-semcache-search").fill("factorial")
        expect(sidebar.locator(".jp-semcache-item")).to_have_count(1)  # only the match
        expect(sidebar.locator(".jp-semcache-item").first).to_contain_text("1 use")


def test_the_keyboard_moves_through_results_and_enter_inserts(lab: SimpleNamespace,
                                                             tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright, open_page(playwright, tmp_path / "profile") as page:
        sidebar = _sidebar(page, lab, "keys.ipynb", ["x = 1"])
        page.locator(".jp-Notebook .jp-Cell").first.click()  # the active cell
        search = sidebar.locator(".jp-semcache-search")
        search.fill("factorial")
        items = sidebar.locator('[role="option"]')
        expect(items).to_have_count(1)
        expect(sidebar.locator('[role="listbox"]')).to_have_attribute("aria-busy", "false")
        search.press("ArrowDown")
        expect(items.first).to_be_focused()
        expect(items.first).to_have_attribute("aria-selected", "true")
        items.first.press(" ")  # Space shows the code
        expect(items.first).to_have_attribute("aria-expanded", "true")
        expect(items.first.locator(".jp-semcache-code")).to_contain_text("factorial(6)")
        _shot(page, tmp_path / "keyboard-preview.png")
        items.first.press("Enter")
        expect(page.locator(".jp-Notebook .jp-Cell")).to_have_count(2)
        assert cell_sources(page) == ["x = 1", FACTORIAL[1].rstrip("\n")]
        _shot(page, tmp_path / "keyboard-inserted.png")
        search.fill("")  # back to the whole list: arrows walk it, Up from the top leaves it
        expect(items).to_have_count(3)
        search.press("ArrowDown")
        expect(items.first).to_be_focused()
        items.first.press("ArrowDown")
        expect(items.nth(1)).to_be_focused()
        expect(items.first).to_have_attribute("aria-selected", "false")
        items.nth(1).press("ArrowUp")
        items.first.press("ArrowUp")
        expect(search).to_be_focused()


def test_save_a_cell_as_a_snippet_from_its_context_menu(lab: SimpleNamespace,
                                                       tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    code = "# Print the answer to everything\nprint(6 * 7)"
    with sync_playwright() as playwright, open_page(playwright, tmp_path / "profile") as page:
        sidebar = _sidebar(page, lab, "save.ipynb", [code])
        page.locator(".jp-Notebook .jp-Cell").first.click(button="right")
        page.get_by_role("menuitem", name="Save cell as snippet…").click()
        dialog = page.locator(".jp-Dialog")
        task = dialog.locator(".jp-semcache-form-task")
        expect(task).to_have_value("Print the answer to everything")  # from its comment
        dialog.locator(".jp-semcache-form-tags").fill("demo, numbers")
        _shot(page, tmp_path / "save-cell-dialog.png")
        dialog.get_by_role("button", name="Save").click()
        items = sidebar.locator(".jp-semcache-item")
        expect(items.first).to_contain_text("Print the answer to everything")  # refreshed
        _shot(page, tmp_path / "save-cell-saved.png")
    saved = lab.cache.lookup("Print the answer to everything")
    assert saved.tier == "exact" and saved.snippet.code == code + "\n"
    assert saved.snippet.source == "manual" and saved.snippet.tags == ["demo", "numbers"]


def test_edit_a_snippet_saves_a_new_version(lab: SimpleNamespace, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    old = lab.ids[REVERSE[0]]
    with sync_playwright() as playwright, open_page(playwright, tmp_path / "profile") as page:
        sidebar = _sidebar(page, lab, "edit.ipynb", ["x = 1"])
        sidebar.locator(".jp-semcache-search").fill("reverse a string")
        item = sidebar.locator(".jp-semcache-item").first
        expect(item).to_contain_text("Reverse the string")
        item.click()
        item.get_by_role("button", name="Edit…").click()
        dialog = page.locator(".jp-Dialog")
        expect(dialog.locator(".jp-semcache-form-code")).to_have_value(REVERSE[1])
        dialog.locator(".jp-semcache-form-code").fill("text = 'hello'\nprint(text[::-1])\n")
        dialog.locator(".jp-semcache-form-tags").fill("strings")
        _shot(page, tmp_path / "edit-dialog.png")
        dialog.get_by_role("button", name="Save").click()
        preview = sidebar.locator(".jp-semcache-preview")
        expect(preview.locator(".jp-semcache-code")).to_contain_text("text[::-1]")
        expect(preview.locator(".jp-semcache-provenance")).to_contain_text(old)  # parent
        _shot(page, tmp_path / "edit-saved.png")
    new = lab.cache.lookup(REVERSE[0])
    assert new.tier == "exact" and new.snippet.code == "text = 'hello'\nprint(text[::-1])\n"
    assert new.snippet.parent_id == old and new.snippet.tags == ["strings"]
    assert old not in {s.id for s in lab.cache.list_snippets()}  # replaced


def test_a_snippet_saved_elsewhere_appears_without_a_refresh(lab: SimpleNamespace,
                                                            tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright, open_page(playwright, tmp_path / "profile") as page:
        sidebar = _sidebar(page, lab, "live.ipynb", ["x = 1"])
        expect(sidebar.locator(".jp-semcache-item").first).to_be_visible()
        lab.cache.save("Print the current weekday", "import datetime\n"
                       "print(datetime.date.today().strftime('%A'))\n")
        # No click: the sidebar notices the new store version by itself.
        expect(sidebar.locator(".jp-semcache-item").first).to_contain_text(
            "Print the current weekday")
        _shot(page, tmp_path / "live-refresh.png")


def test_a_cell_dragged_onto_the_sidebar_is_offered_for_saving(lab: SimpleNamespace,
                                                              tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    code = "# Print the number of seconds in a day\nprint(24 * 60 * 60)"
    with sync_playwright() as playwright, open_page(playwright, tmp_path / "profile") as page:
        sidebar = _sidebar(page, lab, "drag.ipynb", [code])
        start = page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputPrompt")
        source, target = start.bounding_box(), sidebar.bounding_box()
        page.mouse.move(source["x"] + 5, source["y"] + 5)
        page.mouse.down()
        for step in range(1, 21):  # a Lumino drag starts after the pointer has moved a bit
            page.mouse.move(source["x"] + (target["x"] + 100 - source["x"]) * step / 20,
                            source["y"] + (target["y"] + 300 - source["y"]) * step / 20)
        page.mouse.up()
        dialog = page.locator(".jp-Dialog")
        expect(dialog.locator(".jp-semcache-form-task")).to_have_value(
            "Print the number of seconds in a day")
        _shot(page, tmp_path / "drop-dialog.png")
        dialog.get_by_role("button", name="Save").click()
        expect(sidebar.locator(".jp-semcache-item").first).to_contain_text("seconds in a day")
    assert lab.cache.lookup("Print the number of seconds in a day").tier == "exact"
