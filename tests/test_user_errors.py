"""Every bad number and bad path a user can type: one line on stderr, a non-zero exit,
and nothing changed (the store's files are byte for byte the same, nothing is written)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import WordHashEmbedder, read_only

from semcache_magic.cache import SnippetCache
from semcache_magic.cli import main
from semcache_magic.config import SemCache
from semcache_magic.errors import ConfigurationError


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def store(store_uri: str) -> Iterator[Path]:
    cache = SnippetCache(SemCache(store=store_uri), embedder=WordHashEmbedder())
    cache.save("Print the factorial of 6", "import math\nprint(math.factorial(6))\n")
    cache.close()
    yield Path(store_uri)


def refused(argv: list[str], capsys: pytest.CaptureFixture[str], *words: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


BAD_NUMBERS = [
    (["exec", "{file}", "--timeout", "nan"], "--timeout"),
    (["exec", "{file}", "--timeout", "0"], "--timeout"),
    (["exec", "{file}", "--timeout", "inf"], "--timeout"),
    (["run", "Print 1", "--timeout", "nan"], "--timeout"),
    (["run", "Print 1", "--timeout", "-2"], "--timeout"),
    (["run", "Print 1", "--threshold", "nan"], "--threshold"),
    (["run", "Print 1", "--max-repairs", "-1"], "--max-repairs"),
    (["lookup", "Print 1", "--threshold", "nan"], "--threshold"),
    (["lookup", "Print 1", "--threshold", "inf"], "--threshold"),
    (["lookup", "Print 1", "--threshold", "-5"], "--threshold"),
    (["lookup", "Print 1", "--top-k", "-3"], "--top-k"),
    (["list", "--limit", "999999999999"], "--limit"),
    (["list", "--offset", "-1"], "--offset"),
    (["search", "factorial", "--limit", "999999999999"], "--limit"),
    (["search", "factorial", "--limit", "0"], "--limit"),
    (["export", "--to", "{out}", "--limit", "999999999999"], "--limit"),
    (["export", "--to", "{out}", "--limit", "-1"], "--limit"),
]


@pytest.mark.parametrize(("argv", "option"), BAD_NUMBERS,
                         ids=[" ".join(a) for a, _ in BAD_NUMBERS])
def test_bad_numbers(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                     argv: list[str], option: str) -> None:
    script = tmp_path / "hello.py"
    script.write_text("print('ran')\n")
    out = tmp_path / "out"
    before = snapshot(store)
    argv = [a.format(file=script, out=out) for a in argv]
    refused(["--store", str(store), *argv], capsys, option)
    assert snapshot(store) == before and not out.exists()


@pytest.mark.parametrize(("variable", "value"), [
    ("SEMCACHE_RUN_TIMEOUT", "nan"), ("SEMCACHE_RUN_TIMEOUT", "0"),
    ("SEMCACHE_THRESHOLD", "inf"), ("SEMCACHE_TOP_K", "-3"), ("SEMCACHE_STORE_TIMEOUT", "nan"),
    ("SEMCACHE_MODEL_TIMEOUT", "1e400"), ("SEMCACHE_POOL_SIZE", "99999999"),
])
def test_bad_numbers_in_the_environment(
    store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    variable: str, value: str,
) -> None:
    monkeypatch.setenv(variable, value)
    before = snapshot(store)
    refused(["--store", str(store), "list"], capsys, variable)
    assert snapshot(store) == before


@pytest.mark.parametrize(("setting", "value"), [
    ("run_timeout", float("nan")), ("run_timeout", float("inf")), ("run_timeout", 0.0),
    ("model_timeout", -1.0), ("kernel_start_timeout", float("nan")),
    ("kernel_idle_timeout", -1.0), ("store_timeout", float("inf")),
    ("threshold", float("nan")), ("threshold", 1.5), ("text_weight", -0.1),
    ("quality_weight", float("inf")), ("top_k", 0), ("max_tokens", 0),
    ("max_task_chars", 10**12), ("output_limit", 0), ("max_answer_chars", -1),
    ("max_repairs", 99), ("pool_size", -1),
])
def test_bad_numbers_in_settings(setting: str, value: float) -> None:
    with pytest.raises(ConfigurationError, match=f"SemCache.{setting}"):
        SemCache(**{setting: value})


def test_zero_means_never_where_documented() -> None:
    assert SemCache(kernel_idle_timeout=0).kernel_idle_timeout == 0
    assert SemCache(run_memory_limit=0).run_memory_limit == 0


def test_export_to_a_path_that_cannot_be_made(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refused(["--store", str(store), "export", "--to", "/proc/no/such/dir"], capsys,
            "cannot create the export directory")
    refused(["--store", str(store), "export", "--to", "/proc/no/such.ipynb", "--format",
             "notebook"], capsys, "cannot")
    refused(["--store", str(store), "export", "--to", ""], capsys, "empty")


def test_export_to_a_read_only_directory(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "locked"
    target.mkdir()
    with read_only(target):
        refused(["--store", str(store), "export", "--to", str(target)], capsys,
                "cannot write")
        refused(["--store", str(store), "export", "--to", str(target / "sub")], capsys,
                "cannot create the export directory")
    assert list(target.iterdir()) == []


def test_an_empty_store_or_namespace_is_refused(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "default-home"
    monkeypatch.setenv("SEMCACHE_HOME", str(home))
    refused(["--store", "", "list"], capsys, "--store")
    refused(["list", "--store", " "], capsys, "--store")
    refused(["--namespace", "", "list"], capsys, "--namespace")
    assert not home.exists()  # the default store was not used instead


def test_a_missing_exec_file_is_one_line(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    refused(["exec", str(tmp_path / "missing.py")], capsys, "cannot read")
