"""Reading the text files users hand us (code, JSONL, notebooks): UTF-8 or a clear error."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ConfigurationError, SemcacheError

__all__ = ["read_text"]


def read_text(path: str | Path, what: str = "the file",
              error: type[SemcacheError] = ConfigurationError) -> str:
    """The text of ``path`` (``"-"`` is standard input); a leading BOM is dropped.

    Unreadable or non-UTF-8 files raise ``error`` (a :class:`ConfigurationError` unless
    the caller names another :class:`SemcacheError`)
    naming the file.
    """
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise error(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {str(path)!r} is not UTF-8 text") from exc
