"""Shared fixtures. Fakes live only at the outer boundary (the model server)."""

from __future__ import annotations

import contextlib
import os
import tempfile

# Set before anything imports LanceDB or sentence-transformers.
os.environ.setdefault("LANCEDB_LOG", "error")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# ONNX exports of the embedding model go to one directory per machine, not the user's cache:
# made once (~10 s), then shared by every test session and the processes tests start.
os.environ.setdefault("SEMCACHE_ONNX_DIR", os.path.join(
    tempfile.gettempdir(), f"semcache-tests-onnx-{os.getuid() if hasattr(os, 'getuid') else 0}"))

import pytest

pytest_plugins = [
    "fixtures_model",
    "fixtures_kernel",
    "fixtures_magic",
    "fixtures_s3",
    "pytest_jupyter.jupyter_server",
]


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test may touch the user's real store or real API key."""
    monkeypatch.setenv("SEMCACHE_HOME", str(tmp_path_factory.mktemp("semcache_home")))
    for var in ("SEMCACHE_STORE", "SEMCACHE_NAMESPACE", "SEMCACHE_SEARCH_NAMESPACES",
                "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)


class WordHashEmbedder:
    """A tiny deterministic embedder for fast unit tests: hashed bag of words.

    Integration tests use the real model (the ``real_embedder`` fixture).
    """

    name = "test-word-hash"
    dim = 384
    loaded = True

    def embed(self, texts):
        import hashlib

        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                digest = hashlib.blake2b(word.strip(".,?!'\"").encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self.dim] += 1.0
            norm = float(np.linalg.norm(out[row])) or 1.0
            out[row] /= norm
        return out

    def embed_one(self, text):
        return self.embed([text])[0]


@pytest.fixture
def store_uri(tmp_path):
    return str(tmp_path / "store")


@pytest.fixture
def fast_cache(store_uri):
    """A SnippetCache on a fresh LanceDB directory with the word-hash embedder."""
    from semcache_magic.cache import SnippetCache
    from semcache_magic.config import SemCache

    cache = SnippetCache(SemCache(store=store_uri), embedder=WordHashEmbedder())
    yield cache
    cache.close()


@pytest.fixture(scope="session")
def real_embedder():
    """The real bundled all-MiniLM-L6-v2 (loaded once per test session)."""
    from semcache_magic.cache import get_embedder

    embedder = get_embedder("")
    embedder.embed_one("warm up")
    return embedder


@pytest.fixture
def real_cache(store_uri, real_embedder):
    from semcache_magic.cache import SnippetCache
    from semcache_magic.config import SemCache

    cache = SnippetCache(SemCache(store=store_uri), embedder=real_embedder)
    yield cache
    cache.close()


@pytest.fixture(scope="session")
def devset():
    """The development set: seeds and follow-up queries with expected output."""
    import json
    from pathlib import Path

    path = Path(__file__).parent / "data" / "tasks.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@contextlib.contextmanager
def read_only(path):
    """Make ``path`` unwritable for this process, for real.

    Non-root: drop the write bits. Root ignores those, so bind-mount the
    directory read-only onto itself (root may mount on this kind of machine).
    """
    import stat
    import subprocess

    if os.geteuid() != 0:
        os.chmod(path, stat.S_IRUSR | stat.S_IXUSR)
        try:
            yield
        finally:
            os.chmod(path, stat.S_IRWXU)
        return
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)
