"""Checks for the options every face receives (the magic, the CLI, the server).

One place decides what a valid timeout, count, threshold or variable name is, so
``%%cached_task --timeout nan`` and ``semcache run --timeout nan`` fail the same
way: one line naming the option, before anything runs or is paid for. Each check
returns the clean value or raises :class:`~semcache_magic.errors.ConfigurationError`
(the magic shows it as a ``UsageError``).
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Iterable

from .errors import ConfigurationError

__all__ = ["MAX_LIMIT", "check_count", "check_names", "check_score", "check_seconds"]

#: What the checks take: a number, or its text as typed (a query argument, an env var).
Number = int | float | str

#: The most rows a listing or search may ask for (more is never useful, and huge
#: numbers overflow LanceDB's 64-bit limits).
MAX_LIMIT = 100_000

#: A run may last at most a week: larger values are typos, and ``inf`` is no deadline.
MAX_SECONDS = 7 * 24 * 3600.0


def check_seconds(value: Number | None, option: str, *, zero: bool = False) -> float | None:
    """A positive, finite number of seconds (``None`` passes: the configured default);
    ``zero`` also accepts 0 (where a setting documents 0 as "never")."""
    if value is None:
        return None
    number = _number(value, option)
    if not (0 < number <= MAX_SECONDS or (zero and number == 0)):
        least = "0 or more" if zero else "a positive number of"
        raise ConfigurationError(
            f"{option} must be {least} seconds (at most {MAX_SECONDS:g}), got {value!r}")
    return number


def check_count(value: Number | None, option: str, *, low: int = 0,
                high: int = MAX_LIMIT) -> int | None:
    """A whole number in ``[low, high]`` (``None`` passes)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        number = _number(value, option)
        if not number.is_integer():
            raise ConfigurationError(f"{option} must be a whole number, got {value!r}")
        value = int(number)
    if not low <= value <= high:
        raise ConfigurationError(f"{option} must be between {low} and {high:,}, got {value}")
    return value


def check_score(value: Number | None, option: str) -> float | None:
    """A similarity threshold in ``[0, 1]`` (``None`` passes)."""
    if value is None:
        return None
    number = _number(value, option)
    if not 0.0 <= number <= 1.0:
        raise ConfigurationError(f"{option} must be between 0 and 1, got {value!r}")
    return number


def check_names(value: str | Iterable[str] | None, option: str) -> list[str]:
    """``"a,b"`` (or a list) -> ``["a", "b"]``; each must be a Python variable name."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [str(n).strip() for n in items if str(n).strip()]
    for name in names:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise ConfigurationError(f"{option}: {name!r} is not a variable name")
    return names


def _number(value: object, option: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigurationError(f"{option} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ConfigurationError(f"{option} must be a finite number, got {value!r}")
    return number
