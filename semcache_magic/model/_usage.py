"""Token usage and what it costs, in US$ (from ``SemCache.prices``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ConfigurationError
from ._prompts import SYSTEM_PROMPT

__all__ = ["Usage", "avoided_cost", "estimate_cost", "message_usage"]


@dataclass
class Usage:
    """Tokens of one call and its estimated cost in US$ (``input_tokens`` excludes cache)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cost_usd: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def estimate_cost(model: str, usage: Usage, prices: dict[str, Any]) -> float:
    """US$ for ``usage`` from per-million-token ``prices`` keyed by model-name prefix.

    The longest matching prefix wins; Bedrock/Vertex names (``us.anthropic.claude-...``,
    ``claude-...@date``) match from their ``claude`` part. Unknown model: 0.0.
    """
    names = [model]
    if "claude" in model:
        names.append(model[model.index("claude") :])
    matches = [key for key in prices for name in names if name.startswith(str(key))]
    if not matches:
        return 0.0
    price = prices[max(matches, key=len)]
    if not isinstance(price, dict):
        return 0.0
    tokens = {"input": usage.input_tokens, "output": usage.output_tokens,
              "cache_write": usage.cache_creation_input_tokens,
              "cache_read": usage.cache_read_input_tokens}
    try:
        total = sum(n * float(price.get(k, 0.0)) for k, n in tokens.items())
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"SemCache.prices[{max(matches, key=len)!r}] holds a value that is not a number",
            hint="use US$ per million tokens, e.g. {'input': 3.0, 'output': 15.0}",
        ) from exc
    return round(total / 1_000_000, 8)


def message_usage(message: Any, prices: dict[str, Any]) -> Usage:
    """The usage and cost of one SDK ``Message``."""
    raw = message.usage
    usage = Usage(
        input_tokens=int(raw.input_tokens or 0),
        output_tokens=int(raw.output_tokens or 0),
        cache_creation_input_tokens=int(getattr(raw, "cache_creation_input_tokens", 0) or 0),
        cache_read_input_tokens=int(getattr(raw, "cache_read_input_tokens", 0) or 0),
    )
    usage.cost_usd = estimate_cost(str(message.model), usage, prices)
    return usage


def avoided_cost(model: str, task: str, code: str, prices: dict[str, Any]) -> float:
    """Estimated cost of the adapt call that serving ``code`` for ``task`` avoided."""
    if not code:
        return 0.0
    # An adapt request carries the system prompt, task and reference, and returns the code.
    chars_in = len(SYSTEM_PROMPT) + 2 * len(task) + len(code) + 800
    usage = Usage(input_tokens=chars_in // 4, output_tokens=len(code) // 4 + 20)
    return estimate_cost(model, usage, prices)
