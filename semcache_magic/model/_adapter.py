"""The model step: Claude adapts a reference, writes fresh code, or repairs a failure.

The adapter builds the requests (``_prompts``), sends them through ``_sdk`` (the
only module that imports the anthropic SDK, inside functions: importing it costs
about a second, which ``%load_ext`` must not pay) and reads the answers. The SDK
client is created on the first call::

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
child (chained ``from`` the original) with one line and a hint (in ``_sdk``).
"""

from __future__ import annotations

import contextlib
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
    MalformedAnswerError,
    SemcacheError,
)
from . import _prompts as prompts
from ._boundary import redacted_parts, sendable, too_long
from ._sdk import DEFAULT_ENDPOINT, make_client, send
from ._usage import Usage, message_usage

if TYPE_CHECKING:
    from ..snippet import Snippet
    from ..task import Literal, TaskAnalysis

__all__ = ["Adaptation", "ClaudeAdapter", "CodeContext"]

log = logging.getLogger(__name__)

TextCallback = Callable[[str], None]

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
        return self._base_url or self.config.base_url or env or DEFAULT_ENDPOINT

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
        message, request_id, text = send(client, params, on_text=on_text, config=cfg,
                                         endpoint=self.endpoint)
        duration = time.monotonic() - started
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
                self._client = make_client(self.config, api_key=self._api_key,
                                           base_url=self._base_url)
            return self._client

def _mentions(code: str, literal: Literal) -> bool:
    """Whether ``code`` holds ``literal`` (a number as a whole token: 5 is not in 15)."""
    if literal.kind != "number":
        return literal.text in code
    return re.search(rf"(?<![\w.]){re.escape(literal.text)}(?![\w]|\.\d)", code) is not None
