"""One embedding process per user, shared by every kernel, the CLI and the server.

The ONNX model costs a process ~100 MB (onnxruntime, the weights it maps, the
tokenizer) and ~1 s of loading. Loaded in the user's kernel, each notebook pays both,
and the load competes with the user's cells for the GIL. So the model runs in a small
helper process instead: the first client starts it (a Python process running :func:`main`,
in its own session, so it outlives a CLI command), later clients -- other notebooks, the
next ``semcache lookup`` -- connect to it, and it exits after ``idle`` seconds without a
client. A client falls back to loading the model itself when the service cannot run
(no Unix sockets, a failed start).

Wire format on a Unix socket in a private directory (mode 0700, owned by the user): every
message is a 4-byte big-endian length and a UTF-8 JSON object. The service greets a new
connection with ``{"protocol", "dim", "pid"}``; a request is ``{"texts": [...],
"batch_size": n}``; the answer is ``{"ok": true, "rows": n}`` followed by ``rows * dim``
little-endian float32 values (raw, so a query is not slowed by JSON numbers), or
``{"ok": false, "error": "..."}``. An flock on ``<socket>.lock`` makes sure one service
serves a socket: a second one started at the same moment exits at once.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._onnx_cache import package_root

__all__ = ["PROTOCOL", "ServiceEncoder", "ServiceUnavailableError", "service_supported"]

#: Bump when the messages change: the socket name includes it, so old and new never meet.
PROTOCOL = 1
_HEADER = struct.Struct(">I")
_MAX_MESSAGE = 64 << 20


class ServiceUnavailableError(RuntimeError):
    """The service could not be reached or started; the message says why in one line."""


def service_supported() -> bool:
    """Unix sockets and flock: Linux and macOS (elsewhere the model loads in-process)."""
    try:
        import fcntl  # noqa: F401
    except ImportError:
        return False
    return hasattr(socket, "AF_UNIX")


def runtime_dir() -> Path:
    """A directory only this user can enter, for sockets (their paths must stay short)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    path = Path(base) / f"semcache-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.stat()
    # Another user could have made the directory first in a shared /tmp; never use it then.
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ServiceUnavailableError(f"{path} is not private to this user")
    return path


def socket_path(export_dir: Path) -> Path:
    digest = hashlib.sha256(f"{PROTOCOL}\0{export_dir.resolve()}".encode()).hexdigest()[:20]
    return runtime_dir() / f"embed-{digest}.sock"


# -- messages -------------------------------------------------------------------------------


def _send(sock: socket.socket, data: dict[str, Any], payload: bytes = b"") -> None:
    body = json.dumps(data).encode()
    sock.sendall(_HEADER.pack(len(body)) + body + payload)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        n = sock.recv_into(view[got:], size - got)
        if not n:
            raise ConnectionError("the connection closed")
        got += n
    return bytes(buffer)


def _recv(sock: socket.socket) -> dict[str, Any]:
    (size,) = _HEADER.unpack(_recv_exact(sock, _HEADER.size))
    if size > _MAX_MESSAGE:
        raise ConnectionError(f"message of {size} bytes is too large")
    data = json.loads(_recv_exact(sock, size))
    if not isinstance(data, dict):
        raise ConnectionError("malformed message")
    return data


# -- the client -----------------------------------------------------------------------------


