"""What a sentence-transformers model computes, reproduced without torch.

A sentence-transformers model is a small pipeline described by files in its
directory: ``modules.json`` lists the modules (Transformer, Pooling, Normalize),
``sentence_bert_config.json`` holds the truncation length and ``1_Pooling/
config.json`` the pooling mode. :func:`read_pipeline` reads those files; the
Transformer itself becomes an ONNX graph (see :mod:`._onnx_export`) run by
:class:`OnnxEncoder` with onnxruntime and the ``tokenizers`` library, and the
pooling is done here in numpy.

Only pipelines we reproduce exactly are accepted: anything else raises
:class:`UnsupportedModelError` and the embedder uses sentence-transformers.
Nothing heavy is imported at module level.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "TOKENIZER_FILE",
    "WEIGHTS_FILE",
    "OnnxEncoder",
    "Pipeline",
    "UnsupportedModelError",
    "default_threads",
    "read_manifest",
    "read_pipeline",
]

#: Bump when the export layout, the wrapper or the opset changes: old exports are then ignored
#: (the version is part of the cache key) instead of being loaded with wrong assumptions.
FORMAT_VERSION = 2
MODEL_FILE = "model.onnx"
#: The weights, beside the graph ("external data"): onnxruntime maps this file into memory
#: instead of copying it out of a parsed protobuf, which kept ~70 MB more of the user's
#: process resident (the parse's peak stays with malloc).
WEIGHTS_FILE = "model.onnx.data"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"

# Pooling config keys of sentence-transformers < 6 and the mode each one names.
_LEGACY_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
_SUPPORTED_POOLING = frozenset({"cls", "mean", "max", "mean_sqrt_len_tokens"})
#: Most tokens (batch x width) run at once. Attention memory grows with batch x width^2: 64
#: texts of 256 tokens left the process ~1 GB larger (malloc keeps the pages); 16 of them
#: cost far less and run about as fast per token. Short queries still go 64 at a time.
TOKEN_BUDGET = 4096


class UnsupportedModelError(ValueError):
    """The model's pipeline has a part the ONNX path does not reproduce exactly."""


@dataclass(frozen=True)
class Pipeline:
    """The parts of a sentence-transformers pipeline the ONNX path needs."""

    transformer_dir: str  # relative to the model directory; "" is the directory itself
    max_seq_length: int  # tokens, special tokens included
    pooling: str  # "mean" | "cls" | "max" | "mean_sqrt_len_tokens"
    dim: int


