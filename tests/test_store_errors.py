"""Store failures say what is wrong and what to do, in time.

Against real servers: moto S3 (one that checks credentials, one without the bucket), a
port where nothing listens, and an endpoint that accepts connections and never answers;
and local stores with a missing or a damaged data file. Wrong keys, a missing bucket and
an unreachable endpoint are not damage, and the advice never says to give up the store.
"""

from __future__ import annotations

import glob
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import WordHashEmbedder
from fixtures_s3 import free_port, moto_server, s3_options

from semcache_magic.cache import SnippetCache
from semcache_magic.cli import main
from semcache_magic.config import SemCache
from semcache_magic.errors import (
    StoreAuthError,
    StoreConnectionError,
    StoreDamagedError,
    StoreError,
    StoreMissingError,
    StoreTimeoutError,
)

pytestmark = pytest.mark.slow

TIMEOUT = 4.0
SLACK = 2.0  # thread hand-over and the one quick connection attempt after a deadline


@pytest.fixture(scope="module", autouse=True)
def _lancedb_loaded(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Open a local store once: LanceDB's import (2-3 s) is not the store's answer time."""
    _seeded(tmp_path_factory.mktemp("warm") / "store")


@pytest.fixture(scope="module")
def checking_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server that checks credentials as S3 does (it knows no access key)."""
    log = tmp_path_factory.mktemp("moto-auth") / "moto.log"
    with moto_server(log, {"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as endpoint:
        yield endpoint


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """Accepts connections and never answers (a frozen server or a black-holing proxy)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


def _attempt(uri: str, options: dict[str, str], action: str) -> tuple[StoreError, float]:
    cache = SnippetCache(SemCache(store=uri, storage_options=options, store_timeout=TIMEOUT),
                         embedder=WordHashEmbedder())
    started = time.perf_counter()
    try:
        if action == "save":
            cache.save("Print the team motto", "print('ship it')")
        else:
            cache.list_snippets()
    except StoreError as err:
        return err, time.perf_counter() - started
    finally:
        cache.close()
    raise AssertionError(f"{action} on {uri} did not fail")


def _plain(err: StoreError) -> None:
    text = err.describe()
    assert ".rs:" not in text and "{ source" not in text and "RetryError" not in text, text
    assert "damaged" not in text and "move it aside" not in text, text  # not damage


@pytest.mark.parametrize("action", ["list", "save"])
def test_wrong_keys(checking_endpoint: str, action: str) -> None:
    err, seconds = _attempt("s3://team-bucket/cache", s3_options(checking_endpoint), action)
    assert isinstance(err, StoreAuthError) and isinstance(err, PermissionError)
    assert "refused the credentials" in err.message and "InvalidAccessKeyId" in err.message
    assert "access key" in err.hint
    _plain(err)
    assert seconds < TIMEOUT + SLACK


@pytest.mark.parametrize("action", ["list", "save"])
def test_missing_bucket(s3_endpoint: str, action: str) -> None:
    err, seconds = _attempt("s3://no-such-bucket/cache", s3_options(s3_endpoint), action)
    assert isinstance(err, StoreMissingError) and isinstance(err, FileNotFoundError)
    assert "'no-such-bucket' does not exist" in err.message and "create the bucket" in err.hint
    _plain(err)
    assert seconds < TIMEOUT + SLACK


@pytest.mark.parametrize("action", ["list", "save"])
def test_stopped_server(action: str) -> None:
    err, seconds = _attempt("s3://team-bucket/cache", s3_options(
        f"http://127.0.0.1:{free_port()}"), action)
    assert isinstance(err, StoreConnectionError) and isinstance(err, ConnectionError)
    assert "cannot reach" in err.message and "refused" in err.message.lower()
    _plain(err)
    assert seconds < TIMEOUT + SLACK


@pytest.mark.parametrize("action", ["list", "save"])
def test_silent_endpoint_is_given_up_at_the_timeout(silent_endpoint: str, action: str) -> None:
    err, seconds = _attempt("s3://team-bucket/cache", s3_options(silent_endpoint), action)
    assert isinstance(err, StoreTimeoutError) and isinstance(err, TimeoutError)
    assert f"did not answer within {TIMEOUT:g} s" in err.message
    assert "store_timeout" in err.hint
    _plain(err)
    assert TIMEOUT - 0.5 < seconds < TIMEOUT + SLACK


def test_after_a_timeout_the_next_calls_fail_at_once(silent_endpoint: str) -> None:
    """A task makes several store calls (lookup, save, run log): one deadline, not three."""
    cache = SnippetCache(SemCache(store="s3://team-bucket/cache", store_timeout=TIMEOUT,
                                  storage_options=s3_options(silent_endpoint)),
                         embedder=WordHashEmbedder())
    started = time.perf_counter()
    with pytest.raises(StoreTimeoutError):
        cache.lookup("Print the team motto")
    with pytest.raises(StoreTimeoutError, match="not retried"):
        cache.save("Print the team motto", "print('ship it')")
    with pytest.raises(StoreTimeoutError, match="not retried"):
        cache.list_snippets()
    assert time.perf_counter() - started < TIMEOUT + SLACK
    cache.close()


def test_the_cli_says_it_in_one_line(
    checking_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEMCACHE_STORAGE_OPTIONS", json.dumps(s3_options(checking_endpoint)))
    monkeypatch.setenv("SEMCACHE_STORE_TIMEOUT", str(TIMEOUT))
    assert main(["--store", "s3://team-bucket/cache", "list"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "refused the credentials" in err, err


def _seeded(store: Path) -> None:
    cache = SnippetCache(SemCache(store=str(store)), embedder=WordHashEmbedder())
    cache.save("Print the factorial of 6", "import math\nprint(math.factorial(6))\n")
    cache.close()


def _local_failure(store: Path) -> StoreError:
    cache = SnippetCache(SemCache(store=str(store)), embedder=WordHashEmbedder())
    try:
        cache.list_snippets()
    except StoreError as err:
        return err
    finally:
        cache.close()
    raise AssertionError("the damaged store was read")


def test_a_missing_data_file_is_damage_not_a_vanished_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    _seeded(store)
    for path in glob.glob(f"{store}/snippets.lance/data/*.lance"):
        Path(path).unlink()
    err = _local_failure(store)
    assert isinstance(err, StoreDamagedError) and "is missing" in err.message
    assert "created on the next save" not in err.describe()  # saving would fail as well
    assert "backup" in err.hint and ".rs:" not in err.describe()
    cache = SnippetCache(SemCache(store=str(store)), embedder=WordHashEmbedder())
    with pytest.raises(StoreDamagedError):
        cache.save("Print 2", "print(2)")


def test_a_damaged_data_file(tmp_path: Path) -> None:
    store = tmp_path / "store"
    _seeded(store)
    for path in glob.glob(f"{store}/snippets.lance/data/*.lance"):
        Path(path).write_bytes(Path(path).read_bytes()[:100])
    err = _local_failure(store)
    assert isinstance(err, StoreDamagedError) and "unreadable" in err.message
    assert ".rs:" not in err.describe()


def test_no_credentials_at_all(checking_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role to ask
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    options: dict[str, Any] = s3_options(checking_endpoint)
    del options["aws_access_key_id"], options["aws_secret_access_key"]
    err, seconds = _attempt("s3://team-bucket/cache", options, "list")
    assert isinstance(err, StoreAuthError), err.describe()
    assert "credentials" in err.message
    assert seconds < TIMEOUT + SLACK
