"""The result of one isolated run, and how kernel messages become it.

:class:`RunResult` is what :meth:`semcache_magic.run.KernelRunner.run`
returns; :class:`OutputCollector` turns iopub messages into notebook outputs
(nbformat v4 shapes) under a byte cap. Neither imports jupyter_client, so the
faces can use them without starting anything.
"""

from __future__ import annotations

import json
import logging
import re
import reprlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import CodeError, ExecutionError, KernelDiedError, RunTimeoutError, TransferError

__all__ = [
    "RUN_STATUSES",
    "OutputCollector",
    "OutputHook",
    "RunResult",
    "error_info",
    "strip_ansi",
    "transfer_error",
]

log = logging.getLogger(__name__)

#: Every value :attr:`RunResult.status` can take.
RUN_STATUSES: tuple[str, ...] = ("ok", "error", "timeout", "died", "cancelled")

#: Called with each output as it arrives (see :class:`OutputCollector`).
OutputHook = Callable[[dict[str, Any]], None]

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 200


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour codes (kernel tracebacks carry them)."""
    return _ANSI_RE.sub("", text)


def error_info(ename: str, evalue: str, traceback: list[str] | None = None) -> dict[str, Any]:
    """An error dict: nbformat's ename/evalue/traceback plus ``text``, the plain traceback."""
    lines = list(traceback or [])
    plain = "\n".join(strip_ansi(line) for line in lines)
    return {"ename": ename, "evalue": evalue, "traceback": lines,
            "text": plain or f"{ename}: {evalue}"}


def transfer_error(verb: str, errors: dict[str, str]) -> dict[str, Any]:
    """The error dict of a run whose values could not be sent or fetched (``verb``)."""
    reasons = "; ".join(f"{name}: {why}" for name, why in errors.items())
    noun = "value" if len(errors) == 1 else "values"
    return error_info("TransferError", f"could not {verb} {noun} ({reasons})")


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


