"""Our own secret rules: the shapes detect-secrets misses, and the fallback without it.

Everything here is standard library and pure: each rule turns a text into :class:`Finding`
spans (character offsets of the secret *value* only, never of the quotes or the name around
it), and :mod:`._redact` decides which spans to keep and replaces them.

Two kinds of rule:

* *strong* shapes (provider key prefixes, PEM bodies, JWTs) are secrets wherever they stand;
* *contextual* rules need a name or a word next to the value (``password = "..."``,
  ``export API_KEY=...``, ``Authorization: Bearer ...``, "my password is hunter"). In code
  they only count inside string literals, comments and shell/magic lines, so a variable
  called ``token`` is never rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import NamedTuple

from ._redact_scan import rx

PLACEHOLDER = "<redacted>"


class Finding(NamedTuple):
    """A secret value at ``text[start:end]``; ``kind`` is "" for the tail of a split secret."""

    start: int
    end: int
    kind: str
    strong: bool = False


# Provider shapes: specific enough to be secrets anywhere. A "value" group narrows the span.
# Each has gates: lower-case substrings one of which must be in the text for the pattern to run
# (a substring test is ~1000x cheaper than a regex scan of a long text).
STRONG: tuple[tuple[str, tuple[str, ...], str], ...] = tuple(
    (kind, tuple(gates.split()), "".join(pattern))
    for kind, gates, *pattern in (
        ("private-key", "private",
         r"(?s)-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?P<value>.+?)",
         r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|(?=['\"`])|\Z)"),
        ("anthropic-key", "sk-ant-", r"\bsk-ant-[A-Za-z0-9_\-]{16,}"),
        # Bare "sk-" needs a digit, so that "sk-learn-compatible-estimator" is left alone.
        ("openai-key", "sk-", r"\bsk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{20,}",
         r"|(?=[A-Za-z_\-]*\d)[A-Za-z0-9_\-]{20,})"),
        ("stripe-key", "k_live_ k_test_ whsec_",
         r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|\bwhsec_[A-Za-z0-9]{24,}"),
        ("huggingface-token", "hf_ api_org_",
         r"\b(?:hf_[A-Za-z0-9]{30,}|api_org_[A-Za-z0-9]{30,})"),
        ("gitlab-token", "gl",
         r"\bgl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-[A-Za-z0-9_\-]{20,}"),
        ("github-token", "gh github_pat_",
         r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"),
        ("google-api-key", "aiza gocspx- ya29.", r"\bAIza[0-9A-Za-z_\-]{35}",
         r"|\bGOCSPX-[A-Za-z0-9_\-]{24,}|\bya29\.[0-9A-Za-z_\-]{20,}"),
        ("slack-token", "xox xapp-",
         r"\bxox[abposre]-[A-Za-z0-9\-]{10,}|\bxapp-\d-[A-Za-z0-9\-]{10,}"),
        ("slack-webhook", "hooks.slack.com",
         r"hooks\.slack\.com/(?:services|workflows)/(?P<value>[A-Za-z0-9_/]{20,})"),
        ("discord-webhook", "discord",
         r"discord(?:app)?\.com/api/webhooks/(?P<value>\d+/[A-Za-z0-9_\-]{20,})"),
        ("discord-token", ".",
         r"\b[MNO][A-Za-z\d_\-]{23,25}\.[A-Za-z\d_\-]{6}\.[A-Za-z\d_\-]{27,}"),
        ("telegram-token", ":aa", r"\b\d{8,10}:AA[0-9A-Za-z_\-]{33}\b"),
        ("aws-access-key", "akia asia abia acca a3t",
         r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b"),
        ("twilio-key", "sk ac", r"\b(?:SK|AC)[0-9a-f]{32}\b"),
        ("sendgrid-key", "sg.", r"\bSG\.[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{30,50}"),
        ("npm-token", "npm_ _authtoken",
         r"\bnpm_[A-Za-z0-9]{36}\b|_authToken=(?P<value>[^\s'\"]+)"),
        ("pypi-token", "pypi-", r"\bpypi-AgE[A-Za-z0-9_\-]{50,}"),
        ("digitalocean-token", "_v1_", r"\bdo[opr]_v1_[a-f0-9]{64}\b"),
        ("mailgun-key", "key-", r"\bkey-[0-9a-f]{32}\b"),
        ("mailchimp-key", "-us", r"\b[0-9a-f]{32}-us\d{1,2}\b"),
        ("databricks-token", "dapi", r"\bdapi[a-f0-9]{32}\b"),
        ("api-key", "gsk_ r8_ pplx- xai- shp",  # Groq, Replicate, Perplexity, xAI, Shopify
         r"\b(?:gsk_[A-Za-z0-9]{40,}|r8_[A-Za-z0-9]{30,}|pplx-[A-Za-z0-9]{40,}",
         r"|xai-[A-Za-z0-9]{40,}|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})"),
        ("jwt", "eyj", r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
        ("azure-storage-key", "accountkey= sharedaccesskey=",
         r"(?i)\b(?:AccountKey|SharedAccessKey)=(?P<value>[A-Za-z0-9+/=]{20,})"),
        ("azure-sas", "sharedaccesssignature= sig=",
         r"(?i)\bSharedAccessSignature=(?P<value>[^;'\"\s]+)",
         r"|[?&]sig=(?P<sig>[A-Za-z0-9%+/=]{16,})"),
        ("connection-password", "://",
         r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/\s@'\"]*:(?P<value>[^@\s'\"/]+)@"),
    )
)

# Words that make an identifier a credential name, judged on its last segment.
_SECRET_LAST = {
    "password": "password", "passwd": "password", "passphrase": "password", "pwd": "password",
    "secret": "secret", "token": "token", "apikey": "api-key", "credential": "credential",
    "credentials": "credential", "sas": "azure-sas",
}
# "key" alone is a dict key or a sort key; these words make it a credential.
_KEY_QUALIFIERS = {
    "api", "access", "secret", "private", "account", "auth", "client", "master", "signing",
    "encryption", "subscription", "service", "storage", "app", "consumer", "shared", "license",
    "deploy", "admin",
}
_PASS_QUALIFIERS = {"db", "user", "admin", "root", "smtp", "mail", "email", "ftp", "proxy", "sql"}
# NLP vocabulary: `eos_token = "</s>"` and friends are not credentials.
_NOT_SECRET_TOKENS = {
    "eos", "bos", "pad", "unk", "sep", "cls", "mask", "special", "start", "end", "stop", "split",
    "first", "last", "current", "next", "prev", "new", "max", "min", "num", "word", "sub", "added",
    "extra", "image", "vision", "prefix", "suffix", "middle", "fill", "eot", "eom", "unknown",
    "padding", "separator", "boi", "eoi", "bot",
}


@cache
def name_kind(name: str) -> str | None:
    """The kind of secret an identifier or header name holds, or None if it is not one."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    parts = [p for p in re.split(r"[^a-z0-9]+", words) if p]
    if not parts or "public" in parts:  # publicKeyToken, public_key: published on purpose
        return None
    last, prev = parts[-1], (parts[-2] if len(parts) > 1 else "")
    if last == "key":
        if prev not in _KEY_QUALIFIERS:
            return None
        return "aws-secret-key" if "aws" in parts and "secret" in parts else "api-key"
    if last == "pass":
        return "password" if prev in _PASS_QUALIFIERS else None  # not "First pass: ..."
    if last == "token" and prev in _NOT_SECRET_TOKENS:
        return None
    kind = _SECRET_LAST.get(last)
    if kind == "secret" and "aws" in parts:
        return "aws-secret-key"
    return kind


