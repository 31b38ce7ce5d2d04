"""What crosses the model boundary: requests leave without secrets, answers arrive bounded.

Every request the adapter builds (adapt, generate, repair) passes through here, so
this is the one place that decides what may leave the process: each part (a task, code,
a traceback, a reference) is redacted in its own mode, then the assembled text once more
as the net for everything else. And an answer longer than ``SemCache.max_answer_chars`` is
refused: no endpoint can make us hold, show or run an unbounded program.
"""

from __future__ import annotations

from typing import Any

from ..errors import MalformedAnswerError
from ..task import redact

__all__ = ["redacted_parts", "sendable", "too_long"]


def redacted_parts(*texts: str) -> tuple[list[str], list[str]]:
    """Each text redacted in its own mode (code as code, a traceback as prose), and the
    kinds of secrets removed from all of them."""
    redactions = [redact(text) for text in texts]
    return [r.text for r in redactions], [kind for r in redactions for kind in r.found]


def sendable(content: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The request's text blocks with secrets redacted, and the kinds removed.

    Whatever a caller put in (a task the cache did not clean, a traceback that printed a
    key, a reference from a shared store), nothing secret leaves this process.
    """
    found: list[str] = []
    blocks = []
    for block in content:
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            redaction = redact(block["text"])
            found += redaction.found
            block = {**block, "text": redaction.text}
        blocks.append(block)
    return blocks, found


def too_long(limit: int) -> MalformedAnswerError:
    return MalformedAnswerError(
        f"the model's answer is longer than SemCache.max_answer_chars ({limit:,} characters); "
        "it was not run or saved", hint="split the task, or raise SemCache.max_answer_chars")
