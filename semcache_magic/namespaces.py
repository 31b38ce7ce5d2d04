"""Namespaces and where the store lives: which snippets a user saves, searches and trusts.

A snippet is saved to one namespace (:func:`resolve_namespace`: the personal
``user:<login>`` unless configured), a lookup searches an ordered list
(:func:`search_namespaces`), and code served from a namespace outside
:func:`trusted_namespaces` waits for the user's yes. Re-exported by
:mod:`semcache_magic.config`, whose settings these read.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .config import SemCache

__all__ = [
    "default_store_uri",
    "personal_namespace",
    "resolve_namespace",
    "search_namespaces",
    "trusted_namespaces",
    "validate_namespace",
]

_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$")


def default_store_uri() -> str:
    """Where the store lives when nothing is configured.

    ``$SEMCACHE_HOME`` if set, else the per-user data directory
    (``$XDG_DATA_HOME/semcache`` or ``~/.local/share/semcache`` on Linux,
    ``~/Library/Application Support/semcache`` on macOS, ``%LOCALAPPDATA%\\semcache``
    on Windows).
    """
    home = os.environ.get("SEMCACHE_HOME")
    if home:
        return home
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return str(base / "semcache")


def personal_namespace() -> str:
    """The namespace a user's own snippets go to: ``user:<login>``."""
    try:
        login = getpass.getuser()
    except Exception:  # no login name in some containers
        login = "anonymous"
    login = re.sub(r"[^A-Za-z0-9_.@-]", "_", login)[:58] or "anonymous"
    return f"user:{login}"


def validate_namespace(name: str) -> str:
    """Return ``name`` if it is a valid namespace, else raise ConfigurationError."""
    if not isinstance(name, str) or not _NAMESPACE_RE.match(name):
        raise ConfigurationError(
            f"invalid namespace {name!r}",
            hint="use 1-64 characters: letters, digits and _ . : @ - (e.g. team, project:sales)",
        )
    return name


def resolve_namespace(name: str | None = None, config: SemCache | None = None) -> str:
    """The one namespace a snippet is *saved* to.

    Store and lookup both call this (and :func:`search_namespaces`), so a
    snippet saved without naming a namespace is found by a lookup that names
    none either. ``""``, ``None`` and ``"personal"`` mean the user's personal
    namespace.
    """
    if not name and config is not None:
        name = config.namespace
    if not name or name == "personal":
        return personal_namespace()
    return validate_namespace(name)


def trusted_namespaces(config: SemCache | None = None) -> list[str]:
    """Namespaces whose code runs without a confirmation: the user's personal namespace,
    plus ``trusted_namespaces`` (each resolved like :func:`resolve_namespace`). A shared
    namespace is not trusted because code is saved there: others save there too."""
    trusted = [personal_namespace()]
    for entry in (config.trusted_namespaces if config is not None else []):
        resolved = resolve_namespace(entry, None)
        if resolved not in trusted:
            trusted.append(resolved)
    return trusted


def search_namespaces(name: str | None = None, config: SemCache | None = None) -> list[str]:
    """The ordered namespaces a *lookup* searches.

    An explicit ``name`` searches that namespace only. Otherwise the configured
    ``search_namespaces`` list (each resolved like :func:`resolve_namespace`),
    or, when that list is empty, the save namespace alone.
    """
    if name:
        return [resolve_namespace(name, config)]
    listed = list(config.search_namespaces) if config is not None else []
    if not listed:
        return [resolve_namespace(None, config)]
    seen: list[str] = []
    for entry in listed:
        resolved = resolve_namespace(entry, None)
        if resolved not in seen:
            seen.append(resolved)
    return seen
