"""Export: scripts, a module and a notebook that run in a plain `python` without semcache."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from semcache_magic.cache import SnippetCache
from semcache_magic.cli import main
from semcache_magic.errors import ExportConflictError
from semcache_magic.share import (
    export_snippets,
    render_module,
    render_notebook,
    render_script,
    safe_name,
)
from semcache_magic.snippet import Snippet
from semcache_magic.task import analyse_task

SECRET = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123"

#: (task, code, what a notebook shows when the code runs).
SNIPPETS = [
    ("Reverse the string 'notebook' and print it", "print('notebook'[::-1])", "koobeton\n"),
    ("Print the factorial of 6", "import math\nprint(math.factorial(6))", "720\n"),
    ("Say hello to 'World' 3 times", 'for _ in range(3):\n    print("Hello, World!")',
     "Hello, World!\n" * 3),
    ("Add 5 and 5", "print(5 + 5)", "10\n"),
    ("Compute 21 times 2", "x = 21\nx * 2", "42\n"),  # a notebook displays the last value
    ("Show the first 4 letters of 'alphabet'", "'alphabet'[:4]", "'alph'\n"),
    ("Print a poem mentioning 'rain'",
     'poem = """Grey skies,\n  rain again\n"""\nprint(poem)', "Grey skies,\n  rain again\n\n"),
    ("Count up from 10 with a global counter",
     "count = 10\ndef bump():\n    global count\n    count += 1\nbump()\nprint(count)", "11\n"),
    ("Plot inline, then print 'done'", "%matplotlib inline\nprint('done')", "done\n"),
    ("Round pi to 2 digits", "from math import *\nprint(round(pi, 2))", "3.14\n"),
]


def plain_python(*args: str, cwd: Path | None = None) -> str:
    """Run a plain, isolated python (-I -S: no site-packages, so no semcache)."""
    done = subprocess.run([sys.executable, "-I", "-S", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def saved(fast_cache: SnippetCache) -> list[Snippet]:
    results = [fast_cache.save(task, code, model="claude-test") for task, code, _ in SNIPPETS]
    return [r.snippet for r in results]


def test_each_script_runs_in_plain_python_and_prints_what_the_snippet_printed(
    fast_cache: SnippetCache, saved: list[Snippet], tmp_path: Path
) -> None:
    paths = export_snippets(fast_cache, tmp_path / "out")
    assert len(paths) == len(SNIPPETS)
    by_id = {}
    for path in paths:
        assert path.parent == tmp_path / "out" and path.suffix == ".py"
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc is not None
        by_id[doc.split("id:")[1].split()[0]] = path
    for snippet, (_, _, shown) in zip(saved, SNIPPETS, strict=True):
        assert plain_python(str(by_id[snippet.id])) == shown, snippet.task


def test_script_header_names_task_provenance_libraries_and_inputs(
    fast_cache: SnippetCache,
) -> None:
    parent = fast_cache.save("Sum a list", "print(sum([1, 2]))").snippet
    child = fast_cache.save("Sum the numbers", "import numpy as np\nprint(np.sum(numbers))",
                            source="adapted", parent_id=parent.id, model="claude-sonnet-5-5",
                            input_schema={"numbers": "list"}).snippet
    text = render_script(child)
    doc = ast.get_docstring(ast.parse(text)) or ""
    assert doc.startswith("Sum the numbers\n")
    for expected in (child.id, f"adapted from {parent.id}", "claude-sonnet-5-5", "numpy",
                     "numbers (list)", "created:   20"):
        assert expected in doc
    assert text.rstrip().endswith("print(np.sum(numbers))")


def test_task_text_cannot_break_out_of_the_docstring() -> None:
    nasty = Snippet(id="a" * 16, namespace="user:x", task='Say """hi""" and \\d then "',
                    task_norm="", template="", template_hash="", task_hash="",
                    code="print('ok')\n", code_hash="")
    text = render_script(nasty)
    assert ast.get_docstring(ast.parse(text), clean=False).startswith('Say """hi""" and \\d')
    assert plain_python("-c", text) == "ok\n"


def test_names_are_safe_unique_and_never_escape_the_directory(
    fast_cache: SnippetCache, tmp_path: Path
) -> None:
    tasks = ["../../etc/passwd", "/etc/cron.d/evil", "..", "CON", "class", "~/.bashrc",
             "Ünïcödé ☃ résumé", "C:\\Windows\\system32", "", "../../etc/passwd"]
    for i, task in enumerate(tasks):
        fast_cache.save(task or "☃", f"print({i})")
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "out"
    paths = export_snippets(fast_cache, out)
    assert len(paths) == len(set(paths)) == len(tasks)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "out"])
    for path in paths:
        assert path.parent == out and path.resolve().parent == out.resolve()
        assert path.stem.isidentifier() and path.stem == path.stem.lower()
    assert {"etc_passwd", "etc_cron_d_evil", "con_", "class_", "bashrc", "unicode_resume",
            "c_windows_system32"} <= {p.stem for p in paths}
    assert safe_name("../../etc") == "etc" and safe_name("...") == "snippet"
    assert safe_name("2024 report") == "snippet_2024_report"


def test_existing_files_are_kept_unless_forced(
    fast_cache: SnippetCache, saved: list[Snippet], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = export_snippets(fast_cache, out, ids=[saved[0].id, saved[1].id])
    again = export_snippets(fast_cache, out, ids=[saved[0].id, saved[1].id])
    assert first == again  # identical files: left alone, no error
    first[0].write_text("# my own edits\n")
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    first[1].unlink()
    first[1].symlink_to(outside)
    with pytest.raises(ExportConflictError, match="2 file"):
        export_snippets(fast_cache, out, ids=[saved[0].id, saved[1].id, saved[2].id])
    assert sorted(out.iterdir()) == sorted(first)  # nothing half-written
    export_snippets(fast_cache, out, ids=[saved[0].id, saved[1].id], force=True)
    assert first[0].read_text() == render_script(saved[0])
    assert not first[1].is_symlink() and outside.read_text() == "keep me"


def test_module_has_a_function_per_snippet_with_its_literal_slots(
    fast_cache: SnippetCache, saved: list[Snippet], tmp_path: Path
) -> None:
    (path,) = export_snippets(fast_cache, tmp_path, fmt="module")
    assert path == tmp_path / "snippets.py"
    assert plain_python(str(path)) == "".join(shown for _, _, shown in SNIPPETS)
    functions = {node.name: node for node in ast.parse(path.read_text()).body
                 if isinstance(node, ast.FunctionDef)}
    params = {name: [(a.arg, ast.literal_eval(d)) for a, d in
                     zip(f.args.args, f.args.defaults, strict=True)]
              for name, f in functions.items()}
    assert params["reverse_the_string_notebook_and_print_it"] == [("text", "notebook")]
    assert params["say_hello_to_world_3_times"] == [("text", "World"), ("number", 3)]
    assert params["add_5_and_5"] == []  # 5 occurs twice: ambiguous, stays a constant
    assert params["count_up_from_10_with_a_global_counter"] == []  # `global`: runs via exec
    calls = ("import snippets as s; s.reverse_the_string_notebook_and_print_it('lancedb'); "
             "s.say_hello_to_world_3_times('Ada', 2); print(s.compute_21_times_2(5, 3)); "
             "print(s.show_the_first_4_letters_of_alphabet(2, 'semcache'))")
    out = plain_python("-c", f"import sys; sys.path.insert(0, '.'); {calls}", cwd=tmp_path)
    assert out == "bdecnal\nHello, Ada!\nHello, Ada!\n15\nse\n"
    assert plain_python(str(path), "print_the_factorial_of_6") == "720\n"


def test_module_parameters_agree_with_the_slot_tier(
    fast_cache: SnippetCache, tmp_path: Path
) -> None:
    code = ('# parameters\nname = "Ada"\ntimes = 3\n'
            'for i in range(times):\n    print(f"{i}:", name.upper())')
    snippet = fast_cache.save("Shout the name 'Ada' 3 times", code).snippet
    (tmp_path / "mod.py").write_text(render_module([snippet]))
    match = fast_cache.lookup("Shout the name 'Grace' 2 times")
    assert match.tier == "slot" and match.code is not None
    via_module = plain_python("-c", "import sys; sys.path.insert(0, '.'); import mod; "
                              "mod.shout_the_name_ada_3_times('Grace', 2)", cwd=tmp_path)
    assert via_module == plain_python("-c", match.code) == "0: GRACE\n1: GRACE\n"


def test_functions_that_need_inputs_are_skipped_by_main(
    fast_cache: SnippetCache, tmp_path: Path
) -> None:
    fast_cache.save("Print 7", "print(7)")
    fast_cache.save("Double the numbers", "print([n * 2 for n in numbers])",
                    input_schema={"numbers": "list"})
    (path,) = export_snippets(fast_cache, tmp_path / "m.py", fmt="module")
    assert plain_python(str(path)) == "7\n"
    out = plain_python("-c", "import sys; sys.path.insert(0, '.'); import m; "
                       "m.double_the_numbers([1, 2])", cwd=tmp_path)
    assert out == "[2, 4]\n"
    done = subprocess.run([sys.executable, "-I", "-S", str(path), "double_the_numbers"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "needs inputs" in done.stderr


def test_notebook_export_validates_with_nbformat(
    fast_cache: SnippetCache, saved: list[Snippet], tmp_path: Path
) -> None:
    import nbformat

    (path,) = export_snippets(fast_cache, tmp_path / "all.ipynb", fmt="notebook")
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert [c.cell_type for c in notebook.cells] == ["markdown", "code"] * len(SNIPPETS)
    by_id = {c.metadata["semcache"]["id"]: c for c in notebook.cells if c.cell_type == "code"}
    for snippet in saved:
        assert by_id[snippet.id].source == snippet.code.strip("\n")
    assert {c.source for c in notebook.cells if c.cell_type == "markdown"} == {
        t for t, _, _ in SNIPPETS}
    assert path.read_bytes() == nbformat.writes(render_notebook(
        [fast_cache.get(c.metadata["semcache"]["id"]) for c in notebook.cells[1::2]])
    ).encode() + b"\n"  # stable cell ids: the same snippets give the same file


def test_secrets_stay_redacted_in_every_format() -> None:
    leaky = Snippet(id="b" * 16, namespace="team", task=f"Call the API with token {SECRET}",
                    task_norm="", template="", template_hash="", task_hash="",
                    code=f'api_key = "{SECRET}"\nprint("called")\n', code_hash="")
    import nbformat

    rendered = [render_script(leaky), render_module([leaky]),
                nbformat.writes(render_notebook([leaky]))]
    for text in rendered:
        assert SECRET not in text and "<redacted>" in text
    assert plain_python("-c", rendered[0]) == "called\n"


def test_cli_export(fast_cache: SnippetCache, saved: list[Snippet], store_uri: str,
                   tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fast_cache.close()
    code = main(["--store", store_uri, "export", "--to", str(tmp_path / "s"),
                 "--id", saved[0].id[:6], "--id", saved[1].id, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and len(out["files"]) == 2
    assert all(Path(f).exists() for f in out["files"])
    assert main(["--store", store_uri, "export", "--to", str(tmp_path / "m.py"),
                 "--format", "module"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "m.py")
    assert main(["--store", store_uri, "export", "--to", str(tmp_path / "s"),
                 "--format", "notebook", "--namespace", "team"]) == 1
    assert "no snippets matched" in capsys.readouterr().err
    (tmp_path / "s" / os.listdir(tmp_path / "s")[0]).write_text("changed")
    assert main(["--store", store_uri, "export", "--to", str(tmp_path / "s"),
                 "--id", saved[0].id, "--id", saved[1].id]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["--store", store_uri, "export", "--to", str(tmp_path / "x.ipynb")]) == 1
    assert "names a file" in capsys.readouterr().err


@pytest.mark.slow
def test_export_by_query_picks_by_meaning(real_cache: SnippetCache, tmp_path: Path) -> None:
    real_cache.save("Reverse the string 'notebook' and print it", "print('notebook'[::-1])")
    real_cache.save("Print the factorial of 6", "import math\nprint(math.factorial(6))")
    real_cache.save("Draw a histogram of the ages", "print('histogram')")
    (path,) = export_snippets(real_cache, tmp_path, query="flip a word backwards", limit=1)
    assert path.name == "reverse_the_string_notebook_and_print_it.py"
    assert analyse_task("Reverse the string 'notebook' and print it").literals
    assert plain_python(str(path)) == "koobeton\n"


def test_display_calls_work_in_plain_python(fast_cache, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from semcache_magic.share import export_snippets

    fast_cache.save("Show a total", "total = 2 + 3\ndisplay(total)\n")
    (path,) = export_snippets(fast_cache, tmp_path / "out")
    done = subprocess.run([sys.executable, "-S", str(path)], capture_output=True, text=True,
                          timeout=60)  # -S: no site-packages, so no IPython
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "5"


def test_a_trailing_call_made_for_its_effect_stays_a_statement() -> None:
    from semcache_magic.share._codegen import display_last

    code = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\n"
    assert display_last(code) == code
    assert display_last("df.to_csv('out.csv')") == "df.to_csv('out.csv')"
    assert "_result = (df.to_csv())" in display_last("df.to_csv()")  # returns the text
    assert "_result = (total)" in display_last("total = 1 + 2\ntotal")
