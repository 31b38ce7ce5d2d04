"""A LanceDB database: connection, tables, locking and errors.

This is the only module that imports lancedb; :mod:`semcache_magic.store` builds
the snippet and run tables on top of it. Every LanceDB, Arrow and OS error is
translated here into the :class:`~semcache_magic.errors.StoreError` tree, with
LanceDB's Rust source locations stripped from the message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from ..errors import (
    ConfigurationError,
    SnippetNotFoundError,
    StoreError,
    StoreUnavailableError,
    StoreVanishedError,
)

__all__ = ["Database", "check_id", "in_list", "is_local_uri", "quote", "reopening"]

_REMOTE_SCHEMES = ("s3", "s3+ddb", "gs", "az", "abfs", "db", "memory", "file")
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")



def is_local_uri(uri: str) -> bool:
    """True for a plain directory (or file://) store, where a file lock works."""
    return "://" not in uri or uri.startswith("file://")


def check_uri(uri: str) -> str:
    if not uri or not uri.strip():
        raise ConfigurationError("the store URI is empty", hint="pass --store DIR or unset it")
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", uri)
    if match and match.group(1).lower() not in _REMOTE_SCHEMES:
        raise ConfigurationError(
            f"unsupported store URI scheme {match.group(1)!r} in {uri!r}",
            hint="use a directory or an s3://, gs://, az:// or db:// URI",
        )
    return uri


def quote(value: str) -> str:
    """A SQL string literal for LanceDB filters (values are validated first)."""
    return "'" + value.replace("'", "''") + "'"


def in_list(values: Sequence[str]) -> str:
    return "(" + ", ".join(quote(v) for v in values) + ")"


def check_id(snippet_id: str) -> str:
    """Reject ids that are not ours before they reach a query (or a file name)."""
    if not isinstance(snippet_id, str) or not _ID_RE.match(snippet_id):
        raise SnippetNotFoundError(f"invalid snippet id {str(snippet_id)[:80]!r}")
    return snippet_id


_RUST_LOCATION = re.compile(r",?\s*/\S+\.rs:\d+:\d+")
_LANCE_PREFIX = re.compile(r"^(?:lance error:\s*)?(?:LanceError\(\w+\):\s*)?", re.IGNORECASE)

_T = TypeVar("_T")


def _lance_message(exc: BaseException) -> str:
    """The first line of an error, without LanceDB's Rust source locations."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return _LANCE_PREFIX.sub("", _RUST_LOCATION.sub("", text)).strip()[:200] or (
        type(exc).__name__)


def reopening(method: Callable[..., _T]) -> Callable[..., _T]:
    """Retry once on a fresh connection when the store vanished under us (deleted or
    moved): a lookup then finds an empty store, a save creates it again."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> _T:
        try:
            return method(self, *args, **kwargs)
        except StoreVanishedError:
            self.db.forget()
            return method(self, *args, **kwargs)

    return wrapper


class _FileLock:
    """An inter-process lock on a local store (fcntl); a no-op where unavailable."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._thread_lock = threading.RLock()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            try:
                import fcntl
            except ImportError:  # Windows: LanceDB's own commit protocol only
                yield
                return
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)


class Database:
    """One LanceDB URI: opened lazily, tables cached, writes under a file lock on disk."""

    def __init__(self, uri: str, *, storage_options: dict[str, str] | None = None) -> None:
        self.uri = check_uri(uri)
        self.storage_options = dict(storage_options or {})
        self._db: Any = None
        self._tables: dict[str, Any] = {}
        self._open_lock = threading.Lock()
        self._lock: _FileLock | None = None

    @contextlib.contextmanager
    def translate(self, action: str) -> Iterator[None]:
        """Turn LanceDB/Arrow/OS errors into our StoreError tree, with a clean message."""
        try:
            yield
        except StoreError:
            raise
        except (OSError, RuntimeError, ValueError) as exc:
            raise self._classify(action, exc) from exc

    def _classify(self, action: str, exc: BaseException) -> StoreError:
        text = _lance_message(exc)
        lowered = text.lower()
        if isinstance(exc, PermissionError) or "permission denied" in lowered or (
                "read-only" in lowered):
            return StoreUnavailableError(
                f"cannot {action}: the store {self.uri!r} is not writable")
        if "no space left" in lowered or getattr(exc, "errno", None) == 28:
            return StoreUnavailableError(
                f"cannot {action}: no space left on the store's disk", hint="free disk space")
        if isinstance(exc, FileNotFoundError) or lowered.startswith("not found"):
            return StoreVanishedError(
                f"cannot {action}: the store {self.uri!r} was deleted or moved while in use")
        if isinstance(exc, OSError):
            return StoreUnavailableError(f"cannot {action} ({text})")
        return StoreError(f"cannot {action}: the store's data is unreadable ({text})",
                          hint="the store may be damaged; see README 'Recovering a store'")

    def forget(self) -> None:
        """Drop open handles so the next call opens (or creates) the store anew."""
        with self._open_lock:
            self._tables.clear()
            self._db = None
            self._lock = None

    @property
    def connected(self) -> bool:
        return self._db is not None

    def connect(self) -> Any:
        if self._db is not None:
            return self._db
        with self._open_lock:
            if self._db is not None:
                return self._db
            try:
                import lancedb
            except ImportError as exc:
                raise StoreUnavailableError(
                    "lancedb is not installed", hint="pip install lancedb"
                ) from exc
            with self.translate(f"open the store {self.uri!r}"):
                if is_local_uri(self.uri):
                    path = self.uri[len("file://"):] if self.uri.startswith("file://") else self.uri
                    os.makedirs(path, exist_ok=True)
                    self._lock = _FileLock(os.path.join(path, ".semcache.lock"))
                # read_consistency_interval=0: see rows other processes (the magic in
                # another notebook, the server) wrote, on every read.
                self._db = lancedb.connect(
                    self.uri,
                    read_consistency_interval=dt.timedelta(0),
                    storage_options=self.storage_options or None,
                )
            return self._db

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """Serialise read-modify-write across processes (local stores; no-op on objects)."""
        self.connect()
        if self._lock is None:
            yield
        else:
            with self._lock.held():
                yield

    def table(self, name: str, create: Callable[[Any], Any] | None = None) -> Any:
        """The open table ``name``; if missing, ``create(db)`` makes it (None: no table)."""
        table = self._tables.get(name)
        if table is not None:
            return table
        db = self.connect()
        with self.translate(f"open the {name} table"):
            if name in set(_table_names(db)):
                table = db.open_table(name)
            elif create is None:
                return None
            else:
                with self.write_lock():
                    try:
                        table = (db.open_table(name) if name in set(_table_names(db))
                                 else create(db))
                    except (OSError, RuntimeError, ValueError):
                        # An object store has no lock: another client may have created the
                        # table at the same moment ("already exists", or our index commits
                        # conflict with its create). Then theirs is the table.
                        if name not in set(_table_names(db)):
                            raise
                        table = db.open_table(name)
        self._tables[name] = table
        return table

    @staticmethod
    def index_scalars(table: Any, *, btree: Sequence[str] = (), bitmap: Sequence[str] = (),
                      fts: Sequence[str] = ()) -> None:
        """B-tree, bitmap and full-text indexes on these columns."""
        from lancedb.index import FTS, Bitmap, BTree

        for column in btree:
            table.create_index(column, config=BTree())
        for column in bitmap:
            table.create_index(column, config=Bitmap())
        for column in fts:
            table.create_index(column, config=FTS())

    @staticmethod
    def index_vectors(table: Any, column: str, *, partitions: int) -> str:
        """An IVF_SQ cosine index (3 s to build at 100k rows; IVF_PQ recalls poorly at 384-d)."""
        from lancedb.index import IvfSq

        table.create_index(column, config=IvfSq(distance_type="cosine",
                                                num_partitions=partitions))
        return f"IVF_SQ, {partitions} partitions"

    def close(self) -> None:
        self._tables.clear()
        self._db = None


def _table_names(db: Any) -> list[str]:
    listing = db.list_tables() if hasattr(db, "list_tables") else db.table_names()
    names = getattr(listing, "tables", listing)
    return list(names)