class ServiceEncoder:
    """Embeds through the user's embedding service, starting it when none runs.

    One connection per calling thread, so threads embed side by side (the service answers
    each connection on its own thread). ``kind`` is ``"onnx"``: the vectors are the ONNX
    model's, whichever process computes them.
    """

    kind = "onnx"

    def __init__(self, export_dir: Path, *, threads: int | None = None, idle: float = 600.0,
                 start_timeout: float = 60.0) -> None:
        self.export_dir = export_dir
        self.threads = threads
        self.idle = idle
        self.start_timeout = start_timeout
        self.path = socket_path(export_dir)
        self._local = threading.local()
        self._start_lock = threading.Lock()
        self.dim = 0
        #: The service's process id (one service serves every client of this export).
        self.pid = 0
        self._connection()

    def _connect(self) -> socket.socket | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(self.path))
            hello = _recv(sock)
        except (OSError, ValueError):  # ValueError: a garbled greeting (not our service)
            sock.close()
            return None
        if hello.get("protocol") != PROTOCOL:
            sock.close()
            raise ServiceUnavailableError(f"the service on {self.path} speaks another protocol")
        self.dim, self.pid = int(hello["dim"]), int(hello["pid"])
        return sock

    def _connection(self) -> socket.socket:
        sock: socket.socket | None = getattr(self._local, "sock", None)
        if sock is not None:
            return sock
        sock = self._connect()
        if sock is None:
            with self._start_lock:  # one start per process; other threads wait for it
                sock = self._connect() or self._start()
        self._local.sock = sock
        return sock

    def _start(self) -> socket.socket:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(package_root()), env.get("PYTHONPATH", "")) if p)
        # Not ``-m``: the package imports this module first, and runpy would warn about it.
        entry = f"import sys; from {__name__} import main; sys.exit(main(sys.argv[1:]))"
        command = [sys.executable, "-c", entry, "--export", str(self.export_dir),
                   "--socket", str(self.path), "--idle", str(self.idle)]
        if self.threads:
            command += ["--threads", str(self.threads)]
        log = self.path.with_suffix(".log")
        deadline = time.monotonic() + self.start_timeout
        child: subprocess.Popen[bytes] | None = None
        while time.monotonic() < deadline:
            if child is None or child.poll() == 0:
                # Exit status 0 means another service held the socket; if that one was
                # idling out meanwhile, nobody listens now, so start one again.
                with open(log, "wb") as err:
                    # Its own session: Ctrl-C in a CLI command's terminal must not stop it.
                    child = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=err,
                                             start_new_session=True, close_fds=True)
            sock = self._connect()
            if sock is not None:
                return sock
            status = child.poll()
            if status not in (None, 0):
                raise ServiceUnavailableError(
                    f"the embedding service exited ({status}): {_last_line(log)}")
            time.sleep(0.02)
        raise ServiceUnavailableError(
            f"the embedding service did not answer within {self.start_timeout:.0f} s")

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Unit-length float32 vectors from the service (restarted once if it went away)."""
        request = {"texts": list(texts), "batch_size": batch_size}
        for attempt in (1, 2):
            sock = self._connection()
            try:
                _send(sock, request)
                answer = _recv(sock)
                if not answer.get("ok"):
                    raise ServiceUnavailableError(str(answer.get("error") or "failed"))
                rows = int(answer["rows"])
                payload = _recv_exact(sock, rows * self.dim * 4)
            except (OSError, ValueError) as exc:
                self._drop()
                if attempt == 2:
                    raise ServiceUnavailableError(f"the embedding service failed: {exc}") from exc
                continue
            return np.frombuffer(payload, dtype="<f4").reshape(rows, self.dim).copy()
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        sock = getattr(self._local, "sock", None)
        self._local.sock = None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def close(self) -> None:
        """Close this thread's connection (the service stays for other clients)."""
        self._drop()


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    except OSError:
        return "no log"
    lines = [line for line in lines if line]
    return lines[-1] if lines else "no output"


# -- the service ------------------------------------------------------------------------------


class _Service:
    def __init__(self, encoder: Any, listener: socket.socket, idle: float) -> None:
        self.encoder = encoder
        self.listener = listener
        self.idle = idle
        self.clients = 0
        self.last_seen = time.monotonic()
        self.lock = threading.Lock()

    def serve(self) -> None:
        self.listener.settimeout(1.0)
        while True:
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                with self.lock:
                    if not self.clients and time.monotonic() - self.last_seen > self.idle:
                        return
                continue
            with self.lock:
                self.clients += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        try:
            _send(conn, {"protocol": PROTOCOL, "dim": self.encoder.dim, "pid": os.getpid()})
            while True:
                request = _recv(conn)
                try:
                    vectors = self.encoder.encode(
                        [str(t) for t in request.get("texts", [])],
                        batch_size=int(request.get("batch_size", 64)))
                except Exception as exc:  # the client turns this into an EmbeddingError
                    _send(conn, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})
                    continue
                data = np.ascontiguousarray(vectors, dtype="<f4")
                _send(conn, {"ok": True, "rows": int(data.shape[0])}, data.tobytes())
        except (OSError, ValueError):
            pass  # the client went away
        finally:
            conn.close()
            with self.lock:
                self.clients -= 1
                self.last_seen = time.monotonic()


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
            return bool(_recv(probe))
        except (OSError, ValueError):
            return False


def main(argv: list[str] | None = None) -> int:
    """Serve ``--export`` on ``--socket`` until ``--idle`` seconds pass without a client."""
    import fcntl

    from ._onnx_model import OnnxEncoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", required=True, help="ONNX export directory")
    parser.add_argument("--socket", required=True, help="Unix socket to listen on")
    parser.add_argument("--idle", type=float, default=600.0, help="seconds without clients")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads")
    args = parser.parse_args(argv)
    os.umask(0o077)
    path = Path(args.socket)
    lock = open(f"{path}.lock", "w")  # noqa: SIM115 -- held for the life of the service
    deadline = time.monotonic() + 10.0
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            # Held: by a live service (the client connects to it), or by one that is
            # idling out right now (its lock goes with it in a moment).
            if _answers(path) or time.monotonic() > deadline:
                return 0
            time.sleep(0.05)
    encoder = OnnxEncoder(Path(args.export), threads=args.threads or None)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # left by a service that was killed
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    try:
        _Service(encoder, listener, args.idle).serve()
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        listener.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
