"""Rows of the LanceDB tables: Arrow schemas and conversion to and from snippets.

Pure data shaping (pyarrow only, imported lazily); the store module does the I/O.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import numpy as np

from ..snippet import Snippet

__all__ = [
    "ADDED_COLUMNS",
    "KEY_COLUMNS",
    "RUN_FIELDS",
    "SNIPPET_COLUMNS",
    "dedupe",
    "dedupe_scored",
    "from_row",
    "key_columns",
    "run_row",
    "run_schema",
    "snippet_schema",
    "sql_time",
    "to_row",
]

_UTC = dt.timezone.utc

#: Columns of the ``runs`` table and their Arrow types (as names; see run_schema).
RUN_FIELDS: dict[str, str] = {
    "run_id": "string",
    "at": "timestamp",
    "task": "string",
    "namespace": "string",
    "tier": "string",
    "score": "float64",
    "snippet_id": "string",
    "reference_id": "string",
    "saved_id": "string",
    "model": "string",
    "model_calls": "int64",
    "input_tokens": "int64",
    "output_tokens": "int64",
    "cache_read_tokens": "int64",
    "cache_write_tokens": "int64",
    "cost_usd": "float64",
    "saved_cost_usd": "float64",
    "timings": "string",  # JSON object: stage -> seconds
    "total_s": "float64",
    "outcome": "string",  # ok | error | timeout | died | cancelled | model_error | dry_run
    "error": "string",
    "repairs": "int64",
    "face": "string",  # magic | cli | server
}


def run_row(run: dict[str, Any]) -> dict[str, Any]:
    """A ``runs`` row from a run dict: unknown keys dropped, missing ones defaulted."""
    row: dict[str, Any] = {}
    for name, kind in RUN_FIELDS.items():
        value = run.get(name)
        if kind == "timestamp":
            value = dt.datetime.fromtimestamp(float(value or time.time()), _UTC)
        elif kind == "int64":
            value = int(value or 0)
        elif kind == "float64":
            value = float(value or 0.0)
        elif name == "timings" and not isinstance(value, str):
            value = json.dumps(value or {})
        else:
            value = "" if value is None else str(value)
        row[name] = value
    return row


SNIPPET_COLUMNS = [
    "id", "namespace", "task", "task_norm", "template", "template_hash", "task_hash", "code",
    "code_hash", "literals", "input_schema", "libraries", "created_at", "updated_at",
    "last_used_at", "use_count", "success_count", "failure_count", "votes_up", "votes_down",
    "source", "parent_id", "model", "language", "kernel", "tags", "embedder",
    "params", "evidence", "origin", "context_code", "free_names",
]

#: The schema version this code writes, and SQL defaults for columns that version 1
#: stores lack (added in place when such a store is opened for writing).
SCHEMA_VERSION = b"2"
ADDED_COLUMNS: dict[str, str] = {
    "params": "CAST('' AS STRING)",
    "evidence": "CAST('' AS STRING)",
    "origin": "CAST('' AS STRING)",
    "context_code": "CAST('' AS STRING)",
    "free_names": "arrow_cast(make_array(), 'List(Utf8)')",
}
_JSON_COLUMNS = ("params", "evidence", "origin")


def snippet_schema(dim: int, embedder: str) -> Any:
    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    fields = [
        ("id", pa.string()), ("namespace", pa.string()), ("task", pa.string()),
        ("task_norm", pa.string()), ("template", pa.string()), ("template_hash", pa.string()),
        ("task_hash", pa.string()), ("code", pa.string()), ("code_hash", pa.string()),
        ("literals", pa.string()), ("input_schema", pa.string()),
        ("libraries", pa.list_(pa.string())), ("created_at", ts), ("updated_at", ts),
        ("last_used_at", ts), ("use_count", pa.int64()), ("success_count", pa.int64()),
        ("failure_count", pa.int64()), ("votes_up", pa.int64()), ("votes_down", pa.int64()),
        ("source", pa.string()), ("parent_id", pa.string()), ("model", pa.string()),
        ("language", pa.string()), ("kernel", pa.string()), ("tags", pa.list_(pa.string())),
        ("embedder", pa.string()), ("params", pa.string()), ("evidence", pa.string()),
        ("origin", pa.string()), ("context_code", pa.string()),
        ("free_names", pa.list_(pa.string())), ("vector", pa.list_(pa.float32(), dim)),
    ]
    return pa.schema(fields, metadata={b"semcache.embedder": embedder.encode(),
                                       b"semcache.schema": SCHEMA_VERSION})


def run_schema() -> Any:
    import pyarrow as pa

    types = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(),
             "timestamp": pa.timestamp("us", tz="UTC")}
    return pa.schema([(name, types[kind]) for name, kind in RUN_FIELDS.items()],
                     metadata={b"semcache.schema": b"1"})


def sql_time(epoch: float) -> str:
    stamp = dt.datetime.fromtimestamp(epoch, _UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return f"CAST('{stamp}' AS TIMESTAMP)"


def _epoch(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)


#: Columns derived from a snippet's task and code by the task analysis (recomputed when
#: the analysis changes: see ``SnippetStore.rekey``).
KEY_COLUMNS = ("task_norm", "template", "template_hash", "task_hash", "literals", "params")


def key_columns(snippet: Snippet) -> dict[str, str]:
    """The :data:`KEY_COLUMNS` of ``snippet`` as stored."""
    row = to_row(snippet, np.zeros(0, dtype=np.float32))
    return {name: row[name] for name in KEY_COLUMNS}


def to_row(snippet: Snippet, vector: np.ndarray) -> dict[str, Any]:
    data = snippet.to_dict()
    row = {name: data.get(name) for name in SNIPPET_COLUMNS if name in data}
    row["literals"] = json.dumps(data["literals"])
    row["input_schema"] = json.dumps(snippet.input_schema, sort_keys=True)
    for name in _JSON_COLUMNS:
        value = data.get(name)
        row[name] = json.dumps(value, sort_keys=True) if value else ""
    row["free_names"] = list(snippet.free_names)
    for name in ("created_at", "updated_at", "last_used_at"):
        row[name] = dt.datetime.fromtimestamp(float(data[name] or 0.0), _UTC)
    row["vector"] = np.asarray(vector, dtype=np.float32).tolist()
    return row


def from_row(row: dict[str, Any]) -> Snippet:
    data = {name: row.get(name) for name in SNIPPET_COLUMNS if name in row}
    data["literals"] = json.loads(data.get("literals") or "[]")
    data["input_schema"] = json.loads(data.get("input_schema") or "{}")
    data["libraries"] = list(data.get("libraries") or [])
    data["tags"] = list(data.get("tags") or [])
    for name in _JSON_COLUMNS:  # missing in version-1 rows
        data[name] = json.loads(data.get(name) or "{}")
    data["free_names"] = list(data.get("free_names") or [])
    data["context_code"] = data.get("context_code") or ""
    for name in ("created_at", "updated_at", "last_used_at"):
        data[name] = _epoch(data.get(name))
    for name in ("use_count", "success_count", "failure_count", "votes_up", "votes_down"):
        data[name] = int(data.get(name) or 0)
    for name in ("parent_id", "model", "kernel", "source", "language", "embedder"):
        data[name] = data.get(name) or ""
    return Snippet.from_dict(data)


def dedupe(snippets: list[Snippet]) -> list[Snippet]:
    """Drop duplicate ids (concurrent upserts), keeping the most recently updated row."""
    best: dict[str, Snippet] = {}
    for s in snippets:
        kept = best.get(s.id)
        if kept is None or (s.updated_at, s.use_count) > (kept.updated_at, kept.use_count):
            best[s.id] = s
    order = list(dict.fromkeys(s.id for s in snippets))
    return [best[i] for i in order]


def dedupe_scored(scored: list[tuple[Snippet, float]]) -> list[tuple[Snippet, float]]:
    kept = dedupe([s for s, _ in scored])
    score: dict[str, float] = {}
    for s, value in scored:
        score[s.id] = max(value, score.get(s.id, -2.0))
    out = [(s, score[s.id]) for s in kept]
    out.sort(key=lambda pair: -pair[1])
    return out

