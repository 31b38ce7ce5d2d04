"""The environment an isolated kernel gets: yours, without your credentials.

Code from the cache may have been written by someone else (a team namespace) or by a
model; it should not be able to read your API keys. So a kernel starts with the
current environment minus every variable that holds a credential, judged

* by name: ``*_API_KEY``, ``*SECRET*``, ``*TOKEN*``, ``*PASSWORD*``, ``AWS_ACCESS_KEY_ID``,
  ``SSH_AUTH_SOCK``, ``SEMCACHE_STORAGE_OPTIONS`` ... (:func:`credential_name`);
* by value: anything shaped like a credential (a ``sk-ant-`` key, a JWT, a URL with a
  password: :func:`~semcache_magic.task.looks_like_secret`) under any name.

``SemCache.run_env_allow`` names variables (``fnmatch`` patterns) the kernel keeps anyway,
for code that is meant to use a credential.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from ..task import looks_like_secret

__all__ = ["credential_name", "kernel_environment"]

# Substrings of a name that make it a credential wherever they stand.
_WORDS = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "COOKIE",
          "APIKEY", "PRIVATE_KEY", "CONNECTION_STRING")
# Whole segments of a name (split at non-alphanumerics) that make it a credential:
# ``DB_PASS``, ``SSH_AUTH_SOCK`` (an agent holding keys), ``AZURE_STORAGE_SAS``.
_SEGMENTS = {"KEY", "PASS", "PWD", "AUTH", "SAS", "DSN", "PAT", "OTP", "PIN", "NETRC"}
# Named outright: they carry credentials under innocent names.
_NAMES = {"SEMCACHE_STORAGE_OPTIONS", "KRB5CCNAME", "DATABASE_URL"}
# The working directory, not a password.
_NOT_CREDENTIALS = {"PWD", "OLDPWD"}


def credential_name(name: str) -> bool:
    """Does a variable of this name hold a credential (going by the name alone)?"""
    upper = name.upper()
    if upper in _NOT_CREDENTIALS:
        return False
    if upper in _NAMES or any(word in upper for word in _WORDS):
        return True
    segments = [part for part in re.split(r"[^A-Z0-9]+", upper) if part]
    return any(part in _SEGMENTS or part.endswith("KEY") for part in segments)


@lru_cache(maxsize=4096)
def _secret_value(value: str) -> bool:
    # Cached: the same few dozen values are judged on every run, and an exact-hit run
    # must stay quick.
    return looks_like_secret(value)


def kernel_environment(environ: Mapping[str, str], allow: Iterable[str] = ()) -> dict[str, str]:
    """``environ`` without credentials, except the names matching an ``allow`` pattern."""
    patterns = [str(p) for p in allow if str(p)]
    kept = {}
    for name, value in environ.items():
        allowed = any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
        if allowed or not (credential_name(name) or _secret_value(value)):
            kept[name] = value
    return kept
