"""Cell source: IPython syntax found by IPython's parser, rewritten line for line."""

from __future__ import annotations

import contextlib
import io

import pytest

from semcache_magic.task import as_python, compiles, plain_python


def run(code: str) -> str:
    """Execute plain Python and return what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<cell>", "exec"), {})
    return out.getvalue()


def test_plain_python_is_left_alone() -> None:
    code = "s = '%matplotlib inline'  # !not a shell\nprint(s)\n"
    assert plain_python(code) == (code, [])


def test_line_magics_become_comments_and_the_code_still_runs() -> None:
    code = "%matplotlib inline\n%load_ext autoreload\nx = 2\nprint(x * 3)"
    plain, dropped = plain_python(code)
    assert dropped == ["%matplotlib inline", "%load_ext autoreload"]
    assert plain.splitlines()[0] == "# IPython only: %matplotlib inline"
    assert len(plain.splitlines()) == 4 and not plain.endswith("\n")
    assert run(plain) == "6\n"


def test_every_line_of_a_continued_shell_command_is_commented_out() -> None:
    code = "!pip install numpy \\\n    pandas \\\n    scipy\nprint('done')\n"
    plain, dropped = plain_python(code)
    assert dropped == ["!pip install numpy \\", "    pandas \\", "    scipy"]
    assert all(line.startswith("#") for line in plain.splitlines()[:3])
    assert run(plain) == "done\n"


def test_magics_inside_blocks_keep_the_block_valid() -> None:
    code = ("for i in range(2):\n    !echo {i} \\\n        more\nif True:\n    %env A=1\n"
            "print('ok')\n")
    plain, dropped = plain_python(code)
    assert len(dropped) == 3
    assert "    pass  # IPython only: !echo {i} \\" in plain
    assert run(plain) == "ok\n"


@pytest.mark.parametrize(("code", "printed"), [
    ("%time total = sum(range(4))\nprint(total)", "6\n"),
    ("%timeit -n 3 -r 1 total = 7\nprint(total)", "7\n"),
    ("%timeit -n3 -r1 -q total = 8\nprint(total)", "8\n"),
    ("%prun -l 4 total = 9\nprint(total)", "9\n"),
    ("if True:\n    %time total = 5\nprint(total)", "5\n"),
    ("%time total = sum([1, \\\n  2])\nprint(total)", "3\n"),
])
def test_timing_magics_keep_their_statement(code: str, printed: str) -> None:
    plain, dropped = plain_python(code)
    assert dropped == []
    assert run(plain) == printed


class Grid:
    fitted = False

    def fit(self) -> None:
        Grid.fitted = True


def test_a_timed_fit_still_fits() -> None:
    plain, _ = plain_python("%time grid.fit()")
    exec(plain, {"grid": Grid()})
    assert Grid.fitted


@pytest.mark.parametrize(("code", "printed"), [
    ("%%time\nx = 4\nprint(x)", "4\n"),
    ("\n%%timeit -n1 -r1 y = 5\nprint(y)", "5\n"),
    ("%%capture --no-stderr\nprint('hidden in IPython')", "hidden in IPython\n"),
])
def test_statement_cell_magics_keep_their_body(code: str, printed: str) -> None:
    plain, dropped = plain_python(code)
    assert len(dropped) == 1 and dropped[0].startswith("%%")
    assert run(plain) == printed


def test_other_cell_magics_are_commented_out_entirely() -> None:
    plain, dropped = plain_python("%%bash\nls -l\necho 'x = 1'")
    assert dropped == ["%%bash", "ls -l", "echo 'x = 1'"]
    assert compiles(plain) and all(line.startswith("#") for line in plain.splitlines())


def test_assignments_from_magics_and_help_are_commented_out() -> None:
    plain, dropped = plain_python("files = !ls\nnames = %who_ls\nlen?\nprint(1)")
    assert dropped == ["files = !ls", "names = %who_ls", "len?"]
    assert run(plain) == "1\n"


def test_prompts_are_stripped() -> None:
    assert run(plain_python(">>> x = 1\n>>> print(x + 1)")[0]) == "2\n"


def test_as_python_is_what_ipython_runs() -> None:
    source = as_python("%matplotlib inline\nfiles = !ls\nx = 1")
    assert source is not None
    assert "get_ipython().run_line_magic('matplotlib', 'inline')" in source
    assert "files = get_ipython().getoutput('ls')" in source
    assert as_python("def broken(:\n    pass") is None
    assert as_python("x = 1") == "x = 1"  # plain Python comes back as it is
