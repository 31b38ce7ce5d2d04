"""How a text is cut up before the rules look at it: windows, literals, joins, base64.

Stdlib only, and every regex is compiled on first use (:func:`rx`): importing is nearly free.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import NamedTuple


@cache
def rx(pattern: str) -> re.Pattern[str]:
    """Compile on first use: the rule tables take ~10 ms to compile, which ``%load_ext`` (and
    anything else that only imports this module) should not pay."""
    return re.compile(pattern)


# Where a secret can be: near a credential word, or a long token-shaped run. Text outside
# every window is skipped, which is what keeps a 20,000-character task fast.
# Plain substrings found with str.find on the lower-cased text: one regex alternation over
# 20,000 characters costs ~5 ms, these finds a few microseconds.
_TRIGGERS = ("pass", "pwd", "secret", "token", "key", "auth", "cred", "cookie", "bearer", "sas",
             "sig=", "aws", "login", "--user", " -u ", "pin", "contrase")
# The lookbehind makes the scan fail at once inside a word instead of re-counting it.
RUN = r"(?<![A-Za-z0-9_\-+/=])[A-Za-z0-9_\-+/=]{16,}"
_LONG_LINE = 1000
_LONGEST_TOKEN = 1024


def windows(text: str, words: bool) -> list[tuple[int, int]]:
    """Merged spans worth scanning: around credential words (``words``) or token-shaped runs.

    A span is its whole line, or a bounded stretch of a line longer than 1000 characters.
    """
    low = text.lower()
    spans = []
    for word in _TRIGGERS if words else ("://", "private"):
        at = low.find(word)
        while at >= 0:
            spans.append((at - 100, at + len(word) + 400))
            at = low.find(word, at + 400)  # the window already covers what follows
    if not words:
        # A run longer than any credential is data (a base64 image in an output): skipping it
        # keeps a 100 KB image from being scanned by every provider pattern (~1 s).
        spans += [
            (m.start() - 100, m.end() + 40)
            for m in rx(RUN).finditer(text)
            if m.end() - m.start() <= _LONGEST_TOKEN
        ]
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        lo, hi = max(lo, 0), min(hi, len(text))
        line_lo = text.rfind("\n", 0, lo) + 1
        line_hi = text.find("\n", hi)
        line_hi = len(text) if line_hi < 0 else line_hi
        if line_hi - line_lo <= _LONG_LINE:
            lo, hi = line_lo, line_hi  # whole lines: line-anchored rules and names see all
        else:  # start at a word boundary, but never more than 100 characters further back
            space = text.rfind(" ", max(lo - 100, line_lo), lo)
            lo = space + 1 if space >= 0 else lo
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


class Literal(NamedTuple):
    """A string literal's body at ``text[start:end]`` (quotes excluded), or a comment."""

    start: int
    end: int
    quote: str  # "" for a comment


_LITERAL = (
    r"(?s)(?P<comment>\#[^\n]*)"
    r"|(?P<q3>'''|\"\"\")(?P<b3>(?:\\.|[^\\])*?)(?P=q3)"
    r"|(?P<q1>['\"])(?P<b1>(?:\\.|(?!(?P=q1))[^\\\n])*)(?P=q1)"
)


def literals(text: str, comments: bool = True) -> list[Literal]:
    """String literals and comments in order, as a tokenizer would see them in valid code."""
    out: list[Literal] = []
    for match in rx(_LITERAL).finditer(text):
        if match.group("comment") is not None:
            if comments:
                out.append(Literal(*match.span(), ""))
        elif match.group("q3") is not None:
            out.append(Literal(*match.span("b3"), match.group("q3")))
        else:
            out.append(Literal(*match.span("b1"), match.group("q1")))
    return out


_JOINER = r"(?:\s|\\\n)*\+?(?:\s|\\\n)*"


def chains(text: str, found: list[Literal]) -> Iterator[list[Literal]]:
    """Runs of literals joined implicitly ("a" "b") or with ``+``: split secrets hide there.

    Across a line break only inside brackets or after a backslash, as Python joins them: two
    statements in a row (``X = "a"`` then a docstring) are not one string.
    """
    run: list[Literal] = []
    depth, pos = 0, 0
    for lit in found:
        opening = lit.start - len(lit.quote)
        gap = rx(r"(?<!\w)[rRbBuUfF]{1,2}$").sub("", text[pos:opening])  # the literal's prefix
        joined = bool(run) and lit.quote and rx(_JOINER).fullmatch(gap) is not None
        if joined and "\n" in gap and depth <= 0 and "\\\n" not in gap:
            joined = False
        depth += sum(gap.count(c) for c in "([{") - sum(gap.count(c) for c in ")]}")
        pos = lit.end + len(lit.quote)
        if joined:
            run.append(lit)
            continue
        if len(run) > 1:
            yield run
        run = [lit] if lit.quote else []  # a comment ends a run
    if len(run) > 1:
        yield run


_HEX = r"[0-9a-fA-F]+"


def base64_words(text: str) -> Iterator[tuple[int, int, str]]:
    """Words that decode from base64 to printable text, with the decoded text."""
    import base64
    import binascii

    seen: dict[str, str | None] = {}
    for match in rx(RUN).finditer(text):
        word = match.group()
        if word not in seen:
            seen[word] = None
            if len(word) > 512 or rx(_HEX).fullmatch(word) or word.islower():
                continue  # hex digests and lower-case identifiers are not base64 payloads
            padded = word.replace("-", "+").replace("_", "/") + "=" * (-len(word) % 4)
            try:
                decoded = base64.b64decode(padded, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                continue
            if len(decoded) >= 8 and decoded.isprintable():
                seen[word] = decoded
        decoded_word = seen[word]
        if decoded_word is not None:
            yield match.start(), match.end(), decoded_word
