"""The model step: Claude adapts a reference, writes fresh code, or repairs a failure.

This is the only module that imports the anthropic SDK, and it does so inside
functions: importing the SDK costs about a second, which ``%load_ext`` must not
pay. The SDK client is created on the first call::

    adapter = ClaudeAdapter(config)           # cheap: no import, no network
    result = adapter.adapt(analysis, match.reference, on_text=widget.append)
    result.code, result.usage.cost_usd

Configuration comes from :class:`~semcache_magic.config.SemCache` (``model``,
``max_tokens``, ``model_timeout``, ``max_retries``, ``base_url``, ``provider``,
``prices``). Retries and timeouts are the SDK's own. The key is the ``api_key``
argument, else ``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``); the
endpoint is the ``base_url`` argument, else ``SemCache.base_url``, else
``ANTHROPIC_BASE_URL``, else the SDK default. ``provider = "bedrock"`` or
``"vertex"`` use the SDK's own clients (extras ``anthropic[bedrock]`` /
``anthropic[vertex]``; credentials come from the cloud's usual settings).

Every SDK error becomes an :class:`~semcache_magic.errors.AdaptationError`
child (chained ``from`` the original) with one line and a hint.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

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
    SemcacheError,
)
from . import _prompts as prompts
from ._boundary import redacted_parts, sendable, too_long
from ._usage import Usage, message_usage

if TYPE_CHECKING:
    from ..snippet import Snippet
    from ..task import Literal, TaskAnalysis

__all__ = ["Adaptation", "ClaudeAdapter", "CodeContext"]

log = logging.getLogger(__name__)

TextCallback = Callable[[str], None]

_DEFAULT_ENDPOINT = "https://api.anthropic.com"
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


@dataclass
class CodeContext:
    """What the code may rely on: input names -> type names (never values), installed libraries."""

    input_schema: dict[str, str] = field(default_factory=dict)
    libraries: list[str] = field(default_factory=list)


@dataclass
class Adaptation:
    """The outcome of one model call.

    ``kind`` is ``adapt``, ``generate`` or ``repair``; ``code`` is the program to
    run; ``unchanged`` is True when the model said the reference already does the
    task (``code`` is then the reference's code); ``text`` is the full answer.
    """

    kind: str
    code: str
    unchanged: bool
    text: str
    model: str
    usage: Usage
    duration_s: float
    request_id: str | None
    stop_reason: str | None = None
    #: Kinds of secrets removed from the request before it was sent (see ``_boundary``).
    redacted: list[str] = field(default_factory=list)
    #: The model answered that the proposed substitution does the task as it is.
    confirmed: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["usage"] = self.usage.to_json()
        return data


class ClaudeAdapter:
    """Asks Claude for code. Thread-safe; the SDK client is created on first use."""

    def __init__(
        self, config: SemCache | None = None, *, api_key: str | None = None,
        base_url: str | None = None,
    ) -> None:
        self.config = config if config is not None else SemCache()
        self._api_key = api_key
        self._base_url = base_url
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """Whether the SDK client exists (the first one imports the SDK: ~1-2 s)."""
        return self._client is not None

    def warm(self) -> None:
        """Create the SDK client now, so the first model call does not import the SDK.

        Only when a key or token is set: without one a call fails before any import, and
        a kernel that never calls the model should not carry the SDK. Errors wait for the
        first call, which reports them.
        """
        if self._api_key or os.environ.get("ANTHROPIC_API_KEY") or os.environ.get(
                "ANTHROPIC_AUTH_TOKEN") or (self.config.provider or "anthropic") != "anthropic":
            with contextlib.suppress(SemcacheError):
                self._get_client()

    @property
    def endpoint(self) -> str:
        """The endpoint requests go to (for messages; the SDK may add a path)."""
        env = os.environ.get("ANTHROPIC_BASE_URL")
        return self._base_url or self.config.base_url or env or _DEFAULT_ENDPOINT

    # -- the three requests -------------------------------------------------------------
    def adapt(
        self, task: TaskAnalysis, reference: Snippet, *, context: CodeContext | None = None,
        on_text: TextCallback | None = None, proposal: str | None = None,
    ) -> Adaptation:
        """Adapt ``reference`` to ``task``; its literals are hard constraints.

        With a ``proposal`` (the reference with the new values substituted), the model
        confirms it (``Adaptation.confirmed``; the code is the proposal) or corrects it.
        """
        schema, libraries = self._context(task, context)
        (reference_task, reference_code, context_code), found = redacted_parts(
            reference.task, reference.code, reference.context_code)
        content = prompts.adapt_message(
            task, reference_task, reference_code, input_schema=schema, libraries=libraries,
            proposal=proposal,
            reference_context=context_code,
            reference_free_names=reference.free_names,
        )
        # "Unchanged" means the reference as a program: an imported cell after its context.
        program = (f"{reference.context_code.rstrip()}\n\n{reference.code}"
                   if reference.context_code.strip() else reference.code)
        return self._call("adapt", content, on_text, reference_code=program, task=task,
                          proposal=proposal, redacted=found)

    def generate(
        self, task: TaskAnalysis, *, context: CodeContext | None = None,
        on_text: TextCallback | None = None,
    ) -> Adaptation:
        """Write fresh code for ``task`` (a cache miss)."""
        schema, libraries = self._context(task, context)
        content = prompts.generate_message(task, input_schema=schema, libraries=libraries)
        return self._call("generate", content, on_text)

    def repair(
        self, task: TaskAnalysis, code: str, error: str, *, context: CodeContext | None = None,
        on_text: TextCallback | None = None,
    ) -> Adaptation:
        """Fix ``code``, which failed in the kernel with ``error`` (a traceback)."""
        schema, libraries = self._context(task, context)
        (code, error), found = redacted_parts(code, error)
        content = prompts.repair_message(
            task, code, error, input_schema=schema, libraries=libraries
        )
        return self._call("repair", content, on_text, redacted=found)

    def close(self) -> None:
        """Release the SDK client's connections (a new one is made on the next call)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- plumbing -----------------------------------------------------------------------
    @staticmethod
    def _context(
        task: TaskAnalysis, context: CodeContext | None
    ) -> tuple[dict[str, str], list[str]]:
        if context is None:
            return dict(task.input_schema), []
        return dict(context.input_schema or task.input_schema), list(context.libraries)

    def _call(
        self, kind: str, content: list[dict[str, Any]], on_text: TextCallback | None, *,
        reference_code: str | None = None, task: TaskAnalysis | None = None,
        proposal: str | None = None,
        redacted: list[str] | None = None,
    ) -> Adaptation:
        client = self._get_client()
        import anthropic

        cfg = self.config
        content, more = sendable(content)
        redacted = [*(redacted or []), *more]
        # No temperature: API version 2026-10-21 (SDK 2.x) rejects sampling parameters.
        params: dict[str, Any] = {
            "model": cfg.model,
            "max_tokens": cfg.max_tokens,
            "system": prompts.system_blocks(),
            "messages": [{"role": "user", "content": content}],
        }
        started = time.monotonic()
        try:
            if on_text is None:
                message = client.messages.create(**params)
                request_id = getattr(message, "_request_id", None)
            else:
                message, request_id = _stream(client, params, on_text, cfg.max_answer_chars)
        except anthropic.AnthropicError as exc:
            raise self._translate(exc) from exc
        except AdaptationError:
            raise
        except Exception as exc:
            translated = _transport_error(exc, self)
            if translated is None:  # a bug of ours: let it surface as itself
                raise
            raise translated from exc
        duration = time.monotonic() - started
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
        if len(text) > cfg.max_answer_chars:
            raise too_long(cfg.max_answer_chars)
        stop_reason = getattr(message, "stop_reason", None)
        usage = message_usage(message, dict(cfg.prices))
        confirmed = proposal is not None and stop_reason != "refusal" and prompts.is_unchanged(
            text, prompts.CONFIRMED_TOKEN)
        if confirmed:
            assert proposal is not None
            code, unchanged = proposal, False
        else:
            code, unchanged = self._code(kind, text, stop_reason, reference_code, task)
        return Adaptation(
            kind=kind, code=code, unchanged=unchanged, text=text, model=str(message.model),
            usage=usage, duration_s=round(duration, 4), request_id=request_id,
            stop_reason=stop_reason, confirmed=confirmed, redacted=redacted,
        )

    def _code(
        self, kind: str, text: str, stop_reason: str | None,
        reference_code: str | None, task: TaskAnalysis | None,
    ) -> tuple[str, bool]:
        if stop_reason == "refusal":
            raise MalformedAnswerError("the model declined to write code for this task",
                                       hint="rephrase the task")
        if kind == "adapt" and reference_code is not None and prompts.is_unchanged(text):
            missing = [lit.text for lit in (task.literals if task else ())
                       if not _mentions(reference_code, lit)]
            if missing:  # the near-miss guard, on the answer side
                raise MalformedAnswerError(
                    "the model called the reference unchanged, but it lacks the task's "
                    f"values {', '.join(missing)}"
                )
            return reference_code, True
        if stop_reason == "max_tokens":
            raise MalformedAnswerError(
                f"the answer was cut off at max_tokens={self.config.max_tokens}",
                hint="raise SemCache.max_tokens, or split the task",
            )
        code = prompts.extract_code(text)
        unchanged = reference_code is not None and code.strip() == reference_code.strip()
        return code, unchanged

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        cfg = self.config
        provider = (cfg.provider or "anthropic").lower()
        base_url = self._base_url or cfg.base_url or None
        options: dict[str, Any] = {"max_retries": cfg.max_retries, "timeout": cfg.model_timeout}
        if provider == "anthropic":
            key = self._api_key or os.environ.get("ANTHROPIC_API_KEY")
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
        if provider == "bedrock" and self._api_key:
            options["api_key"] = self._api_key
        try:
            return factory(base_url=base_url, **options)
        except (ValueError, anthropic.AnthropicError) as exc:
            raise ConfigurationError(
                f"cannot set up the {provider} client: {_first_line(str(exc))}",
                hint="set the cloud region/project (e.g. AWS_REGION, CLOUD_ML_REGION and "
                "ANTHROPIC_VERTEX_PROJECT_ID)",
            ) from exc

    def _translate(self, exc: Exception) -> AdaptationError:
        """The AdaptationError for an SDK error: one line, a hint, the status if any."""
        import anthropic

        if isinstance(exc, anthropic.APITimeoutError):
            return ModelTimeoutError(
                f"the model did not answer within {self.config.model_timeout:g} s"
            )
        if isinstance(exc, anthropic.APIConnectionError):
            return ModelConnectionError(f"cannot reach the model endpoint {self.endpoint}")
        if isinstance(exc, anthropic.APIResponseValidationError):
            return MalformedAnswerError("the endpoint's answer is not a valid Messages API reply")
        if isinstance(exc, anthropic.CredentialsError):
            return ModelAuthError(f"cannot load Anthropic credentials: {_first_line(str(exc))}",
                                  hint=_NO_KEY_HINT)
        if not isinstance(exc, anthropic.APIStatusError):
            return AdaptationError(f"the model call failed: {_first_line(str(exc))}")
        status = exc.status_code
        retried = f" after {self.config.max_retries} retries"
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
        message = template.format(said=said, retried=retried, model=self.config.model)
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


def _transport_error(exc: Exception, adapter: ClaudeAdapter) -> AdaptationError | None:
    """Errors the SDK lets through while a stream is read (httpx2, bad JSON in an event)."""
    import httpx2

    if isinstance(exc, httpx2.TimeoutException):
        return ModelTimeoutError(
            f"the model stopped answering for {adapter.config.model_timeout:g} s mid-stream"
        )
    if isinstance(exc, httpx2.TransportError):
        return ModelConnectionError(
            f"the connection to {adapter.endpoint} broke mid-answer: {_first_line(str(exc))}"
        )
    if isinstance(exc, ValueError):  # JSONDecodeError and pydantic's ValidationError
        return MalformedAnswerError("the endpoint's answer is not valid Messages API data")
    return None


def _mentions(code: str, literal: Literal) -> bool:
    """Whether ``code`` holds ``literal`` (a number as a whole token: 5 is not in 15)."""
    if literal.kind != "number":
        return literal.text in code
    return re.search(rf"(?<![\w.]){re.escape(literal.text)}(?![\w]|\.\d)", code) is not None


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a missing parent package (e.g. `google`)
        return False


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    line = lines[0].strip() if lines else ""
    return line if len(line) <= 200 else line[:197] + "..."
