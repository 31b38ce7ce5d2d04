"""Redact credentials before anything is stored or sent to a model.

Tasks, code, outputs and errors pass through :func:`redact`. A secret is replaced by
:data:`PLACEHOLDER` *inside* its string literal (quotes kept) or, on a shell/env line, just its
value, so a redacted cell still parses and the user sees where their own credential goes.

Layers, each adding spans; the spans are then merged and replaced in one pass:

1. **detect-secrets** (the maintained Yelp library, imported on first use so ``%load_ext``
   stays fast): its provider plugins (AWS, Azure, GitHub, GitLab, Stripe, Slack, OpenAI,
   Twilio, JWT, npm, PyPI, SendGrid, Discord, Telegram, ...), its keyword plugin and its
   base64/hex high-entropy plugins, run line by line through each plugin's ``analyze_string``.
   Without the library the layer is skipped and layer 2 still covers the common shapes.
2. **Our rules** (:mod:`._redact_rules`): key prefixes the library lacks (Anthropic, Hugging Face,
   Google, DigitalOcean...), PEM blocks across lines, environment assignments (``os.environ``,
   ``export``, ``%env``, ``set``), HTTP headers, ``user:password@`` URLs, ``auth=(...)``, CLI
   flags, and prose ("my password is hunter", "use the token 'abc'"). :mod:`._redact_scan` cuts
   the text into windows, string literals and base64 words for them.
3. **Joined literals**: ``"sk-ant-" "api03..."`` or ``"sk-" + "..."`` are scanned as one string
   and every piece of a secret found there is redacted.
4. **Base64**: words that decode to printable text are decoded and scanned again.

What decides trust is *where* a span is: provider-shaped secrets count anywhere; secrets found
only from context count, in Python code, only inside string literals, comments and ``!``/``%``
lines, so ``token = tokens[0]`` or ``password = getpass()`` are never touched. Text that does not
parse as Python (tasks, markdown, tracebacks) is judged line by line: a line that parses (a
traceback's source line, half a cell) is held to the code rule, any other line is prose where
every span counts. ``%%bash``/``%%writefile`` cells are data: every span counts.

Speed: only windows around credential words or long token-shaped runs are scanned (a 20,000
character task without either costs ~1 ms), every regex is compiled on first use, and the
detect-secrets plugins run only on lines that can hold what they look for.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ._redact_rules import (
    PLACEHOLDER,
    Finding,
    context_findings,
    name_kind,
    plausible,
    prose_findings,
    sequential,
    strong_findings,
)
from ._redact_scan import RUN, Literal, base64_words, chains, literals, rx, windows

__all__ = ["PLACEHOLDER", "Redaction", "looks_like_secret", "redact", "redact_text",
           "warm_redaction"]

# detect-secrets plugin class -> our kind. Plugins left out: PrivateKeyDetector (it reports the
# "BEGIN ... KEY" marker, not the key: our PEM rule takes the body) and IPPublicDetector (an IP
# address is not a credential).
_DS_KINDS = {
    "ArtifactoryDetector": "artifactory-token", "AWSKeyDetector": "aws-access-key",
    "AzureStorageKeyDetector": "azure-storage-key", "BasicAuthDetector": "connection-password",
    "CloudantDetector": "cloudant-key", "DiscordBotTokenDetector": "discord-token",
    "GitHubTokenDetector": "github-token", "GitLabTokenDetector": "gitlab-token",
    "IbmCloudIamDetector": "ibm-cloud-key", "IbmCosHmacDetector": "ibm-cos-key",
    "JwtTokenDetector": "jwt", "MailchimpDetector": "mailchimp-key", "NpmDetector": "npm-token",
    "OpenAIDetector": "openai-key", "PypiTokenDetector": "pypi-token",
    "SendGridDetector": "sendgrid-key", "SlackDetector": "slack-token",
    "SoftlayerDetector": "softlayer-key", "SquareOAuthDetector": "square-key",
    "StripeDetector": "stripe-key", "TelegramBotTokenDetector": "telegram-token",
    "TwilioKeyDetector": "twilio-key",
}
# These plugins match a credential word and any value next to it (IBM's matches every
# `api_key = '<44 characters>'`), so their values are judged like our keyword rules'.
_DS_CONTEXTUAL = {"connection-password", "ibm-cloud-key", "ibm-cos-key", "softlayer-key",
                  "cloudant-key", "artifactory-token"}
# Entropy limits are the library defaults; length bounds keep digests, base64 images and long
# identifiers out (keys are 20-200 characters).
_B64_LIMIT, _HEX_LIMIT = 4.5, 3.0
_ENTROPY_LENGTH = range(20, 201)
_HEX_CONTEXT = r"(?i)key|secret|token|passw|auth|credential"
_HASH_CONTEXT = r"(?i)hash|sha\d*|md5|digest|checksum|etag|commit|uuid|fingerprint"
# Generic kinds give way to a specific one when spans overlap.
_GENERIC = {"secret": 0, "high-entropy-string": 0, "token": 1, "credential": 1, "api-key": 2,
            "password": 2}
_CELL_MAGIC = r"\s*%%(\w+).*"
_PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug", "python", "python3"}
_CLOSE = {"(": ")", "[": "]", "{": "}"}
_STRINGS = r"'[^'\n]*'|\"[^\"\n]*\""
_QUOTES = r"['\"#]"
# Identifiers that look random but are not secret: `"id": "..."`, `run_id=`, and the prefixes
# of Anthropic/OpenAI object ids (tool use, message, request, batch, file...).
_ID_BEFORE = r"(?i)(?:\b|_)ids?['\"]?\s*[:=]\s*$"
_ID_PREFIXES = ("toolu_", "srvtoolu_", "msg_", "req_", "msgbatch_", "file_", "file-", "call_",
                "chatcmpl-", "run_", "thread_", "asst_", "batch_", "resp_")
_WORDISH = r"(?:[a-z]+|[A-Z][a-z]+|[A-Z]+)(?:v?\d+[A-Za-z]?)?|\d+[A-Za-z]?"
_DIGIT, _UPPER = r"\d", r"[A-Z]"
_KEYWORD_HINT = r"(?i)key|pass|pwd|secret|contrase"
_TOKEN_TAIL = r"[A-Za-z0-9_\-]*"
_LINE_NAME = r"([A-Za-z_][\w\-]*)['\"\]]*\s*(?:[:=!]{1,3}|=>)\s*@?['\"`]?$"


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
    if not text:
        return Redaction(text)
    found = _scan(text) + _base64_findings(text)
    strings = literals(text) if rx(_QUOTES).search(text) else []
    found += _chain_findings(text, strings)
    mode = _mode(text)
    return _apply(text, found if mode == "shell" else _inside(found, text, strings, mode == "code"))


def redact_text(text: str) -> str:
    """Shorthand for ``redact(text).text``."""
    return redact(text).text


def looks_like_secret(value: str) -> bool:
    """Is ``value`` on its own a credential by its shape (a provider key, a JWT, a PEM key,
    a URL with a password)? Our own rules only: cheap enough for every variable of an
    environment, without loading detect-secrets."""
    return any(True for _ in strong_findings(value)) if value else False


def warm_redaction() -> None:
    """Import detect-secrets and compile the rules now (~110 ms), so the first task does not
    wait for them (``%load_ext`` calls this in its background thread)."""
    redact("password = 'Tr0ub4dor&3' # token: ghp_0000 https://u:p4ss@h AKIA")


def _mode(text: str) -> str:
    """"code" (Python: contextual spans only in strings/comments), "shell" (a %%bash or
    %%writefile cell: data, every span counts) or "prose" (judged line by line)."""
    magic = rx(_CELL_MAGIC).match(text)
    if magic and magic.group(1) not in _PYTHON_CELL_MAGICS and not magic.group(0).endswith(".py"):
        return "shell"
    # Magic and shell lines are IPython, not Python: blank them before asking the parser.
    source = re.sub(r"(?m)^[ \t]*[!%?].*$", "", text)
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        return "prose"
    return "code" if source.strip() else "prose"


def _scan(text: str) -> list[Finding]:
    # Every layer runs on prose and code alike; in code, _inside() narrows the spans later.
    found: list[Finding] = []
    for lo, hi in windows(text, words=False):
        part = text[lo:hi]
        for f in (*strong_findings(part), *_library_findings(part, words=False)):
            found.append(f._replace(start=f.start + lo, end=f.end + lo))
    for lo, hi in windows(text, words=True):
        part = text[lo:hi]
        for f in (*context_findings(part), *prose_findings(part),
                  *_library_findings(part, words=True)):
            found.append(f._replace(start=f.start + lo, end=f.end + lo))
    return found


# ---- detect-secrets --------------------------------------------------------------------------


@cache
def _plugins() -> tuple[list[tuple[Any, str]], Any, Any, Any] | None:
    """Plugin instances and the entropy plugins, built once; None without the library."""
    try:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
        from detect_secrets.plugins.high_entropy_strings import (
            Base64HighEntropyString,
            HexHighEntropyString,
        )
        from detect_secrets.plugins.keyword import KeywordDetector
    except ImportError:
        return None
    classes: list[Any] = list(get_mapping_from_secret_type_to_class().values())
    regex = [(cls(), _DS_KINDS[cls.__name__]) for cls in classes if cls.__name__ in _DS_KINDS]
    return (regex, KeywordDetector(), Base64HighEntropyString(_B64_LIMIT),
            HexHighEntropyString(_HEX_LIMIT))


def _library_findings(text: str, words: bool) -> list[Finding]:
    """The keyword plugin (``words``) or the provider and entropy plugins, line by line."""
    plugins = _plugins()
    if plugins is None:
        return []
    from detect_secrets.filters.heuristic import (
        is_likely_id_string,
        is_potential_uuid,
        is_sequential_string,
    )

    regex, keyword, b64, hexa = plugins
    out: list[Finding] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        # analyze_string, not analyze_line/scan_line: those read global settings, may call a
        # provider's verify() over the network, and scan_line also searches unquoted strings.
        # Provider shapes need a long token (or a URL): other lines are skipped, for speed.
        shaped = not words and (rx(RUN).search(line) is not None or "://" in line)
        for plugin, kind in regex if shaped else ():
            for value in plugin.analyze_string(line):
                value = re.split(r"['\"\s]", value)[0].removeprefix("AccountKey=")
                if kind == "aws-access-key" and len(value) == 40:  # its secret-key pattern
                    out += _spans(line, offset, value, "aws-secret-key", strong=True)
                elif kind in _DS_CONTEXTUAL:  # keyword plugins in disguise: judge the value
                    if plausible(value, "password" if "password" in kind else "api-key", True):
                        out += _spans(line, offset, value, kind)
                else:
                    out += _spans(line, offset, value, kind, strong=True)
        # The keyword plugin's regexes cost ~1.4 us a character: only lines with its words.
        hinted = words and rx(_KEYWORD_HINT).search(line)
        for value in keyword.analyze_string(line) if hinted else ():
            start = line.find(value)
            name = rx(_LINE_NAME).search(line[:start]) if start >= 0 else None
            kind = (name_kind(name.group(1)) if name else None) or "secret"
            if plausible(value, kind, quoted=True):
                out += _spans(line, offset, value, kind)
        for plugin, limit in ((b64, _B64_LIMIT), (hexa, _HEX_LIMIT)) if shaped else ():
            hexy = rx(_HEX_CONTEXT).search(line) and not rx(_HASH_CONTEXT).search(line)
            if plugin is hexa and not hexy:
                continue  # bare hex is far more often a digest than a credential
            for value in plugin.analyze_string(line):
                if (
                    len(value) in _ENTROPY_LENGTH
                    and plugin.calculate_shannon_entropy(value) > limit
                    and not is_sequential_string(value)
                    and not is_potential_uuid(value)
                    and not is_likely_id_string(value, line)
                    and not sequential(value)
                    and not rx(_ID_BEFORE).search(line, 0, max(line.find(value) - 1, 0))
                    and not value.startswith(_ID_PREFIXES)
                    and not _wordy(value)
                    and (plugin is hexa or (rx(_DIGIT).search(value) and rx(_UPPER).search(value)))
                ):
                    out += _spans(line, offset, value, "high-entropy-string")
        offset += len(line)
    return out


def _wordy(value: str) -> bool:
    """Made of words rather than one random stretch: a model id ("naver-hyperclovax/HyperCLOVAX-
    SEED-Think-14B", "PekingU/PPDocLayoutV2_r50vd") or a class name ("Qwen2_5OmniToken2Wav...")."""
    parts = re.split(r"[-_/.]+", value)
    words = sum(1 for part in parts if rx(_WORDISH).fullmatch(part))
    if len(parts) >= 3 and max(map(len, parts)) <= 16 and 2 * words >= len(parts):
        return True
    if value.count("/") == 1 and rx(r"[-_.]").search(value):  # org/name; AWS keys have no -_.
        return True
    return len(rx(r"[A-Z](?=[a-z]{3})[a-z]*[aeiou][a-z]*").findall(value)) >= 3


def _spans(line: str, offset: int, value: str, kind: str, strong: bool = False) -> list[Finding]:
    """Every place ``value`` stands in ``line`` as a whole word (str.find: no regex per value)."""
    if len(value) < 3 or PLACEHOLDER in value:
        return []
    out, at = [], line.find(value)
    while at >= 0:
        end = at + len(value)
        before, after = line[at - 1 : at] if at else "", line[end : end + 1]
        whole = not (value[0].isalnum() and before.isalnum()) and (
            strong or not (value[-1].isalnum() and after.isalnum())
        )
        if whole:
            out.append(Finding(offset + at, offset + end, kind, strong))
        at = line.find(value, end)
    return out


# ---- joined literals and base64 ----------------------------------------------------------------


def _chain_findings(text: str, strings: list[Literal]) -> list[Finding]:
    out: list[Finding] = []
    for run in chains(text, strings):
        joined = "".join(text[lit.start : lit.end] for lit in run)
        first = run[0]
        # Keep the name before the first piece so `key = ("sk-" "...")` reads `key = "sk-..."`.
        before = text[max(0, first.start - len(first.quote) - 80) : first.start - len(first.quote)]
        prefix = re.sub(r"[\s(\\]+", " ", before).rstrip() + " " + first.quote
        flat = prefix + joined + first.quote
        for hit in _scan(flat):
            lo, hi = max(hit.start - len(prefix), 0), min(hit.end - len(prefix), len(joined))
            pieces = _pieces(run, text, lo, hi)
            if len(pieces) > 1:  # inside one piece the plain scan already has it
                out += [f._replace(kind=hit.kind if i == 0 else "", strong=hit.strong)
                        for i, f in enumerate(pieces)]
    return out


def _pieces(run: list[Literal], text: str, lo: int, hi: int) -> list[Finding]:
    """Map ``joined[lo:hi]`` back onto the literals it was joined from."""
    out, at = [], 0
    for lit in run:
        size = lit.end - lit.start
        start, end = max(lo, at), min(hi, at + size)
        if start < end:
            out.append(Finding(lit.start + start - at, lit.start + end - at, ""))
        at += size
    return out


def _base64_findings(text: str) -> list[Finding]:
    out = []
    for start, end, decoded in base64_words(text):
        hits = [h for h in _scan(decoded) if h.kind != "high-entropy-string"]
        if hits:
            out.append(Finding(start, end, "base64-" + hits[0].kind, hits[0].strong))
    return out


# ---- where a span may be replaced, and the replacement -------------------------------------------


def _regions(text: str, strings: list[Literal]) -> list[tuple[int, int]]:
    """String bodies, comments and shell/magic lines: where contextual spans may sit in code."""
    spans = [(lit.start, lit.end) for lit in strings]
    spans += [m.span() for m in re.finditer(r"(?m)^[ \t]*[!%].*$", text)]
    return sorted(spans)


def _line_regions(text: str, lo: int) -> list[tuple[int, int]] | None:
    """In prose, the regions of one line if it is a line of code (a traceback's source line, a
    cell cut in half), or None for a line of prose."""
    hi = text.find("\n", lo)
    line = text[lo : len(text) if hi < 0 else hi]
    if not _code_line(line.strip()):
        return None
    return [(lo + lit.start, lo + lit.end) for lit in literals(line)]


def _code_line(line: str) -> bool:
    """Does one line parse as Python, once the brackets a multi-line call leaves open or
    closes are balanced (``password = Unicode(``, ``"s3",``, ``)``)?"""
    if line.startswith("#"):
        return True
    body = rx(_STRINGS).sub('""', line)
    opened: list[str] = []
    head = ""
    for char in body:
        if char in "([{":
            opened.append(_CLOSE[char])
        elif char in ")]}":
            if opened and opened[-1] == char:
                opened.pop()
            else:
                head = {")": "(", "]": "[", "}": "{"}[char] + head
    source = head + line.rstrip(",\\ ") + "".join(reversed(opened))
    try:
        ast.parse(source + " pass" if source.endswith(":") else source)
    except (SyntaxError, ValueError):
        return False
    return True


def _inside(found: list[Finding], text: str, strings: list[Literal], code: bool) -> list[Finding]:
    """Keep strong spans, and contextual spans in prose or in a string/comment of code."""
    regions = _regions(text, strings) if code else []
    by_line: dict[int, list[tuple[int, int]] | None] = {}
    kept = []
    for f in found:
        spans: list[tuple[int, int]] | None = regions
        if not code:
            lo = text.rfind("\n", 0, f.start) + 1
            if lo not in by_line:
                by_line[lo] = _line_regions(text, lo)
            spans = by_line[lo]
        if f.strong or spans is None:
            kept.append(f)
            continue
        for start, end in spans:
            if start <= f.start < end:
                kept.append(f._replace(end=min(f.end, end)))  # never run past a closing quote
                break
    return kept


def _rank(kind: str) -> int:
    # "" marks the tail of a split secret: it absorbs what else was found there, so a secret in
    # pieces is reported once.
    return 9 if not kind else _GENERIC.get(kind, 3)


def _apply(text: str, found: list[Finding]) -> Redaction:
    merged: list[list[Any]] = []
    for f in sorted(found):
        end = f.end
        tail = rx(_TOKEN_TAIL).match(text, f.end)
        if tail and f.strong and f.kind and not f.kind.startswith(("private-key", "connection")):
            end = tail.end()  # a library pattern of fixed length may stop short of the token
        if merged and f.start <= merged[-1][1]:
            last = merged[-1]
            last[1] = max(last[1], end)
            if _rank(f.kind) > _rank(last[2]):
                last[2] = f.kind
        else:
            merged.append([f.start, end, f.kind])
    out, at = [], 0
    for start, end, _ in merged:
        out += [text[at:start], PLACEHOLDER]
        at = end
    out.append(text[at:])
    return Redaction("".join(out), [kind for *_, kind in merged if kind])
