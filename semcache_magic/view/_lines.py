"""Short renderings every face shares: one line per snippet, per match, per duration."""

from __future__ import annotations

import time

from ..snippet import Match, Snippet

__all__ = ["age", "describe_match", "evidence_words", "plural", "seconds", "shorten",
           "snippet_line"]


def shorten(text: str, width: int = 70) -> str:
    """``text`` on one line (white space collapsed), cut to ``width`` with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def age(epoch: float, now: float | None = None) -> str:
    """How long ago ``epoch`` was, in the largest whole unit: ``3d``, ``5h``, ``2m``, ``9s``."""
    elapsed = max(0.0, (time.time() if now is None else now) - epoch)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if elapsed >= size:
            return f"{int(elapsed // size)}{unit}"
    return f"{int(elapsed)}s"


def seconds(value: float) -> str:
    """A duration for people: ``850 ms`` below a second, ``2.41 s`` above."""
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def plural(count: int, noun: str) -> str:
    """``1 use``, ``2 uses``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def snippet_line(s: Snippet, *, width: int = 60) -> str:
    """One snippet on one line: id, namespace, source, uses, age, task."""
    return (f"{s.id}  {s.namespace:<18} {s.source:<9} {plural(s.use_count, 'use'):<8} "
            f"{age(s.updated_at or s.created_at):>4}  {shorten(s.task, width)}")


def describe_match(match: Match, *, model_allowed: bool = True) -> str:
    """One line saying what the lookup found and what happens next."""
    snippet = match.snippet
    changes = ", ".join(f"{old} -> {new}" for old, new in match.substitutions)
    untrusted = "" if match.trusted else (
        f"; from {match.namespace}, which you have not trusted: it runs only with --trust")
    if match.tier == "exact" and snippet is not None:
        return (f"exact hit: snippet {snippet.id[:8]} \"{shorten(snippet.task)}\" "
                f"(no model call{untrusted})")
    if match.tier == "slot" and snippet is not None:
        why = evidence_words(match.tier, match.evidence)
        return (f"slot hit: snippet {snippet.id[:8]} with {changes} "
                f"({why}; no model call{untrusted})")
    if match.proposal is not None and snippet is not None:
        then = " -> Claude confirms or corrects it" if model_allowed else ""
        return f"proposed substitution of snippet {snippet.id[:8]}: {changes}{then}"
    parts = ", ".join(f"{k} {v:.2f}" for k, v in match.score_parts.items())
    if match.tier == "semantic" and snippet is not None:
        then = " -> Claude adapts it" if model_allowed else ""
        return f"semantic reference {match.score:.2f} ({parts}): \"{shorten(snippet.task)}\"{then}"
    then = " -> Claude writes fresh code" if model_allowed else ""
    if snippet is not None:
        return f"miss (nearest {match.score:.2f}: \"{shorten(snippet.task, 50)}\"){then}"
    return f"miss{then}"


#: Why code is served without the model, in words (``Match.evidence``).
_EVIDENCE = {"exact": "exact task", "declared": "declared parameters",
             "confirmed": "confirmed by the model",
             "declared+confirmed": "declared parameters, confirmed by the model",
             "proposal": "a substitution to confirm", "model": "written by the model"}
#: What a tier means when the match carries no evidence.
_TIER_WORDS = {"exact": "exact task", "slot": "values substituted",
               "semantic": "similar task", "miss": "nothing close"}


def evidence_words(tier: str, evidence: str = "") -> str:
    """Why the lookup answered as it did, in words: ``declared parameters``, ``similar task``."""
    return _EVIDENCE.get(evidence) or _TIER_WORDS.get(tier, tier)
