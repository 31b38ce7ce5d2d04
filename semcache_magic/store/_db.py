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
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from ..errors import (
    ConfigurationError,
    SnippetNotFoundError,
    StoreConnectionError,
    StoreError,
    StoreTimeoutError,
    StoreUnavailableError,
    StoreVanishedError,
)
from ._failures import classify, timeout_error

__all__ = ["Database", "check_id", "in_list", "is_local_uri", "quote", "reopening",
           "reopening_unbounded"]

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


_T = TypeVar("_T")


def reopening(method: Callable[..., _T]) -> Callable[..., _T]:
    """A store operation: retried once on a fresh connection when the store vanished under
    us (deleted or moved: a lookup then finds an empty store, a save creates it again),
    and bounded by ``SemCache.store_timeout`` on an object store."""
    return _operation(method, bounded=True)


def reopening_unbounded(method: Callable[..., _T]) -> Callable[..., _T]:
    """:func:`reopening` without the deadline, for work that may rightly take long
    (compacting a large table); its requests still have the store's request timeout."""
    return _operation(method, bounded=False)


# What a timed-out operation was doing, as the error says it ("cannot save the snippet").
_ACTIONS = {
    "upsert": "save the snippet", "add_many": "save snippets", "get": "read the snippet",
    "get_many": "read snippets", "find_id_prefix": "read snippets", "vote": "record the vote",
    "record_use": "record the snippet's use", "set_tags": "set tags",
    "delete": "delete the snippet", "append_run": "record the run",
    "by_task_hash": "look up the task", "by_template": "look up the task",
    "by_task_or_template": "look up the task", "hybrid_search": "search the store",
    "runs": "read the run log", "snippet_facets": "read store statistics",
}


def _operation(method: Callable[..., _T], *, bounded: bool) -> Callable[..., _T]:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> _T:
        def attempt() -> _T:
            try:
                return method(self, *args, **kwargs)
            except StoreVanishedError:
                self.db.forget()
                return method(self, *args, **kwargs)

        db: Database = self.db
        if not bounded:
            return attempt()
        action = _ACTIONS.get(method.__name__, method.__name__.replace("_", " "))
        return db.bounded(attempt, action)

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

    def __init__(self, uri: str, *, storage_options: dict[str, str] | None = None,
                 timeout: float | None = None) -> None:
        self.uri = check_uri(uri)
        self.timeout = timeout if timeout and not is_local_uri(self.uri) else None
        self.storage_options = _with_timeouts(dict(storage_options or {}), self.timeout)
        self._db: Any = None
        self._tables: dict[str, Any] = {}
        self._open_lock = threading.Lock()
        self._lock: _FileLock | None = None
        # (until, why, error) after the endpoint timed out or was unreachable
        self._down: tuple[float, str, StoreUnavailableError] | None = None

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
        return classify(self.uri, self.storage_options, action, exc)

    def bounded(self, call: Callable[[], _T], action: str) -> _T:
        """``call()``, given up after ``timeout`` seconds on an object store.

        A frozen endpoint must not freeze the notebook: the call runs in a daemon thread
        and the caller gets :class:`StoreTimeoutError` at the deadline (the thread ends
        when the store's own request timeout fires). Local stores run inline.

        After an endpoint timed out or could not be reached, further operations fail at
        once for ``timeout`` seconds: one task makes several store calls (lookup, save,
        run log), and each must not wait the whole deadline again.
        """
        if self.timeout is None:
            return call()
        if self._down is not None:
            until, reason, error = self._down
            if time.monotonic() < until:
                raise type(error)(f"cannot {action}: {reason} (not retried for "
                                  f"{self.timeout:g} s)", hint=error.hint)
            self._down = None
        _import_lancedb()  # ~2-3 s of imports are not the store's answer time
        box: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()

        def work() -> None:
            try:
                box.put((True, call()))
            except BaseException as exc:  # handed to the caller, raised there
                box.put((False, exc))

        threading.Thread(target=work, name="semcache-store", daemon=True).start()
        try:
            ok, value = box.get(timeout=self.timeout)
        except queue.Empty:
            value = timeout_error(self.uri, self.storage_options, self.timeout, action)
            ok = False
        if ok:
            return value
        if isinstance(value, StoreTimeoutError | StoreConnectionError):
            reason = value.message.split(": ", 1)[-1]
            self._down = (time.monotonic() + self.timeout, reason, value)
        raise value

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
            lancedb = _import_lancedb()
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


def _import_lancedb() -> Any:
    try:
        import lancedb
    except ImportError as exc:
        raise StoreUnavailableError("lancedb is not installed", hint="pip install lancedb") from exc
    return lancedb


def _with_timeouts(options: dict[str, str], seconds: float | None) -> dict[str, str]:
    """Object-store request timeouts from ``store_timeout``, unless set explicitly: each
    request gives up in time, so a thread left behind by :meth:`Database.bounded` ends."""
    if seconds is not None:
        options.setdefault("timeout", f"{max(1, round(seconds))}s")
        options.setdefault("connect_timeout", f"{max(1, min(10, round(seconds)))}s")
    return options


def _table_names(db: Any) -> list[str]:
    listing = db.list_tables() if hasattr(db, "list_tables") else db.table_names()
    names = getattr(listing, "tables", listing)
    return list(names)