# Words that follow "password is" in ordinary English, not passwords.
_STOPWORD_TEXT = """a an the is are was were be been being not no yes none null nil true false
    undefined empty blank required optional missing wrong invalid incorrect correct valid expired
    set unset stored hidden needed provided given used saved hashed encrypted changed reset field
    fields
    column hash protected ok same different too very from in on for of to and or with that this
    it as at by here there below above following variable env environment prompt input secure
    strong weak length policy manager please your my our their his her its also only then when
    if else should must can could will would may might read loaded sent kept shown printed
    passed needs correctly still now just again always never already fine good bad new old
    string str int value values name names key keys token tokens secret secrets password
    passwords credential credentials file files like authentication based specified bearer
    basic digest apikey negotiate ntlm otp"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# "{token}", "<your key>", "${TOKEN}", "%s", "****", "xxxx": templates and masks; "[MASK2]",
# "|NEWLINE|", "<|endoftext|>": a tokenizer's special tokens.
_TEMPLATE = r"(?i)^(?:\{.*\}|.*<.*>.*|\[.*\]|\|.*\||\$.*|%\(?\w*\)?[sdr]|\*+|x{3,}|\.{3,}|…)$"
_PATHLIKE = (
    r"(?i)^(?:~?/|\.{1,2}/|[A-Za-z]:\\)"
    r"|\.(?:json|txt|pem|key|ya?ml|ini|cfg|env|csv|p12|crt|toml|py)$"
)
# Values that only say where a key goes: "your_api_key_here", "<YOUR-TOKEN>", "changeme".
# Test fixtures use words ("testing", "my-secret") that say they are fakes.
_DUMMY = (
    r"(?i)^(?:your|insert|enter|replace|put|paste|add)(?:[_\- ]|$)|[_\- ]here$"
    r"|^(?:fake|dummy|mock|sample|example)"
    r"|^(?:changeme|change_me|placeholder|redacted|todo|tbd|none|test|testing|foo|bar|baz|foobar|"
    r"pass|password|secret|token|postgres|root|admin|guest|user|username|blah|"
    r"(?:my|your|some|the)[_\- ]?(?:secret|password|pass|token|key|api[_\- ]?key))\d*$"
)
# Names, not values: "IPython.core.magics.osm:OSMagics", "AWS_ACCESS_KEY_ID" (the name of an
# environment variable), "secrets-manager", "AWSAccessKeyId". Generated keys mix in digits.
_NAMELIKE = (
    r"^(?:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?::\w+)?|[A-Z]+(?:_[A-Z]+)+|"
    r"[a-z]+(?:[_\-][a-z]+)+|[A-Z]*(?:[A-Z][a-z]+){2,})$"
)
# Unquoted English after "is": "the token is masked", "password is missing".
_ENGLISH_SUFFIX = r"(?:ed|ing|ly|able|ible|tion)$"
# Unquoted values that are code reading a secret from somewhere else.
_CODE_REF = (
    r"(?i)^(?:os\.|getpass|input|environ|getenv|config\.|settings\.|self\.|request\.|args\.|"
    r"st\.secrets|userdata)"
)


_ALPHABETS = ("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789")


def sequential(value: str) -> bool:
    """Does ``value`` contain a stretch of an alphabet ("ABCDEFGH", "0123456789")? Keys don't."""
    return any(
        alphabet[i : i + 8] in value for alphabet in _ALPHABETS for i in range(len(alphabet) - 7)
    )


