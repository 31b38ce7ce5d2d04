"""What went wrong with the store, in words a user can act on.

LanceDB reports every object-store failure as one ``ValueError`` whose text is Rust debug
output ("Invalid input, Failed to connect to namespace: IO { source: Generic { store: "S3",
... status: 403, body: Some("<?xml ...") ..."). Wrong credentials, a missing bucket and an
endpoint that does not answer need different advice, and none of them means the data is
damaged: telling a team to abandon a healthy store would be the worst answer. So
:func:`classify` reads the status, the S3 error code and the transport's error kind out
of that text, and only what is left is judged as damage.
"""

from __future__ import annotations

import os
import re
import socket
import urllib.parse
from collections.abc import Mapping

from ..errors import (
    StoreAuthError,
    StoreConnectionError,
    StoreDamagedError,
    StoreError,
    StoreMissingError,
    StoreTimeoutError,
    StoreUnavailableError,
    StoreVanishedError,
)

__all__ = ["classify", "plain_message", "timeout_error"]

_RUST_LOCATION = re.compile(r",?\s*/\S+\.rs:\d+:\d+")
_LANCE_PREFIX = re.compile(r"^(?:lance error:\s*)?(?:LanceError\(\w+\):\s*)?", re.IGNORECASE)
_DEBUG_TAIL = re.compile(r"[:,]?\s*(?:IO|Generic|ListRequest|RetryError|Status|Http)\s*[{(].*",
                         re.DOTALL)
_STATUS = re.compile(r"status: (\d{3})")
_S3_CODE = re.compile(r"<Code>([^<]{1,80})</Code>")
_S3_MESSAGE = re.compile(r"<Message>([^<]{1,200})</Message>")
_AUTH_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken",
               "InvalidToken", "InvalidClientTokenId", "AuthorizationHeaderMalformed",
               "AuthenticationFailed", "Unauthorized", "Forbidden")
_NO_CREDENTIALS = ("failed to get aws credentials", "missing credentials", "no credentials",
                   "credentialsnotloaded", "unable to load credentials")
_CONNECT_REASONS = (("dns error", "the host name does not resolve"),
                    ("connection refused", "connection refused: nothing listens there"),
                    ("connection reset", "the connection was reset"),
                    ("tls", "the TLS handshake failed"))

_PROBE_S = 1.0  # the quick connection attempt after a deadline passed

_LOCAL_DAMAGE_HINT = ("restore the store directory from a backup, or move it aside: a new "
                      "empty store is made on the next save (README 'Recovering a store')")
_REMOTE_DAMAGE_HINT = ("restore the store's objects from a backup or bucket versioning; the "
                       "store is shared, so ask its owner before removing anything")


