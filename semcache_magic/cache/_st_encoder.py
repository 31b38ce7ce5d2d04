"""The fallback backend: sentence-transformers (and torch) in this process.

Used when onnxruntime is missing, for models the ONNX path does not reproduce, when
``SemCache.embedding_backend`` asks for it, and by the ONNX export itself as ground truth.
It costs ~500 MB of memory and seconds of import, so nothing is imported until
:meth:`SentenceTransformersEncoder.load`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import EmbeddingError

__all__ = ["SENTENCE_TRANSFORMERS", "SentenceTransformersEncoder"]

SENTENCE_TRANSFORMERS = "sentence-transformers"


class SentenceTransformersEncoder:
    """A loaded ``SentenceTransformer``, encoding to unit-length float32 vectors."""

    kind = SENTENCE_TRANSFORMERS

    def __init__(self, model: Any) -> None:
        self.model = model
        getter = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        self.dim = int(getter())

    @classmethod
    def load(cls, path: str, *, device: str = "cpu",
             why_not_onnx: str = "") -> SentenceTransformersEncoder:
        """Load the model at ``path``; ``why_not_onnx`` goes into the error if we cannot."""
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingError(
                "neither onnxruntime nor sentence-transformers can embed here"
                + (f" ({why_not_onnx})" if why_not_onnx else ""),
                hint="pip install onnxruntime (or torch==2.13.0 sentence-transformers)",
            ) from exc
        try:
            with _quiet_loading():
                model = SentenceTransformer(path, device=device)
        except Exception as exc:  # OSError, ValueError, HF errors: all mean "cannot load"
            raise EmbeddingError(
                f"cannot load the embedding model {path!r}: {exc}",
                hint="set SemCache.embedding_model to a local sentence-transformers "
                "model directory (no hub downloads happen here)",
            ) from exc
        return cls(model)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        vectors = self.model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Hide transformers' "Loading weights" bar (it lands in the user's cell output)."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