def plausible(value: str, kind: str, quoted: bool) -> bool:
    """Is ``value`` a credential rather than a template, path, reference or plain word?"""
    value = value.strip()
    if (
        not value
        or PLACEHOLDER in value
        or rx(_TEMPLATE).match(value)
        or rx(_PATHLIKE).search(value)
        or rx(_DUMMY).search(value)
        or rx(_NAMELIKE).match(value)
        or value.lower() in _STOPWORDS
        or not re.search(r"[A-Za-z0-9]", value)
        or len(value) > 300
        or value.endswith(("...", "…"))  # elided in docs: api_key="ldb_..."
    ):
        return False
    if not quoted and (
        rx(_CODE_REF).match(value)
        or (value.isalpha() and value.islower() and rx(_ENGLISH_SUFFIX).search(value))
    ):
        return False
    if kind == "cookie":
        # "name=value; other=value" (spaces belong to it) with one value long enough to matter.
        pairs = [pair.partition("=")[2] for pair in value.split(";")]
        return "{" not in value and any(len(v.strip()) >= 12 for v in pairs)
    if kind == "password":
        # A passphrase may have spaces; a sentence is a message, not a password.
        return len(value) >= 3 and (" " not in value or (quoted and len(value.split()) <= 5))
    return len(value) >= 6 and " " not in value