def plain_message(exc: BaseException) -> str:
    """The first line of an error, without Rust source locations or debug structures."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    text = _LANCE_PREFIX.sub("", _RUST_LOCATION.sub("", text)).strip()
    text = _DEBUG_TAIL.sub("", text).strip(" ,:") or text
    return text[:200] or type(exc).__name__


def timeout_error(uri: str, options: Mapping[str, str], seconds: float,
                  action: str) -> StoreUnavailableError:
    """The error for an operation that ran out of time: a stopped server (nothing listens:
    LanceDB retries the refused connection until the deadline) is told apart from one that
    accepts connections and never answers, by one quick connection attempt of our own."""
    endpoint = _endpoint(uri, options)
    parsed = urllib.parse.urlsplit(endpoint)
    if parsed.hostname:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            socket.create_connection((parsed.hostname, port), timeout=_PROBE_S).close()
        except TimeoutError:
            pass  # as silent as the store itself
        except OSError as exc:
            reason = ("the host name does not resolve" if isinstance(exc, socket.gaierror)
                      else f"{exc.strerror or exc}: nothing listens there")
            return StoreConnectionError(
                f"cannot {action}: cannot reach the store's endpoint {endpoint} ({reason})",
                hint="check the endpoint address (aws_endpoint in SemCache.storage_options) "
                "and that the server is up; the store was not changed")
    return StoreTimeoutError(
        f"cannot {action}: the store {uri!r} did not answer within {seconds:g} s",
        hint="check the endpoint and the network; on a slow link raise SemCache.store_timeout")


def classify(uri: str, storage_options: Mapping[str, str], action: str,
             exc: BaseException) -> StoreError:
    """The :class:`StoreError` for a LanceDB, Arrow or OS error met while doing ``action``."""
    full = str(exc)
    lowered = full.lower()
    if "://" in uri and not uri.startswith(("file://", "memory://")):
        remote = _remote(uri, storage_options, action, full, lowered)
        if remote is not None:
            return remote
    text = plain_message(exc)
    if isinstance(exc, PermissionError) or "permission denied" in lowered or (
            "read-only" in lowered):
        return StoreUnavailableError(f"cannot {action}: the store {uri!r} is not writable")
    if "no space left" in lowered or getattr(exc, "errno", None) == 28:
        return StoreUnavailableError(f"cannot {action}: no space left on the store's disk",
                                     hint="free disk space")
    local = "://" not in uri or uri.startswith("file://")
    bare = _LANCE_PREFIX.sub("", lowered)
    if isinstance(exc, FileNotFoundError) or bare.startswith("not found") or (
            "not found" in lowered and "object at location" in lowered):
        if local and not os.path.isdir(uri.removeprefix("file://")):
            return StoreVanishedError(
                f"cannot {action}: the store {uri!r} was deleted or moved while in use")
        missing = getattr(exc, "filename", None) or _missing_object(full)
        return StoreDamagedError(
            f"cannot {action}: a file of the store {uri!r} is missing"
            + (f" ({os.path.basename(str(missing))})" if missing else ""),
            hint=_LOCAL_DAMAGE_HINT if local else _REMOTE_DAMAGE_HINT)
    if isinstance(exc, OSError):
        return StoreUnavailableError(f"cannot {action} ({text})")
    return StoreDamagedError(f"cannot {action}: the store's data is unreadable ({text})",
                             hint=_LOCAL_DAMAGE_HINT if local else _REMOTE_DAMAGE_HINT)


def _remote(uri: str, options: Mapping[str, str], action: str, full: str,
            lowered: str) -> StoreError | None:
    """Credentials, a missing bucket, an unreachable or silent endpoint; None otherwise."""
    status = next((int(s) for s in _STATUS.findall(full)), 0)
    code = next(iter(_S3_CODE.findall(full)), "")
    said = next(iter(_S3_MESSAGE.findall(full)), "")
    detail = f"{status} {code}: {said}" if code else (f"status {status}" if status else "")
    endpoint = _endpoint(uri, options)
    if any(marker in lowered for marker in _NO_CREDENTIALS):
        return StoreAuthError(
            f"cannot {action}: no credentials for the store {uri!r} were found",
            hint="set aws_access_key_id and aws_secret_access_key in SemCache.storage_options "
            "(SEMCACHE_STORAGE_OPTIONS) or the AWS_* variables; the store was not changed")
    if status in (401, 403) or code in _AUTH_CODES:
        return StoreAuthError(
            f"cannot {action}: the store {uri!r} refused the credentials ({detail})",
            hint="check the access key, secret and region in SemCache.storage_options or the "
            "AWS_* variables; the store itself was not changed")
    if code in ("NoSuchBucket", "ContainerNotFound") or (status == 404 and "bucket" in lowered):
        bucket = uri.split("://", 1)[1].split("/", 1)[0]
        return StoreMissingError(
            f"cannot {action}: the bucket {bucket!r} does not exist at {endpoint}",
            hint="create the bucket, or correct the bucket in --store (or the endpoint and "
            "region in SemCache.storage_options)")
    if "kind: timeout" in lowered or "timed out" in lowered or "operation timed out" in lowered:
        return StoreTimeoutError(
            f"cannot {action}: the store's endpoint {endpoint} did not answer in time",
            hint="check that the endpoint runs and the network; on a slow link raise "
            "SemCache.store_timeout")
    if "kind: connect" in lowered or "error trying to connect" in lowered or (
            "connection refused" in lowered):
        reason = next((why for marker, why in _CONNECT_REASONS if marker in lowered),
                      "it could not be reached")
        return StoreConnectionError(
            f"cannot {action}: cannot reach the store's endpoint {endpoint} ({reason})",
            hint="check the endpoint address (aws_endpoint in SemCache.storage_options) and "
            "that the server is up; the store was not changed")
    if status >= 500:
        return StoreConnectionError(
            f"cannot {action}: the store's endpoint {endpoint} failed ({detail})",
            hint="retry shortly; the store was not changed")
    return None


def _endpoint(uri: str, options: Mapping[str, str]) -> str:
    for key in ("aws_endpoint", "endpoint", "aws_endpoint_url", "azure_storage_endpoint",
                "google_storage_endpoint"):
        if options.get(key):
            return str(options[key])
    return uri.split("://", 1)[0].upper()


def _missing_object(text: str) -> str:
    match = (re.search(r"[Oo]bject at location (\S+) not found", text)
             or re.search(r"[Nn]ot found: ([^,\s]+)", text))
    return match.group(1) if match else ""
