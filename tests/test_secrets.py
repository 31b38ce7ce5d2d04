"""Secrets are never stored and never sent: the whole corpus (tests/data/secrets_corpus.jsonl)
goes in through every face that saves -- ``semcache add``, ``%%cached_task``, ``semcache
import`` of a notebook, and a failing run whose error holds one -- then every byte of every
file under the store directory, and every request the model server received, is searched.

A control marker saved beside the secrets must be found by the same search: the store's
files hold text in the clear, so a secret that slipped through would be found too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from fixtures_magic import cache_of, magic
from nbformat import v4
from test_redact import SECRETS as CORPUS
from test_redact import parses, secrets_of

from semcache_magic.cli import main
from semcache_magic.demo import ModelServer
from semcache_magic.errors import CodeError

pytestmark = pytest.mark.slow

MARKER = "ZQXJ7781 control marker"


def pieces(item: dict[str, Any]) -> list[str]:
    """What must not appear: each secret, line by line (a multi-line key may be re-indented)."""
    out = []
    for secret in secrets_of(item):
        lines = [line.strip() for line in secret.splitlines() if len(line.strip()) >= 6]
        out += lines or [secret]
    return out


SECRETS = sorted({piece for item in CORPUS for piece in pieces(item)})


def leaks(store: Path) -> list[tuple[str, str]]:
    """(secret, file) for every secret found in any byte of any file under ``store``."""
    files = {path: path.read_bytes() for path in store.rglob("*") if path.is_file()}
    assert files and any(MARKER.encode() in blob for blob in files.values()), \
        "the control marker is not in the store's files: the search cannot see stored text"
    return [(secret, str(path.relative_to(store))) for secret in SECRETS
            for path, blob in files.items() if secret.encode() in blob]


def sent(server: ModelServer) -> list[str]:
    """Every secret found in any request the model server received."""
    texts = [r.text + json.dumps(r.body, ensure_ascii=False) for r in server.requests]
    assert texts, "the model server received no request"
    return [secret for secret in SECRETS if any(secret in text for text in texts)]


def fenced(code: str) -> str:
    return f"```python\n{code}```\n"


def test_the_corpus_covers_every_place() -> None:
    assert len(CORPUS) >= 40
    assert {item["where"] for item in CORPUS} == {"code", "task", "error", "notebook"}


def test_semcache_add_stores_no_secret(tmp_path: Path, real_embedder: Any) -> None:
    store = tmp_path / "store"
    rows = []
    for item in CORPUS:
        if item["where"] in ("task", "error"):
            rows.append({"task": item["text"], "code": f"print({item['id']!r})"})
        else:
            rows.append({"task": f"Run corpus item {item['id']}", "code": item["text"]})
    rows.append({"task": f"Print the {MARKER}", "code": f"print({MARKER!r})"})
    batch = tmp_path / "corpus.jsonl"
    batch.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert main(["--store", str(store), "add", "--jsonl", str(batch)]) == 0
    # One at a time too: the single add is its own path through the CLI.
    for item in CORPUS[:12]:
        assert main(["--store", str(store), "add", "--task", f"Once more {item['text']}",
                     "--code", item["text"]]) == 0
    assert main(["--store", str(store), "list", "--limit", "1000", "--json"]) == 0
    assert leaks(store) == []


def test_the_magic_stores_and_sends_no_secret(ip: Any, model_env: ModelServer) -> None:
    """Tasks with secrets in their prose, code with secrets as the model's answer (wrapped in
    a function that is defined, not called: the corpus holds shell commands that write files),
    and a run that fails with a secret in its error."""
    store = Path(cache_of(ip).config.store)
    model_env.script(fenced(f"print({MARKER!r})\n"))
    magic(ip, "--refresh", f"Print the {MARKER}")
    for item in CORPUS:
        if item["where"] == "task":
            model_env.script(fenced(f"print({item['id']!r})\n"))
            magic(ip, "--refresh --max-repairs 0", item["text"])
        elif item["where"] == "code" and parses(item["text"]):
            body = "".join(f"    {line}\n" for line in item["text"].splitlines())
            model_env.script(fenced(f"def corpus_item():\n{body}\nprint('defined')\n"))
            magic(ip, "--refresh --max-repairs 0",
                  f"Define the function of corpus item {item['id']}")
    # A run that fails with secrets in its traceback: the repair request carries it, and
    # the failure lands in the run log.
    errors = [item for item in CORPUS if item["where"] == "error"]
    failing = "".join(f"message_{i} = {item['text']!r}\n" for i, item in enumerate(errors))
    failing += "raise RuntimeError('\\n'.join([" + ", ".join(
        f"message_{i}" for i in range(len(errors))) + "]))\n"
    model_env.script(fenced(failing), fenced(failing))
    with pytest.raises(CodeError):
        magic(ip, "--refresh --max-repairs 1", "Connect to the services of the error corpus")
    assert any("<error>" in r.user_text for r in model_env.requests)  # a repair was asked
    runs = cache_of(ip).run_stats()
    assert runs["runs"] >= len(CORPUS) // 2
    assert leaks(store) == []
    assert sent(model_env) == []


def test_import_of_a_notebook_stores_no_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], real_embedder: Any
) -> None:
    # The control cell computes something: the importer skips cells that only display.
    cells = [v4.new_markdown_cell(f"Shout the {MARKER}"),
             v4.new_code_cell(f"shout = {MARKER!r}.upper() + '!'\nprint(shout)")]
    for item in CORPUS:
        text = item["text"]
        if item["where"] == "code" or text.lstrip().startswith(("!", "%")) or parses(text):
            cells += [v4.new_markdown_cell(f"Corpus item {item['id']}"), v4.new_code_cell(text)]
        else:  # prose: the task of the cell below it
            cells += [v4.new_markdown_cell(text), v4.new_code_cell(f"print({item['id']!r})")]
    notebook = v4.new_notebook(cells=cells)
    path = tmp_path / "secrets.ipynb"
    nbformat.write(notebook, str(path))
    store = tmp_path / "store"
    assert main(["--store", str(store), "import", str(path)]) == 0
    assert "redacted" in capsys.readouterr().out  # it says what it removed
    assert leaks(store) == []