_Q = r"(?:(?<!\w)[rRbBuUfF]{1,2})?(?P<q>['\"])"
_QVAL = r"(?P<value>(?:\\.|(?!(?P=q))[^\\\n])*)(?P=q)"
_UNQ = r"(?P<value>[^\s'\"`,;&()<>\[\]{}:=][^\s'\"`,;&()<>\[\]{}]*)"
# Rules whose kind comes from the name group (None) or is fixed.
CONTEXT: tuple[tuple[str | None, bool, str], ...] = (
    # password = "x", "api_key": "x", token=f"x", conf.secret := "x"
    (None, True, r"(?P<name>\b[A-Za-z_][\w\-]*)['\"]?\]?(?:[ \t]*:[ \t]*[\w.\[\], |]+?)?"
     r"[ \t]*(?::=|[:=]|=>)[ \t]*@?" + _Q + _QVAL),
    # os.environ.setdefault("HF_TOKEN", "x"), os.putenv(...), environ["X"] = "x" done above.
    (None, True, r"(?:setdefault|putenv|setenv|set_key)\(\s*(?:[^,()]*,\s*)?['\"](?P<name>"
     r"\w+)['\"]\s*,\s*" + _Q + _QVAL),
    (None, True, r"environ\[[ \t]*['\"](?P<name>\w+)['\"][ \t]*\][ \t]*=[ \t]*" + _Q + _QVAL),
    # shell/env lines, dotenv, URL query strings, DSNs: NAME=value / NAME: value
    (None, False, r"(?P<name>\b[A-Za-z_][\w\-.]*)[ \t]*(?:=|:(?!//))[ \t]*['\"]?" + _UNQ),
    (None, False, r"(?m)^[ \t]*(?:%env|%set_env|!?[ \t]*set|setx)[ \t]+(?P<name>\w+)"
     r"[ \t]*=?[ \t]+" + _UNQ),
    ("password", True, r"(?i)\bauth\s*=\s*\(\s*(['\"])[^'\"\n]*\1\s*,\s*" + _Q + _QVAL),
    ("password", True, r"\b(?:HTTPBasicAuth|HTTPDigestAuth|BasicAuth)\(\s*(['\"])[^'\"\n]*"
     r"\1\s*,\s*" + _Q + _QVAL),
    ("authorization-header", False, r"(?i)\b(?:proxy-)?authorization['\"]?[ \t]*[:=]"
     r"[ \t]*['\"]?[ \t]*(?:(?:bearer|basic|token|apikey|api-key|key|sso-key|otp)[ \t]+)?"
     + _UNQ),
    ("authorization-header", False, r"(?i)\bbearer[ \t]+(?P<value>[A-Za-z0-9\-._~+/]{8,}=*)"),
    ("api-key-header", False, r"(?i)\b(?:x-[a-z0-9-]*(?:api-?key|token|secret|auth|key)|"
     r"api-key|private-token|ocp-apim-subscription-key)['\"]?[ \t]*[:=][ \t]*['\"]?" + _UNQ),
    ("cookie", False,
     r"(?i)\b(?:set-)?cookie['\"]?[ \t]*:[ \t]*['\"]?(?P<value>[^'\"\n=]+=[^'\"\n]+)"),
    ("password", False, r"(?:\s-u|--user)\s+['\"]?[^\s:'\"]+:" + _UNQ),
    (None, False, r"(?i)--(?P<name>password|passwd|token|api[-_]?key|secret|access[-_]?token|"
     r"auth[-_]?token|client[-_]?secret)(?:=|\s+)['\"]?" + _UNQ),
    ("password", False, r"\blogin\s+\S+\s+password\s+" + _UNQ),
)

_PROSE_WORD = (r"password|passwd|passphrase|passcode|pin code|secret(?: access)? key|secret|"
               r"api[ _-]?key|access[ _-]?key|access[ _-]?token|auth(?:entication)?[ _-]?token|"
               r"bearer token|token|credentials?")
PROSE = (
    # The lookahead lets most positions fail on one character test instead of 15 alternatives.
    r"(?i)(?=[pstacb])\b(?P<name>" + _PROSE_WORD + r")\b"
    r"(?P<conn>[ \t]*(?:\bis\b|\bwas\b|\bshould be\b|\bset to\b|\bequals\b|=|:|->)?)[ \t]*"
    r"(?:(?P<q>['\"`])(?P<qvalue>[^'\"`\n]{1,200}?)(?P=q)|(?P<value>[A-Za-z0-9][^\s'\"`,;()<>\[\]{}]*))"
)
_AWS_SECRET = r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"


def _value_span(match: re.Match[str]) -> tuple[int, int]:
    for group in ("value", "sig", "qvalue"):
        if match.groupdict().get(group) is not None:
            return match.span(group)
    return match.span()


def _unquoted_end(text: str, start: int, end: int) -> int | None:
    """Where an unquoted value ends without its sentence punctuation ("password is hunter."),
    or None when it is code: a call or subscript (``password = Unicode(``)."""
    if text[end : end + 1] in ("(", "["):
        return None
    if text[end : end + 1] in ("", " ", "\t", "\n", "\r", '"', "'", "`", ")", "]", "}"):
        while end > start and text[end - 1] in ".?:,":
            end -= 1
        if text[end : end + 1].isspace() or end == len(text):
            while end > start and text[end - 1] == "!":
                end -= 1
    return end


