"""The anthropic SDK: clients, one call (streamed or not), and its errors as ours.

The only module that imports ``anthropic`` (inside functions: importing it costs
about a second, which ``%load_ext`` must not pay). Every SDK error becomes an
:class:`~semcache_magic.errors.AdaptationError` child with one line and a hint.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from typing import Any

from ..config import SemCache
from ..errors import (
    AdaptationError,
    ConfigurationError,
    MalformedAnswerError,
    ModelAuthError,
    ModelConnectionError,
    ModelNotFoundError,
    ModelOverloadedError,
    ModelRateLimitError,
    ModelServerError,
    ModelTimeoutError,
)
from ._boundary import too_long

__all__ = ["DEFAULT_ENDPOINT", "make_client", "send", "translate_error"]

log = logging.getLogger(__name__)

TextCallback = Callable[[str], None]

DEFAULT_ENDPOINT = "https://api.anthropic.com"
_NO_KEY_HINT = (
    "set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN), or ANTHROPIC_BASE_URL for a gateway"
)
# Mid-stream errors arrive after a 200, so the SDK cannot classify them by status:
# the error type in the body says what happened.
_STATUS_OF_TYPE = {
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
# Status -> (error, message template, hint; None keeps the class's default hint).
_STATUS_ERRORS: dict[int, tuple[type[AdaptationError], str, str | None]] = {
    401: (ModelAuthError, "the API key was refused{said}",
          "check ANTHROPIC_API_KEY: it may be wrong, revoked, or for another endpoint"),
    403: (ModelAuthError, "the API key may not use model {model!r}{said}",
          "check the key's workspace and model access, or set SemCache.model"),
    404: (ModelNotFoundError, "model {model!r} was not found{said}", None),
    413: (AdaptationError, "the request is too large{said}",
          "shorten the task or the reference code"),
    429: (ModelRateLimitError, "rate limited{said}{retried}", None),
    529: (ModelOverloadedError, "the API is overloaded{said}{retried}", None),
}


def make_client(cfg: SemCache, *, api_key: str | None = None,
                base_url: str | None = None) -> Any:
    """An SDK client for the configured provider (importing the SDK only now)."""
    provider = (cfg.provider or "anthropic").lower()
    base_url = base_url or cfg.base_url or None
    options: dict[str, Any] = {"max_retries": cfg.max_retries, "timeout": cfg.model_timeout}
    if provider == "anthropic":
        key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        token = None if key else os.environ.get("ANTHROPIC_AUTH_TOKEN")
        if not key and not token:  # fail before any import or network call
            raise ModelAuthError("no Anthropic API key is configured", hint=_NO_KEY_HINT)
        import anthropic

        return anthropic.Anthropic(
            api_key=key, auth_token=token,
            base_url=base_url or os.environ.get("ANTHROPIC_BASE_URL") or None, **options,
        )
    if provider not in ("bedrock", "vertex"):
        raise ConfigurationError(
            f"unknown model provider {cfg.provider!r}",
            hint="set SemCache.provider to 'anthropic', 'bedrock' or 'vertex'",
        )
    needed = ("boto3", "botocore") if provider == "bedrock" else ("google.auth",)
    if not all(_importable(name) for name in needed):
        raise ConfigurationError(
            f"provider {provider!r} needs the anthropic[{provider}] extra",
            hint=f"pip install 'semcache-magic[{provider}]'",
        )
    import anthropic

    factory = anthropic.AnthropicBedrock if provider == "bedrock" else anthropic.AnthropicVertex
    if provider == "bedrock" and api_key:
        options["api_key"] = api_key
    try:
        return factory(base_url=base_url, **options)
    except (ValueError, anthropic.AnthropicError) as exc:
        raise ConfigurationError(
            f"cannot set up the {provider} client: {_first_line(str(exc))}",
            hint="set the cloud region/project (e.g. AWS_REGION, CLOUD_ML_REGION and "
            "ANTHROPIC_VERTEX_PROJECT_ID)",
        ) from exc


def send(client: Any, params: dict[str, Any], *, on_text: TextCallback | None,
         config: SemCache, endpoint: str) -> tuple[Any, str | None, str]:
    """Make one Messages call (streamed when ``on_text`` is given); return the checked
    message, its request id and its text. Every SDK or transport error becomes an
    :class:`~semcache_magic.errors.AdaptationError` child, chained ``from`` it."""
    import anthropic

    try:
        if on_text is None:
            message = client.messages.create(**params)
            request_id = getattr(message, "_request_id", None)
        else:
            message, request_id = _stream(client, params, on_text, config.max_answer_chars)
    except anthropic.AnthropicError as exc:
        raise translate_error(exc, config, endpoint) from exc
    except AdaptationError:
        raise
    except Exception as exc:
        translated = _transport_error(exc, config, endpoint)
        if translated is None:  # a bug of ours: let it surface as itself
            raise
        raise translated from exc
    # The SDK does not validate replies: a gateway's text/plain 200 arrives as a str,
    # and a JSON object missing fields as a Message whose fields are None.
    if not (
        isinstance(message, anthropic.types.Message)
        and isinstance(message.content, list)
        and isinstance(getattr(message.usage, "output_tokens", None), int)
    ):
        raise MalformedAnswerError("the endpoint's answer is not a Messages API message")
    # Only text blocks: thinking blocks, if a gateway adds them, are not the answer.
    text = "".join(b.text for b in message.content if isinstance(b, anthropic.types.TextBlock))
    return message, request_id, text


def translate_error(exc: Exception, config: SemCache, endpoint: str) -> AdaptationError:
    """The AdaptationError for an SDK error: one line, a hint, the status if any."""
    import anthropic

    if isinstance(exc, anthropic.APITimeoutError):
        return ModelTimeoutError(
            f"the model did not answer within {config.model_timeout:g} s"
        )
    if isinstance(exc, anthropic.APIConnectionError):
        return ModelConnectionError(f"cannot reach the model endpoint {endpoint}")
    if isinstance(exc, anthropic.APIResponseValidationError):
        return MalformedAnswerError("the endpoint's answer is not a valid Messages API reply")
    if isinstance(exc, anthropic.CredentialsError):
        return ModelAuthError(f"cannot load Anthropic credentials: {_first_line(str(exc))}",
                              hint=_NO_KEY_HINT)
    if not isinstance(exc, anthropic.APIStatusError):
        return AdaptationError(f"the model call failed: {_first_line(str(exc))}")
    status = exc.status_code
    retried = f" after {config.max_retries} retries"
    if not 400 <= status < 600:  # an error event inside a 200 stream: never retried
        status = _STATUS_OF_TYPE.get(str(exc.type or ""), 500)
        retried = " mid-answer"
    detail = _first_line(exc.api_message or "") or (exc.type or "")
    said = f" ({status}: {detail})" if detail else f" ({status})"
    error_class, template, hint = _STATUS_ERRORS.get(
        status,
        (ModelServerError, "the API failed{said}{retried}", None) if status >= 500
        else (AdaptationError, "the API rejected the request{said}",
              "check SemCache.model and SemCache.max_tokens"),
    )
    message = template.format(said=said, retried=retried, model=config.model)
    return error_class(message, hint=hint)


def _stream(client: Any, params: dict[str, Any], on_text: TextCallback,
            limit: int) -> tuple[Any, str | None]:
    """Stream the answer, passing each text delta to ``on_text``; return the final message.

    An answer longer than ``limit`` characters is refused as it arrives (the stream is
    closed): no endpoint can make us hold, show or run an unbounded program.
    """
    callback: TextCallback | None = on_text
    received = 0
    with client.messages.stream(**params) as stream:
        for chunk in stream.text_stream:
            received += len(chunk)
            if received > limit:
                raise too_long(limit)
            if callback is None:
                continue
            try:
                callback(chunk)
            except Exception:
                # A broken display must not throw away an answer that is already paid for.
                log.warning("on_text callback failed; streaming continues without it",
                            exc_info=True)
                callback = None
        try:
            message = stream.get_final_message()
        except AssertionError:  # the SDK asserts when the stream held no message_start
            message = None
        if message is None:
            raise MalformedAnswerError("the model's stream ended without a message")
        return message, stream.request_id


def _transport_error(exc: Exception, config: SemCache, endpoint: str) -> AdaptationError | None:
    """Errors the SDK lets through while a stream is read (httpx2, bad JSON in an event)."""
    import httpx2

    if isinstance(exc, httpx2.TimeoutException):
        return ModelTimeoutError(
            f"the model stopped answering for {config.model_timeout:g} s mid-stream"
        )
    if isinstance(exc, httpx2.TransportError):
        return ModelConnectionError(
            f"the connection to {endpoint} broke mid-answer: {_first_line(str(exc))}"
        )
    if isinstance(exc, ValueError):  # JSONDecodeError and pydantic's ValidationError
        return MalformedAnswerError("the endpoint's answer is not valid Messages API data")
    return None


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a missing parent package (e.g. `google`)
        return False


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    line = lines[0].strip() if lines else ""
    return line if len(line) <= 200 else line[:197] + "..."
