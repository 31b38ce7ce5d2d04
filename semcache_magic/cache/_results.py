"""What cache operations return, and the content hash that names a snippet's code."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..snippet import Snippet

__all__ = ["SavedSnippet", "ScoredSnippet", "code_hash"]


@dataclass
class SavedSnippet:
    """What :meth:`SnippetCache.save` (or :meth:`SnippetCache.edit`) did.

    ``replaced`` is the id of the snippet an edit replaced (empty otherwise).
    """

    snippet: Snippet
    created: bool
    redacted: list[str]
    replaced: str = ""


@dataclass
class ScoredSnippet:
    """A search hit."""

    snippet: Snippet
    score: float
    parts: dict[str, float]


#: Ids sharing a typed prefix that are read to tell them apart (4 hex characters already
#: single out one snippet in 65,536; more are listed only to say the prefix is ambiguous).
_PREFIX_CANDIDATES = 50


def code_hash(code: str) -> str:
    """Hash of the code with trailing white space ignored."""
    canonical = "\n".join(line.rstrip() for line in code.strip().splitlines())
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