def strong_findings(text: str) -> Iterator[Finding]:
    low = text.lower()
    for kind, gates, pattern in STRONG:
        if not any(gate in low for gate in gates):
            continue
        for match in rx(pattern).finditer(text):
            start, end = _value_span(match)
            if kind == "connection-password" and not plausible(text[start:end], "password", True):
                continue  # "postgres://user:pass@host" in docs and tests
            if PLACEHOLDER not in text[start:end] and end > start:
                yield Finding(start, end, kind, strong=True)


def context_findings(text: str) -> Iterator[Finding]:
    for fixed, quoted, pattern in CONTEXT:
        for match in rx(pattern).finditer(text):
            name = match.groupdict().get("name")
            kind = fixed or (name_kind(name) if name else None)
            start, end = match.span("value")
            if not quoted:
                cut = _unquoted_end(text, start, end)
                line_start = text.rfind("\n", 0, match.start()) + 1
                if cut is None or rx(_DOC_FIELD).search(text[line_start : match.start()]):
                    continue
                end = cut
                if kind != "password" and rx(_WORD).fullmatch(text[start:end]):
                    continue  # "token: Metadata": an English word, not a generated key
            value = text[start:end]
            if name and value.lower() in name.lower():
                continue  # access_key="access", CLIENT_CREDENTIALS = "client_credentials"
            if kind != "password" and rx(_WORD).fullmatch(value):
                continue  # a key or token is generated, not a word: access_key="limited"
            if kind and plausible(value, kind, quoted):
                yield Finding(start, end, kind)
    for match in rx(_AWS_SECRET).finditer(text):
        value = match.group()
        window = text[max(0, match.start() - 120) : match.start()].lower()
        if ("aws" in window or "secret" in window) and all(
            re.search(cls, value) for cls in ("[A-Z]", "[a-z]", "[0-9/+]")
        ):
            yield Finding(match.start(), match.end(), "aws-secret-key")


def _prose_kind(word: str) -> str:
    word = word.lower()
    if word.startswith("pass") or word == "pin code":
        return "password"
    if "secret" in word and "key" in word:
        return "aws-secret-key" if "access" in word else "secret"
    return name_kind(word.replace(" ", "_")) or "token"


_DOC_FIELD = (r"[:@](?:param|type|ivar|cvar|var|arg|key|keyword|raises?|returns?|rtype)"
                        r"\b[^:]*$")
_WORD = r"[A-Z]?[a-z]+"
_GENERATED = r"\d|[a-z][A-Z]|[A-Z]{2}[a-z]"


def prose_findings(text: str) -> Iterator[Finding]:
    """Credentials written as English: "my password is hunter", "use the token 'abc'"."""
    for match in rx(PROSE).finditer(text):
        kind = _prose_kind(match.group("name"))
        line_start = text.rfind("\n", 0, match.start()) + 1
        before = text[line_start : match.start()]
        if rx(_DOC_FIELD).search(before) or before.endswith(("'", '"')):
            continue  # ":param token: ...", or the word is itself a string ("password", ...)
        name = match.group("name").lower().replace(" ", "_")
        if match.group("qvalue") is not None:
            start, end = match.span("qvalue")
            value = text[start:end]
            word = kind != "password" and rx(_WORD).fullmatch(value)  # per-token "weights"
            if not word and value.lower() not in name and plausible(value, kind, quoted=True):
                yield Finding(start, end, kind)
            continue
        start, end = match.span("value")
        cut = _unquoted_end(text, start, end)
        if cut is None:
            continue
        value, end = text[start:cut], cut
        conn = match.group("conn").strip()
        # "password is hunter" is a password even as a word. "token is NEWLINE", "token ->
        # style", "token: Metadata" are English: other words need "=" or a generated look.
        generated = len(value) >= 8 and bool(rx(_GENERATED).search(value))
        wordlike = rx(_WORD).fullmatch(value) is not None
        if kind == "password":
            ok = bool(conn) or not wordlike
        else:
            ok = conn == "=" or generated or (conn == ":" and not wordlike)
        if ok and value.lower() not in name and plausible(value, kind, False):
            yield Finding(start, end, kind)
