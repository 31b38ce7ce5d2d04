"""How the local model server answers when a test scripted nothing: the built-in rule.

Adapt requests get the reference code with the new task's literals substituted
(a plain text substitution: good enough for a demo, and deliberately not the
cache's own slot logic); generate requests look the task up in ``answers``;
repair requests get the failing code back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..model import UNCHANGED_TOKEN, extract_section
from ..task import Literal, analyse_task

__all__ = [
    "ERROR_TYPES", "Reply", "default_reply", "substitute_literals", "task_key", "text_blocks",
    "texts", "user_text",
]

#: The ``error.type`` the real API sends with each status.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
    500: "api_error", 529: "overloaded_error",
}

@dataclass
class Reply:
    """One scripted answer: text, an error status, a delay, or a garbage body."""

    text: str = ""
    status: int = 200
    error_type: str | None = None
    message: str = ""
    delay: float = 0.0  # seconds before the status line: longer than the client's timeout
    raw: bytes | None = None  # sent as is, instead of a Messages-API body
    content_type: str = "application/json"
    stop_reason: str = "end_turn"
    mid_stream: bool = False  # a streamed error arrives as an SSE `error` event after 200
    chunk_delay: float = 0.0  # seconds between streamed text deltas (for demos)
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def error(
        cls, status: int, message: str = "", *, error_type: str | None = None,
        mid_stream: bool = False,
    ) -> Reply:
        kind = error_type or ERROR_TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        return cls(status=status, error_type=kind, message=message or kind.replace("_", " "),
                   mid_stream=mid_stream)

    @classmethod
    def slow(cls, text: str, delay: float) -> Reply:
        return cls(text=text, delay=delay)

    @classmethod
    def garbage(
        cls, body: str | bytes = "this is not JSON", *, status: int = 200,
        content_type: str = "application/json",
    ) -> Reply:
        raw = body.encode("utf-8") if isinstance(body, str) else body
        return cls(status=status, raw=raw, content_type=content_type)

    def error_body(self) -> dict[str, Any]:
        return {"type": "error", "error": {"type": self.error_type, "message": self.message}}


def default_reply(body: dict[str, Any], answers: Mapping[str, str] | None = None) -> Reply:
    """The built-in rule: adapt by literal substitution, generate from ``answers``, repair as is."""
    text = user_text(body)
    reference_code = extract_section(text, "reference_code")
    context = extract_section(text, "reference_context")
    if reference_code is not None and context:  # a notebook cell runs after its context
        reference_code = f"{context}\n\n{reference_code}"
    task = extract_section(text, "task") or text.strip() or "(empty task)"
    if reference_code is not None:
        old = analyse_task(extract_section(text, "reference_task") or "?").literals
        new = analyse_task(task).literals
        if old == new:
            return Reply(text=UNCHANGED_TOKEN)
        same_shape = len(old) == len(new)  # else: no safe mapping; answer the reference as is
        code = substitute_literals(reference_code, old, new) if same_shape else reference_code
        return Reply(text=_fenced(code))
    failing = extract_section(text, "code")
    if failing is not None and extract_section(text, "error") is not None:
        return Reply(text=_fenced(failing))
    answer = dict(answers or {}).get(task_key(task))
    if answer is None:
        answer = f"print({'semcache model server: no scripted answer for: ' + task!r})"
    return Reply(text=_fenced(answer))


def substitute_literals(code: str, old: Sequence[Literal], new: Sequence[Literal]) -> str:
    """Replace each old literal in ``code`` by the new one at the same position, in one pass."""
    queues: dict[str, list[str]] = {}
    patterns: list[str] = []
    for before, after in zip(old, new, strict=False):  # callers check the lengths
        if before.text not in queues:
            queues[before.text] = []
            escaped = re.escape(before.text)
            patterns.append(
                rf"(?<![\w.]){escaped}(?![\w]|\.\d)" if before.kind == "number"
                else rf"(?<=['\"]){escaped}(?=['\"])"
            )
        queues[before.text].append(_code_text(after))
    if not patterns:
        return code

    def swap(match: re.Match[str]) -> str:
        queue = queues[match.group(0)]
        return queue.pop(0) if len(queue) > 1 else queue[0]  # repeats keep the last value

    return re.sub("|".join(f"(?:{p})" for p in patterns), swap, code)


def _code_text(literal: Literal) -> str:
    if literal.kind == "number":
        return literal.text
    return literal.text.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"')


def _fenced(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


def task_key(task: str) -> str:
    try:
        return analyse_task(task).normalised
    except ValueError:  # an empty task has no key; it simply never matches
        return ""


def text_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [b for b in content if isinstance(b, dict) and b.get("type") == "text"]
    return []


def texts(content: Any) -> list[str]:
    return [str(b.get("text", "")) for b in text_blocks(content)]


def user_text(body: Any) -> str:
    messages = body.get("messages", []) if isinstance(body, dict) else []
    return "\n".join(t for m in messages if isinstance(m, dict) for t in texts(m.get("content")))
