"""The package is light to import and exposes what it documents."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "sentence_transformers", "lancedb", "anthropic", "jupyter_client", "pyarrow",
         "ipywidgets")


def test_importing_the_package_imports_nothing_heavy() -> None:
    code = ("import sys, semcache_magic; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_every_error_is_a_semcache_error_and_a_builtin() -> None:
    from semcache_magic import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.SemcacheError)
        assert issubclass(cls, Exception)
    assert issubclass(errors.RunTimeoutError, TimeoutError)
    assert issubclass(errors.SnippetNotFoundError, KeyError)
    assert str(errors.SnippetNotFoundError("no snippet with id 'x'")) == "no snippet with id 'x'"


def test_every_setting_is_documented_and_configurable() -> None:
    from semcache_magic.config import SemCache

    traits = SemCache.class_traits(config=True)
    assert len(traits) > 20
    for name, trait in traits.items():
        assert trait.help and len(trait.help) > 15, name


def test_env_overrides_and_bad_values() -> None:
    import pytest

    from semcache_magic.config import SemCache
    from semcache_magic.errors import ConfigurationError

    config = SemCache().apply_env({"SEMCACHE_THRESHOLD": "0.75", "SEMCACHE_SEARCH_NAMESPACES":
                                   "personal, team", "SEMCACHE_STORAGE_OPTIONS":
                                   '{"allow_http": "true"}'})
    assert config.threshold == 0.75
    assert config.search_namespaces == ["personal", "team"]
    assert config.storage_options == {"allow_http": "true"}
    with pytest.raises(ConfigurationError, match="SEMCACHE_TOP_K"):
        SemCache().apply_env({"SEMCACHE_TOP_K": "many"})
