"""Redact credentials before anything is stored.

Tasks, code and outputs pass through :func:`redact` on their way into the
store. A secret is replaced by :data:`PLACEHOLDER` in a way that keeps code
parseable (a quoted secret stays a quoted string), so the snippet still runs
and the user sees where to put their own credential.

Covered: Anthropic/OpenAI-style ``sk-`` keys, AWS access key ids, GitHub,
Slack and Google API tokens, JWTs, ``Bearer`` tokens, PEM private keys,
passwords in connection strings (``postgres://user:pw@host``), and quoted
values assigned to names such as ``password``, ``secret``, ``token``,
``api_key`` (``api_key="..."``, ``{"password": "..."}``, ``password: hunter2``).
Values read from the environment (``os.environ["TOKEN"]``) are left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["PLACEHOLDER", "Redaction", "redact", "redact_text"]

PLACEHOLDER = "<redacted>"

# Token shapes that are secrets wherever they appear.
_TOKEN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private key",
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL
        ),
    ),
    ("anthropic key", re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{16,}")),
    ("api key", re.compile(r"\bsk-(?:proj-|live-|test-)?[A-Za-z0-9_\-]{20,}")),
    ("aws access key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}\b")),
    ("github token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,})")),
    ("slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("google api key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("bearer token", re.compile(r"(?i)(?<=\bbearer )[A-Za-z0-9\-._~+/]{8,}=*")),
)

# Names whose values are credentials. A whole identifier must end in one of
# these words, so `max_tokens` or `token_count` are not matched.
_SECRET_NAME = (
    r"[A-Za-z_]*(?:password|passwd|passphrase|pwd|secret|secret_key|token|api_?key|apikey|"
    r"access_?key|private_?key|client_secret|credentials?|auth)"
)
# name = "value" / name: 'value' / "name": "value" / name="value" (kwargs)
_QUOTED_ASSIGNMENT = re.compile(
    r"""(?ix)
    (?P<name>\b""" + _SECRET_NAME + r"""\b["']?\s*[:=]\s*)
    (?P<quote>[rbuRBU]{0,2}(?:'''|\"\"\"|'|"))
    (?P<value>(?:(?!(?P=quote)).){1,512}?)
    (?P=quote)
    """
)
# Prose: "password hunter2", "password: hunter2", "token=abc123" (unquoted, in tasks).
_PROSE_ASSIGNMENT = re.compile(
    r"(?i)(?P<name>\b(?:password|passwd|passphrase|secret|token|api[ _-]?key|apikey)"
    r"\b\s*(?:[:=]|\bis\b)?\s*)(?P<value>(?=[^\s\"'`]*\d)[^\s\"'`,;]{4,})"
)
_CONNECTION_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.\-]*://[^:/\s@]+:)(?P<pw>[^@\s/]+)(?=@)")


@dataclass
class Redaction:
    """The redacted text and what kinds of secrets were removed."""

    text: str
    found: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.found)


def redact(text: str) -> Redaction:
    """Return ``text`` with credentials replaced by :data:`PLACEHOLDER`."""
    found: list[str] = []

    for kind, pattern in _TOKEN_PATTERNS:
        text, count = pattern.subn(PLACEHOLDER, text)
        found.extend([kind] * count)

    def quoted(match: re.Match[str]) -> str:
        value = match.group("value")
        if value == PLACEHOLDER or not value.strip() or value.startswith(("<", "${", "{")):
            return match.group(0)  # empty, already redacted, or a template placeholder
        found.append("assigned secret")
        return f"{match.group('name')}{match.group('quote')}{PLACEHOLDER}{match.group('quote')}"

    text = _QUOTED_ASSIGNMENT.sub(quoted, text)

    def connection(match: re.Match[str]) -> str:
        if match.group("pw") == PLACEHOLDER:
            return match.group(0)
        found.append("connection password")
        return match.group("head") + PLACEHOLDER

    text = _CONNECTION_PASSWORD.sub(connection, text)

    def prose(match: re.Match[str]) -> str:
        value = match.group("value")
        if PLACEHOLDER in value or value.startswith(("os.", "getpass", "input(", "<")):
            return match.group(0)
        found.append("assigned secret")
        return match.group("name") + PLACEHOLDER

    text = _PROSE_ASSIGNMENT.sub(prose, text)
    return Redaction(text=text, found=found)


def redact_text(text: str) -> str:
    """Shorthand for ``redact(text).text``."""
    return redact(text).text
