"""A real local S3 server (moto, its own process) for the team-store tests.

* ``s3_endpoint`` -- a moto server for the test module; ``s3_store`` -- a fresh bucket on it.
* :func:`moto_server` starts one with extra environment (``INITIAL_NO_AUTH_ACTION_COUNT=0``
  makes it check credentials, as S3 does); :func:`s3_options` are the storage options.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

__all__ = ["free_port", "moto_server", "s3_options"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def s3_options(endpoint: str) -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing",
            "aws_endpoint": endpoint, "aws_region": "us-east-1", "allow_http": "true"}


@contextlib.contextmanager
def moto_server(log: Path, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """A moto S3 server on 127.0.0.1; yields its endpoint and stops it afterwards."""
    for _ in range(3):  # the free port may be taken between probe and bind: try another
        port = free_port()
        with log.open("ab") as sink:
            server = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while server.poll() is None and time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        if server.poll() is None and time.monotonic() < deadline:
            break
        server.kill()
        server.wait()
    else:
        pytest.fail(f"moto did not start: {log.read_text()[-2000:]}")
    try:
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server for the test module."""
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


@pytest.fixture
def s3_store(s3_endpoint: str) -> tuple[str, dict[str, str]]:
    """A fresh bucket: (store URI, storage options)."""
    bucket = f"semcache-{uuid.uuid4().hex[:12]}"
    request = urllib.request.Request(f"{s3_endpoint}/{bucket}", method="PUT")
    urllib.request.urlopen(request, timeout=10).close()
    return f"s3://{bucket}/team-cache", s3_options(s3_endpoint)
