"""Where ONNX exports live, how they are keyed, and how one is made.

An export sits in ``<root>/<model-name>-<checksum>/`` (``model.onnx``,
``tokenizer.json``, ``manifest.json``). The root is, in order: the ``onnx_dir``
argument, ``$SEMCACHE_ONNX_DIR``, ``$XDG_CACHE_HOME/semcache-magic/onnx``,
``~/.cache/semcache-magic/onnx``. The checksum covers every file of the source
model (weights, configs, tokenizer) and the export format version, so a changed
model or a changed exporter gets a fresh export and never a stale one.

The export runs in a child process (``python -m <package>._onnx_export``): torch
and sentence-transformers cost ~500 MB of RSS and seconds of import, and that
must not land in the user's process. The child builds the export in a temporary
directory beside the target and renames it into place, so concurrent exporters
never expose a half-written directory: one rename wins, the others discard theirs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from ._onnx_model import FORMAT_VERSION

__all__ = [
    "ExportFailedError",
    "cache_root",
    "export_dir_for",
    "model_checksum",
    "package_root",
    "resolve_model_dir",
    "run_export",
]

#: Skipped by the checksum: documentation and VCS files do not change the vectors.
_IGNORED_NAMES = frozenset({"README.md", ".gitattributes", ".gitignore"})
#: Temporary export directories older than this are leftovers of a killed export.
_STALE_TMP_SECONDS = 3600.0
TMP_PREFIX = ".tmp-"

_checksums: dict[tuple[str, tuple[tuple[str, int, int], ...]], str] = {}
_checksums_lock = threading.Lock()


class ExportFailedError(RuntimeError):
    """The export child failed; the message says why in one line."""


def cache_root(override: str | os.PathLike[str] | None = None) -> Path:
    """The directory holding all exports (not created here)."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("SEMCACHE_ONNX_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "semcache-magic" / "onnx"


def resolve_model_dir(spec: str) -> Path | None:
    """The local directory of ``spec`` (a path or a hub name already in the local cache)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path.resolve()
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    # sentence-transformers also accepts bare names of its own organisation.
    candidates = [spec] if "/" in spec else [spec, f"sentence-transformers/{spec}"]
    for repo_id in candidates:
        try:
            return Path(snapshot_download(repo_id, local_files_only=True))
        except Exception:  # not cached, bad name: huggingface_hub raises many kinds
            continue
    return None


def _model_files(model_dir: Path) -> list[tuple[str, Path]]:
    files = []
    for path in model_dir.rglob("*"):
        rel = path.relative_to(model_dir)
        if any(part.startswith(".") for part in rel.parts) or path.name in _IGNORED_NAMES:
            continue
        if path.is_file():
            files.append((rel.as_posix(), path))
    return sorted(files)


def model_checksum(model_dir: Path, root: Path | None = None) -> str:
    """Hex digest of the model's files and the export format.

    Hashing 90 MB costs ~0.25 s, on the path of a CLI command's first embedding, so the
    digest is memoised per file list, sizes and modification times: in this process, and
    under ``root`` (the export cache) for the next one.
    """
    files = _model_files(model_dir)
    signature = tuple((rel, (st := p.stat()).st_size, st.st_mtime_ns) for rel, p in files)
    key = (str(model_dir), signature)
    with _checksums_lock:
        if key in _checksums:
            return _checksums[key]
    memo = _memo_path(root, key) if root is not None else None
    result = _read_memo(memo)
    if result is None:
        digest = hashlib.sha256(f"semcache-onnx-format-{FORMAT_VERSION}\n".encode())
        for rel, path in files:
            digest.update(f"{rel}\n".encode())
            with path.open("rb") as fh:
                while block := fh.read(1 << 20):
                    digest.update(block)
            digest.update(b"\n")
        result = digest.hexdigest()
        _write_memo(memo, result)
    with _checksums_lock:
        _checksums[key] = result
    return result


def _memo_path(root: Path, key: tuple[str, tuple[tuple[str, int, int], ...]]) -> Path:
    name = hashlib.sha256(repr((FORMAT_VERSION, key)).encode()).hexdigest()[:32]
    return root / ".checksums" / name


def _read_memo(memo: Path | None) -> str | None:
    if memo is None:
        return None
    try:
        text = memo.read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return None
    return text if re.fullmatch(r"[0-9a-f]{64}", text) else None


def _write_memo(memo: Path | None, checksum: str) -> None:
    if memo is None:
        return
    # Best effort: an unwritable cache only means hashing again next time. Written to a
    # temporary name and renamed, so a reader never sees half a digest.
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_name(f"{TMP_PREFIX}{memo.name}-{os.getpid()}")
        tmp.write_text(checksum, encoding="ascii")
        os.replace(tmp, memo)
    except OSError:
        return


def export_dir_for(root: Path, model_name: str, checksum: str) -> Path:
    """``<root>/<safe model name>-<first 16 hex digits of the checksum>``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(model_name).name or model_name).strip("._")
    return root / f"{safe or 'model'}-{checksum[:16]}"


def _remove_stale_tmp(root: Path) -> None:
    try:
        entries = list(root.glob(f"{TMP_PREFIX}*"))
    except OSError:
        return
    now = time.time()
    for entry in entries:
        try:
            if now - entry.stat().st_mtime > _STALE_TMP_SECONDS:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue


def package_root() -> Path:
    """The sys.path entry our package is imported from (the child must import it too)."""
    depth = (__package__ or "").count(".") + 1
    return Path(__file__).resolve().parents[depth]


def run_export(model_dir: Path, target: Path, *, timeout: float = 900.0) -> dict[str, object]:
    """Export ``model_dir`` into ``target`` in a child process; returns the child's report.

    Raises :class:`ExportFailedError` with a one-line reason. If another process finished the
    same export first, that export is kept and this call still succeeds.
    """
    _remove_stale_tmp(target.parent)
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(package_root()), env.get("PYTHONPATH", "")) if p
    )
    command = [
        sys.executable, "-m", f"{__package__}._onnx_export",
        "--model", str(model_dir), "--target", str(target),
    ]
    try:
        proc = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout, check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise ExportFailedError(f"the export took longer than {timeout:.0f} s") from exc
    except OSError as exc:
        raise ExportFailedError(f"cannot start the export process: {exc}") from exc
    report = _last_json_line(proc.stdout)
    if proc.returncode != 0 or not report.get("ok"):
        reason = report.get("error") or _tail(proc.stderr) or f"exit status {proc.returncode}"
        raise ExportFailedError(str(reason))
    return report


def _last_json_line(text: str) -> dict[str, object]:
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    return {}


def _tail(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
