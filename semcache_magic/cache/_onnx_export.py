"""Child process that exports a sentence-transformers model to ONNX, once per model.

Started by :func:`._onnx_cache.run_export` as ``python -m <package>._onnx_export
--model DIR --target DIR`` so that torch never loads into the user's process.
It prints one JSON line on stdout: ``{"ok": true, ...}`` or ``{"ok": false,
"error": "..."}``; everything else (torch's warnings, progress bars) goes to stderr.

Steps: load the model with sentence-transformers, trace its Transformer module to
ONNX (opset 17, TorchScript exporter, dynamic batch and sequence axes), save the
fast tokenizer as ``tokenizer.json`` and a ``manifest.json``, then check the ONNX
vectors against sentence-transformers' own on probe texts: an export that does not
reproduce the model (cosine < 0.9999) is discarded, and the embedder falls back.
All of it is written to a temporary directory renamed into place at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._onnx_cache import TMP_PREFIX
from ._onnx_model import (
    FORMAT_VERSION,
    MANIFEST_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    OnnxEncoder,
    UnsupportedModelError,
    read_manifest,
    read_pipeline,
)

OPSET = 17
MIN_COSINE = 0.9999
_INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")

# Texts that exercise what could go wrong: empty input, padding inside a batch, truncation at
# max_seq_length, casing and accents (normaliser), code punctuation.
_PROBES = [
    "",
    "Print the factorial of 6",
    "  SUBTRACT 17 FROM 250\tand print the difference?  ",
    "Créez un DataFrame pandas à partir d'un dictionnaire et affichez-le — vite!",
    "df.groupby('city')['sales'].sum().sort_values(ascending=False).head(10)",
    "Load data.csv, drop rows with missing values, and plot a histogram of 'age' " * 3,
    "word " * 600,
]


def _export_graph(hf_model: Any, names: list[str], sample: dict[str, Any], path: Path) -> None:
    import torch

    class TransformerOnly(torch.nn.Module):
        """Positional inputs in, ``last_hidden_state`` out.

        Hugging Face models take many keyword arguments; tracing the model itself fails
        ("multiple values for argument 'use_cache'"), so the graph gets only these inputs.
        """

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: Any) -> Any:
            return self.inner(**dict(zip(names, inputs, strict=True))).last_hidden_state

    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    with torch.no_grad():
        torch.onnx.export(
            TransformerOnly(hf_model).eval(),
            tuple(sample[name] for name in names),
            str(path),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,  # the dynamo exporter needs onnxscript and rejects this wrapper
        )


def _move_weights_out(path: Path) -> None:
    """Rewrite the graph with its weights in :data:`WEIGHTS_FILE` beside it."""
    import onnx

    graph = onnx.load(str(path))
    onnx.save_model(graph, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=WEIGHTS_FILE, size_threshold=1024)


def export(model_dir: Path, out: Path) -> dict[str, Any]:
    """Write the export of ``model_dir`` into the empty directory ``out``; return the manifest."""
    started = time.perf_counter()
    pipeline = read_pipeline(model_dir)
    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    # Any: torch's Module.__getattr__ types every attribute as Tensor | Module.
    model: Any = SentenceTransformer(str(model_dir), device="cpu")
    model.eval()
    if int(model.max_seq_length) != pipeline.max_seq_length:
        raise UnsupportedModelError(
            f"max_seq_length {model.max_seq_length} != {pipeline.max_seq_length} read from files"
        )
    transformer: Any = model[0]
    tokenizer = transformer.tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise UnsupportedModelError("the model has no fast (tokenizers) tokenizer")
    names = [n for n in _INPUT_NAMES if n in tokenizer.model_input_names]
    # Trace with padding in the batch: given an all-ones mask, transformers may leave the
    # attention mask out of the traced graph, and padded batches would then be wrong.
    sample = tokenizer(
        ["a short text", "a longer text, so that the first one of the two is padded"],
        padding=True, return_tensors="pt",
    )
    graph_started = time.perf_counter()
    _export_graph(transformer.auto_model, names, sample, out / MODEL_FILE)
    _move_weights_out(out / MODEL_FILE)
    graph_seconds = time.perf_counter() - graph_started

    # Our own copy without the file's fixed padding/truncation (128 for MiniLM): the encoder
    # sets max_seq_length truncation and per-batch padding itself.
    tok = Tokenizer.from_str(backend.to_str())
    tok.no_truncation()
    tok.no_padding()
    tok.save(str(out / TOKENIZER_FILE))

    manifest: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "source": str(model_dir),
        "max_seq_length": pipeline.max_seq_length,
        "pooling": pipeline.pooling,
        "dim": pipeline.dim,
        "input_names": names,
        "pad_id": int(tokenizer.pad_token_id or 0),
        "pad_token": str(tokenizer.pad_token or "[PAD]"),
        "opset": OPSET,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
        },
        "files": {name: (out / name).stat().st_size
                  for name in (MODEL_FILE, WEIGHTS_FILE, TOKENIZER_FILE)},
    }
    _write_manifest(out, manifest)

    expected = model.encode(
        _PROBES, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    encoder = OnnxEncoder(out)
    batch = encoder.encode(_PROBES)
    single = np.vstack([encoder.encode([text]) for text in _PROBES])
    cosine = float(min((batch * expected).sum(axis=1).min(), (single * expected).sum(axis=1).min()))
    if not cosine >= MIN_COSINE:  # also catches NaN
        raise UnsupportedModelError(
            f"ONNX vectors differ from sentence-transformers' (min cosine {cosine:.6f})"
        )
    manifest.update(
        min_cosine=round(cosine, 7),
        graph_seconds=round(graph_seconds, 2),
        export_seconds=round(time.perf_counter() - started, 2),
    )
    _write_manifest(out, manifest)
    return manifest


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def publish(tmp: Path, target: Path) -> None:
    """Move the finished export into place; if another process got there first, keep theirs."""
    os.chmod(tmp, 0o755)  # mkdtemp makes 0700; a shared cache dir should stay readable
    for path in tmp.iterdir():
        os.chmod(path, 0o644)  # onnx writes the weights file 0600
    try:
        os.rename(tmp, target)  # atomic; fails if target exists and is not empty
        return
    except OSError:
        if read_manifest(target) is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            return
    # The target exists but is incomplete (e.g. copied by hand): swap it out, then drop it.
    aside = target.with_name(f"{TMP_PREFIX}broken-{target.name}-{os.getpid()}")
    os.rename(target, aside)
    os.rename(tmp, target)
    shutil.rmtree(aside, ignore_errors=True)


def _report(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """Export ``--model`` to ``--target``; exit status 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="local sentence-transformers model dir")
    parser.add_argument("--target", required=True, help="export directory to create")
    args = parser.parse_args(argv)
    target = Path(args.target)
    try:
        # Before importing torch: an unusable cache directory should fail in milliseconds.
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{target.name}-", dir=target.parent))
    except OSError as exc:
        _report({"ok": False, "error": f"cannot write the ONNX cache {target.parent}: {exc}"})
        return 1
    try:
        manifest = export(Path(args.model), tmp)
        publish(tmp, target)
    except Exception as exc:  # anything at all means "no export"; the parent falls back
        shutil.rmtree(tmp, ignore_errors=True)
        first_line = (str(exc).strip().splitlines() or [""])[0]
        _report({"ok": False, "error": f"{type(exc).__name__}: {first_line}"})
        return 1
    _report({"ok": True, **{k: manifest[k] for k in ("export_seconds", "graph_seconds")},
             "min_cosine": manifest["min_cosine"]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