@dataclass
class RunResult:
    """What happened when code ran in an isolated kernel.

    ``status`` is one of :data:`RUN_STATUSES`. ``outputs`` are nbformat v4
    outputs in arrival order (streams too), ready to show as cell outputs.
    ``kernel_state`` is the kernel's state when the run ended: ``alive``,
    ``interrupted`` (stopped by an interrupt), ``killed`` or ``dead``; the
    kernel is discarded after every run either way. A requested output that was
    not defined, or a value that could not be moved, makes the run an
    ``error`` whose ``ename`` is ``TransferError``; ``transfer_errors`` says why
    per name.
    """

    status: str
    stdout: str = ""
    stderr: str = ""
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    truncated: bool = False
    dropped_bytes: int = 0
    kernel_state: str = "alive"
    values: dict[str, Any] = field(default_factory=dict)
    transfer_errors: dict[str, str] = field(default_factory=dict)
    kernel_name: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def message(self) -> str:
        """One line saying what went wrong (empty when the run was ok)."""
        if self.ok:
            return ""
        err = self.error or {}
        if err.get("ename") and self.status == "error":
            evalue = _first_line(str(err.get("evalue", "")))
            return f"{err['ename']}: {evalue}" if evalue else str(err["ename"])
        return _first_line(str(err.get("evalue", ""))) or f"the run ended with status {self.status}"

    def raise_for_status(self) -> None:
        """Raise the matching :class:`~semcache_magic.errors.ExecutionError` unless ok."""
        if self.ok:
            return
        err = self.error or {}
        if self.status == "timeout":
            raise RunTimeoutError(self.message)
        if self.status == "died":
            raise KernelDiedError(self.message)
        if self.status == "cancelled":
            raise ExecutionError(self.message, hint="run it again when ready")
        if self.transfer_errors and err.get("ename") == "TransferError":
            raise TransferError(self.message)
        raise CodeError(
            self.message,
            ename=str(err.get("ename", "")),
            evalue=str(err.get("evalue", "")),
            traceback=str(err.get("text", "")).splitlines(),
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict; fetched values are summarised by type and a short repr."""
        return {
            "status": self.status,
            "ok": self.ok,
            "message": self.message,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "outputs": self.outputs,
            "error": self.error,
            "timings": {k: round(v, 6) for k, v in self.timings.items()},
            "truncated": self.truncated,
            "dropped_bytes": self.dropped_bytes,
            "kernel_state": self.kernel_state,
            "kernel_name": self.kernel_name,
            "values": {name: _summary(value) for name, value in self.values.items()},
            "transfer_errors": dict(self.transfer_errors),
        }


def _summary(value: Any) -> dict[str, str]:
    kind = type(value)
    try:
        text = _REPR.repr(value)
    except Exception as exc:  # a broken __repr__ must not break the JSON
        text = f"<repr failed: {type(exc).__name__}>"
    return {"type": f"{kind.__module__}.{kind.__qualname__}", "repr": text}


def _bundle_size(data: dict[str, Any]) -> int:
    size = 0
    for value in data.values():
        size += len(value) if isinstance(value, str) else len(json.dumps(value, default=str))
    return size


class OutputCollector:
    """Builds notebook outputs from iopub messages, keeping at most ``limit`` bytes.

    ``on_output`` sees each output as it arrives, nbformat-shaped; outputs that
    carry a display id also have ``transient``, and two live-only kinds pass
    through: ``update_display_data`` and ``clear_output`` (they are applied to
    the stored :attr:`outputs`, which stay valid nbformat).
    """

    def __init__(self, limit: int, on_output: OutputHook | None = None) -> None:
        self.limit = max(0, int(limit))
        self.on_output = on_output
        self.outputs: list[dict[str, Any]] = []
        self.error: dict[str, Any] | None = None
        self.used = 0
        self.dropped = 0
        self._streams: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._by_display_id: dict[str, list[dict[str, Any]]] = {}
        self._clear_on_next = False

    def feed(self, msg_type: str, content: dict[str, Any]) -> None:
        if msg_type == "stream":
            self._stream(str(content.get("name", "stdout")), str(content.get("text", "")))
        elif msg_type in ("display_data", "execute_result"):
            self._display(msg_type, content)
        elif msg_type == "update_display_data":
            self._update(content)
        elif msg_type == "error":
            self._error(content)
        elif msg_type == "clear_output":
            wait = bool(content.get("wait", False))
            self._clear_on_next = wait
            if not wait:
                self._clear()
            self._emit({"output_type": "clear_output", "wait": wait})

    def finish(self, result: RunResult) -> None:
        """Copy what was collected into ``result``."""
        result.stdout = "".join(self._streams["stdout"])
        result.stderr = "".join(self._streams["stderr"])
        result.outputs = self.outputs
        result.truncated = self.dropped > 0
        result.dropped_bytes = self.dropped
        if self.error is not None and result.error is None:
            result.error = self.error

    # -- kinds -----------------------------------------------------------------
    def _stream(self, name: str, text: str) -> None:
        kept = self._take_text(text)
        if not kept:
            return
        self._streams.setdefault(name, []).append(kept)
        self._apply_pending_clear()
        last = self.outputs[-1] if self.outputs else None
        # Coalesce like nbclient: a print loop should not become thousands of outputs.
        if last is not None and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += kept
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": kept})
        self._emit({"output_type": "stream", "name": name, "text": kept})

    def _display(self, msg_type: str, content: dict[str, Any]) -> None:
        data = dict(content.get("data") or {})
        if not self._take(_bundle_size(data)):
            return
        self._apply_pending_clear()
        output: dict[str, Any] = {"output_type": msg_type, "data": data,
                                  "metadata": dict(content.get("metadata") or {})}
        if msg_type == "execute_result":
            output["execution_count"] = content.get("execution_count")
        self.outputs.append(output)
        display_id = (content.get("transient") or {}).get("display_id")
        if display_id:
            self._by_display_id.setdefault(display_id, []).append(output)
            self._emit({**output, "transient": {"display_id": display_id}})
        else:
            self._emit(dict(output))

    def _update(self, content: dict[str, Any]) -> None:
        display_id = (content.get("transient") or {}).get("display_id")
        data = dict(content.get("data") or {})
        if not display_id or not self._take(_bundle_size(data)):
            return
        metadata = dict(content.get("metadata") or {})
        for output in self._by_display_id.get(display_id, []):
            output["data"], output["metadata"] = data, metadata
        self._emit({"output_type": "update_display_data", "data": data, "metadata": metadata,
                    "transient": {"display_id": display_id}})

    def _error(self, content: dict[str, Any]) -> None:
        # Errors are never dropped: they are the one output the user must see.
        traceback = [str(line) for line in content.get("traceback") or []]
        ename, evalue = str(content.get("ename", "")), str(content.get("evalue", ""))
        self.used += sum(len(line) for line in traceback)
        self._apply_pending_clear()
        output = {"output_type": "error", "ename": ename, "evalue": evalue,
                  "traceback": traceback}
        self.outputs.append(output)
        self.error = error_info(ename, evalue, traceback)
        self._emit(dict(output))

    # -- helpers ---------------------------------------------------------------
    def _take(self, size: int) -> bool:
        if self.used + size > self.limit:
            self.dropped += size
            return False
        self.used += size
        return True

    def _take_text(self, text: str) -> str:
        raw = text.encode("utf-8", "replace")
        room = self.limit - self.used
        if len(raw) <= room:
            self.used += len(raw)
            return text
        kept = raw[: max(room, 0)].decode("utf-8", "ignore")
        self.used += len(kept.encode("utf-8"))
        self.dropped += len(raw) - len(kept.encode("utf-8"))
        return kept

    def _clear(self) -> None:
        self.outputs.clear()
        self._by_display_id.clear()

    def _apply_pending_clear(self) -> None:
        if self._clear_on_next:
            self._clear_on_next = False
            self._clear()

    def _emit(self, output: dict[str, Any]) -> None:
        if self.on_output is None:
            return
        try:
            self.on_output(output)
        except Exception:  # a display sink must not break the run it is showing
            log.exception("semcache: an on_output callback failed")