def _read_json(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise UnsupportedModelError(f"{path.name} is not a JSON object")
    return data


def _pooling_mode(config: dict[str, Any]) -> str:
    if "pooling_mode" in config:  # sentence-transformers >= 6 writes one key
        raw = config["pooling_mode"]
        modes = [raw] if isinstance(raw, str) else list(raw)
    else:
        modes = [mode for key, mode in _LEGACY_POOLING_KEYS.items() if config.get(key)]
    if len(modes) != 1 or modes[0] not in _SUPPORTED_POOLING:
        raise UnsupportedModelError(f"pooling {modes or 'none'} is not supported")
    return str(modes[0])


def read_pipeline(model_dir: Path) -> Pipeline:
    """Read the module list, truncation length and pooling of a local model directory."""
    st_config_path = model_dir / "config_sentence_transformers.json"
    if st_config_path.is_file():
        st_config = _read_json(st_config_path)
        # A default prompt is prepended to every text by sentence-transformers; we would have to
        # copy its exact prompt logic, so such models stay on sentence-transformers.
        if st_config.get("default_prompt_name"):
            raise UnsupportedModelError("models with a default prompt are not supported")
    modules_path = model_dir / "modules.json"
    if modules_path.is_file():
        with modules_path.open(encoding="utf-8") as fh:
            modules = json.load(fh)
        kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
        if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            raise UnsupportedModelError(f"module list {kinds} is not supported")
        transformer_dir = str(modules[0].get("path", ""))
        pooling_config = _read_json(model_dir / str(modules[1]["path"]) / "config.json")
    else:
        # A plain Hugging Face model: sentence-transformers adds mean pooling itself.
        transformer_dir, pooling_config = "", {"pooling_mode": "mean"}
    base = model_dir / transformer_dir
    hf_config = _read_json(base / "config.json")
    sbert_path = base / "sentence_bert_config.json"
    sbert = _read_json(sbert_path) if sbert_path.is_file() else {}
    if sbert.get("do_lower_case"):
        raise UnsupportedModelError("do_lower_case models are not supported")
    max_len = sbert.get("max_seq_length")
    if max_len is None:
        # What sentence-transformers falls back to: the tokenizer's limit, capped by the
        # position table.
        tok_path = base / "tokenizer_config.json"
        tok_max = _read_json(tok_path).get("model_max_length", 512) if tok_path.is_file() else 512
        max_len = min(int(tok_max), int(hf_config.get("max_position_embeddings", 512)))
    dim = pooling_config.get("word_embedding_dimension") or pooling_config.get(
        "embedding_dimension"
    ) or hf_config.get("hidden_size")
    if not dim:
        raise UnsupportedModelError("cannot tell the embedding dimension")
    return Pipeline(transformer_dir, int(max_len), _pooling_mode(pooling_config), int(dim))


def read_manifest(export_dir: Path) -> dict[str, Any] | None:
    """The manifest of a complete export of the current format, else None."""
    try:
        manifest = _read_json(export_dir / MANIFEST_FILE)
        if manifest.get("format") != FORMAT_VERSION:
            return None
        # Sizes guard against a file truncated by a copy or a full disk.
        for name, size in manifest["files"].items():
            if (export_dir / name).stat().st_size != size:
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return manifest


def default_threads() -> int:
    """Intra-op threads: half the cores, at most 4.

    On the 2-core machines we target this is 1: the notebook kernel and its isolated kernels
    share the cores, a short query is no faster with 2 threads, and idle ORT threads spin.
    """
    return max(1, min(4, (os.cpu_count() or 1) // 2))


def _pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """Pool token vectors (batch, seq, dim) into sentence vectors as sentence-transformers does."""
    if mode == "cls":
        return hidden[:, 0]
    weights = mask[:, :, None].astype(hidden.dtype)
    if mode == "max":
        return np.where(weights > 0, hidden, np.float32(-1e9)).max(axis=1)
    summed = (hidden * weights).sum(axis=1)
    counts = weights.sum(axis=1)
    if mode == "mean":
        return summed / np.maximum(counts, np.float32(1e-9))
    return summed / np.sqrt(counts)  # mean_sqrt_len_tokens


class OnnxEncoder:
    """An exported model in memory: tokenizer, onnxruntime session and pooling.

    ``session.run`` is safe to call from several threads at once, and the tokenizer is
    configured once here and then only read, so one encoder serves all threads.
    """

    kind = "onnx"

    def __init__(
        self, export_dir: Path, *, threads: int | None = None, token_budget: int = TOKEN_BUDGET
    ) -> None:
        manifest = read_manifest(export_dir)
        if manifest is None:
            raise UnsupportedModelError(f"{export_dir} holds no complete export")
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.dim = int(manifest["dim"])
        self.pooling = str(manifest["pooling"])
        self.input_names = [str(n) for n in manifest["input_names"]]
        self.pad_id = int(manifest["pad_id"])
        self.tokenizer = Tokenizer.from_file(str(export_dir / TOKENIZER_FILE))
        self.tokenizer.enable_truncation(int(manifest["max_seq_length"]))
        self.tokenizer.no_padding()  # we pad per batch, after grouping texts by token count
        self.token_budget = token_budget
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        # Spinning workers keep a core busy after every call, which the user's kernel feels on
        # a 2-core machine; the cost is well under a millisecond per call.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # The arena keeps its peak size (hundreds of MB after a batch of long texts) for the
        # life of the process; without it memory goes back after each batch.
        options.enable_cpu_mem_arena = False
        options.log_severity_level = 3  # errors only: warnings would land in notebook output
        self.session: Any = ort.InferenceSession(
            str(export_dir / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text, in the order given."""
        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = [len(e.ids) for e in encodings]
        # Shortest first, so each batch holds texts of similar length (little padding) and the
        # last member of a batch sets its width.
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        start = 0
        while start < len(order):
            stop = start + 1
            while (
                stop < len(order)
                and stop - start < batch_size
                and (stop - start + 1) * lengths[order[stop]] <= self.token_budget
            ):
                stop += 1
            chunk = order[start:stop]
            out[chunk] = self._encode_batch([encodings[i] for i in chunk])
            start = stop
        return out

    def _encode_batch(self, encodings: list[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            mask[row, :n] = 1
            types[row, :n] = encoding.type_ids
        columns = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        feeds = {name: columns[name] for name in self.input_names}
        hidden = self.session.run(None, feeds)[0]
        pooled = _pool(hidden, mask, self.pooling).astype(np.float32, copy=False)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, np.float32(1e-12))
