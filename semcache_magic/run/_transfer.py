"""Moving named values into and out of an isolated kernel.

Values travel as pickles through private files (mode 0600 in a 0700 directory
the runner owns): one ``(name, bytes)`` record per value, so one value that
cannot be pickled or unpickled is reported by name and does not sink the
others. The kernel side is plain Python sent as silent executes; it imports
nothing from semcache_magic, so a kernel from another environment works too,
as long as it can unpickle the values (same pandas/numpy major versions) and
sees the same filesystem.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import tempfile
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import TransferError

__all__ = [
    "CWD_KEY",
    "REPORT_EXPRESSION",
    "bad_names",
    "check_sendable",
    "describe_inputs",
    "env_changes",
    "epilogue_code",
    "new_outputs_file",
    "parse_report",
    "prelude_code",
    "read_values",
    "write_inputs",
]

#: Protocol 5 reads on every Python the kernel may run (3.8+) and keeps arrays compact.
PROTOCOL = 5

#: Evaluated as a user expression after a plumbing execute: returns and removes its report.
REPORT_EXPRESSION = "__import__('json').dumps(globals().pop('__semcache_report', {}))"

#: The report key under which a working-directory failure is returned.
CWD_KEY = "<cwd>"

_PRELUDE = '''\
def __semcache_prelude(cwd, path, env, unset, memory):
    import os, pickle
    report = {}
    os.environ.update(env)
    for key in unset:
        os.environ.pop(key, None)
    if memory:
        # On top of what the kernel holds already (~0.7 GB of address space, most of it
        # reserved, not used). Soft and hard: the code cannot raise it back.
        import resource
        held = 0
        try:
            with open("/proc/self/status") as fh:
                held = next((int(l.split()[1]) * 1024 for l in fh if l.startswith("VmSize:")), 0)
        except OSError:
            pass
        resource.setrlimit(resource.RLIMIT_AS, (held + memory, held + memory))
    try:
        os.chdir(cwd)
    except OSError as exc:
        report[%(cwd_key)r] = f"{type(exc).__name__}: {exc}"
    if path:
        ns = globals()
        with open(path, "rb") as fh:
            while True:
                try:
                    name, blob = pickle.load(fh)
                except EOFError:
                    break
                try:
                    ns[name] = pickle.loads(blob)
                except Exception as exc:
                    report[name] = f"{type(exc).__name__}: {exc}"
    return report
__semcache_report = __semcache_prelude(%(cwd)r, %(path)r, %(env)r, %(unset)r, %(memory)r)
del __semcache_prelude
'''

_EPILOGUE = '''\
def __semcache_epilogue(names, path):
    import pickle
    ns, report = globals(), {}
    with open(path, "wb") as fh:
        for name in names:
            if name not in ns:
                report[name] = "not defined by the code"
                continue
            try:
                blob = pickle.dumps(ns[name], protocol=%(protocol)d)
            except Exception as exc:
                report[name] = f"{type(exc).__name__}: {exc}"
                continue
            pickle.dump((name, blob), fh, protocol=%(protocol)d)
    return report
__semcache_report = __semcache_epilogue(%(names)r, %(path)r)
del __semcache_epilogue
'''


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def bad_names(names: Iterable[str]) -> dict[str, str]:
    """Names that cannot be variables in the kernel, with why."""
    return {str(name): "not a valid Python identifier" for name in names
            if not isinstance(name, str) or not name.isidentifier()}


class _Discard:
    """A file-like sink: pickling into it tests a value without holding its bytes."""

    def write(self, data: bytes) -> int:
        return len(data)


def unpicklable(values: Mapping[str, Any]) -> dict[str, str]:
    """Names whose values cannot be sent into a kernel, with why (checked up front, so a
    bad input fails before any model call is paid for)."""
    errors = bad_names(values)
    for name, value in values.items():
        if name in errors:
            continue
        try:
            pickle.Pickler(_Discard(), protocol=PROTOCOL).dump(value)
        except Exception as exc:  # anything a __reduce__ raises (locks, lambdas, sockets)
            errors[name] = _describe(exc)
    return errors


def describe_inputs(values: Mapping[str, Any]) -> dict[str, str]:
    """Input schema: names -> type descriptions, never values.

    DataFrames include their column names and dtypes and arrays their dtype and
    rank, because code written for one shape does not fit another.
    """
    schema: dict[str, str] = {}
    for name, value in values.items():
        kind = type(value)
        label = kind.__name__ if kind.__module__ == "builtins" else (
            f"{kind.__module__.split('.')[0]}.{kind.__name__}")
        columns = getattr(value, "dtypes", None)
        if label == "pandas.DataFrame" and columns is not None:
            label += "[" + ", ".join(f"{c}: {t}" for c, t in columns.items()) + "]"
        elif label == "numpy.ndarray":
            label += f"[{getattr(value, 'dtype', '?')}, {getattr(value, 'ndim', '?')}d]"
        schema[str(name)] = label
    return schema


def check_sendable(values: Mapping[str, Any]) -> None:
    """Raise :class:`TransferError` naming every input that cannot be sent into a kernel."""
    refused = unpicklable(values)
    if refused:
        raise TransferError("cannot send " + "; ".join(f"{k} ({v})" for k, v in refused.items())
                            + " into the isolated kernel")


def write_inputs(values: Mapping[str, Any], directory: str) -> tuple[str | None, dict[str, str]]:
    """Pickle ``values`` into a new 0600 file in ``directory``.

    Returns the path (``None`` when there is nothing to send) and, per name,
    why a value could not be pickled. Every value is tried, so the report is
    complete; the file is removed when anything failed.
    """
    errors = bad_names(values)
    if not values:
        return None, errors
    fd, path = tempfile.mkstemp(prefix="in-", suffix=".pkl", dir=directory)
    with os.fdopen(fd, "wb") as fh:
        for name, value in values.items():
            if name in errors:
                continue
            try:
                blob = pickle.dumps(value, protocol=PROTOCOL)
            except Exception as exc:  # anything a __reduce__ raises (locks, lambdas, sockets)
                errors[name] = _describe(exc)
                continue
            pickle.dump((name, blob), fh, protocol=PROTOCOL)
    if errors:
        os.unlink(path)
        return None, errors
    return path, errors


def new_outputs_file(directory: str) -> str:
    """An empty 0600 file for the kernel to write fetched values into."""
    fd, path = tempfile.mkstemp(prefix="out-", suffix=".pkl", dir=directory)
    os.close(fd)
    return path


def read_values(path: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Unpickle the records in ``path``: values by name, and why any failed."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    with open(path, "rb") as fh:
        while True:
            try:
                name, blob = pickle.load(fh)
            except EOFError:
                break
            try:
                values[name] = pickle.loads(blob)
            except Exception as exc:  # e.g. a class defined only inside the kernel
                errors[name] = _describe(exc)
    return values, errors


def env_changes(started: Mapping[str, str],
                now: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """What to set and unset so a kernel started with ``started`` sees ``now``."""
    changed = {key: value for key, value in now.items() if started.get(key) != value}
    return changed, sorted(key for key in started if key not in now)


def prelude_code(cwd: str, inputs_path: str | None, env: Mapping[str, str] | None = None,
                 unset: Iterable[str] = (), memory_limit: int = 0) -> str:
    """Kernel-side code: apply environment changes and the memory limit (bytes of address
    space, 0: none), change to ``cwd``, load the inputs."""
    return _PRELUDE % {"cwd": cwd, "path": inputs_path, "cwd_key": CWD_KEY,
                       "env": dict(env or {}), "unset": list(unset),
                       "memory": int(memory_limit)}


def epilogue_code(names: Iterable[str], outputs_path: str) -> str:
    """Kernel-side code: pickle the named globals into ``outputs_path``."""
    return _EPILOGUE % {"names": list(names), "path": outputs_path, "protocol": PROTOCOL}


def parse_report(reply: Mapping[str, Any]) -> dict[str, str]:
    """Per-name failures from a plumbing execute's ``execute_reply`` content."""
    if reply.get("status") != "ok":
        return {"<kernel>": f"{reply.get('ename', 'Error')}: {reply.get('evalue', '')}"}
    expression = (reply.get("user_expressions") or {}).get("report") or {}
    if expression.get("status") != "ok":
        return {"<kernel>": f"{expression.get('ename', 'Error')}: {expression.get('evalue', '')}"}
    try:
        # text/plain is the repr of the JSON string, so two safe decodes.
        report = json.loads(ast.literal_eval(expression["data"]["text/plain"]))
    except (KeyError, ValueError, SyntaxError, TypeError) as exc:
        return {"<kernel>": f"unreadable report: {_describe(exc)}"}
    return {str(k): str(v) for k, v in report.items()} if isinstance(report, dict) else {}
