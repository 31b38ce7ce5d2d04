"""The ``semcache`` command line: a thin face over the cache, runner and pipeline.

Each command module registers its subcommands with ``register(subparsers)`` and
sets ``handler`` on them; a handler takes the parsed arguments and a
:class:`CliContext` and returns the exit code. Handlers parse and print; the work
happens in the core modules.

Exit codes: 0 success, 1 an error we explain on stderr, 2 bad usage,
3 the task needs the model but ``--no-model`` was given, 4 the cache would serve code
from a namespace you have not trusted and ``--trust`` was not given, 130 interrupted.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from ..config import SemCache
from ..errors import ConfigurationError, ModelRequiredError, SemcacheError

if TYPE_CHECKING:
    from ..cache import SnippetCache

__all__ = ["CliContext", "build_parser", "main"]

#: Modules under semcache_magic.cli that contribute subcommands, in help order.
COMMAND_MODULES = ("store_cmds", "run_cmd", "exec_cmd", "share_cmds", "freeze_cmd")

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NEEDS_MODEL, EXIT_NEEDS_TRUST = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130


class CliContext:
    """What every handler gets: the configuration and, on demand, the cache.

    The CLI builds one from the environment; ``%semcache`` hands in the notebook's
    configuration and cache, so both faces run the same handlers on the same store.
    """

    def __init__(self, args: argparse.Namespace, *, config: SemCache | None = None,
                 cache: SnippetCache | None = None) -> None:
        self.args = args
        store, namespace = getattr(args, "store", None), getattr(args, "namespace", None)
        # An empty value would silently mean "the default": say so instead.
        if store is not None and not store.strip():
            raise ConfigurationError("--store is empty",
                                     hint="give a directory or a URI, or leave --store out")
        if namespace is not None and not namespace.strip():
            raise ConfigurationError("--namespace is empty",
                                     hint="give a namespace, or leave --namespace out")
        if config is None:
            config = SemCache().apply_env()
        elif store or namespace:  # options of this command only: the session keeps its own
            config, cache = config.derive(), None
        self.config = config
        self.config.apply(store=store, namespace=namespace)
        if namespace:  # an explicit namespace is searched alone, like the magic's option
            self.config.search_namespaces = [namespace]
        self.json = bool(getattr(args, "json", False))
        self._owns_cache = cache is None
        self._cache: SnippetCache | None = cache

    @property
    def cache(self) -> SnippetCache:
        if self._cache is None:
            from ..cache import SnippetCache

            self._cache = SnippetCache(self.config)
        return self._cache

    def emit(self, data: Any, text: str | None = None) -> None:
        """Print ``data`` as one JSON line with --json, else ``text`` (or ``data``)."""
        if self.json:
            print(json.dumps(data, ensure_ascii=False, default=str), flush=True)
        elif text is not None:
            print(text, flush=True)
        else:
            print(data, flush=True)

    def close(self) -> None:
        if self._cache is not None and self._owns_cache:
            self._cache.close()


def _common_options(*, suppress: bool) -> argparse.ArgumentParser:
    """--store/--namespace/--json, accepted before or after the subcommand."""
    default: Any = argparse.SUPPRESS if suppress else None
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--store", metavar="URI", default=default,
        help="snippet store: a directory or a LanceDB URI such as s3://bucket/prefix "
        "(default: $SEMCACHE_STORE, $SEMCACHE_HOME or the per-user data directory)",
    )
    parent.add_argument(
        "--namespace", metavar="NS", default=default,
        help="namespace to save to and search (default: personal, user:<login>)",
    )
    parent.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS if suppress else False,
        help="machine-readable JSON on stdout",
    )
    return parent


def build_parser(
    prog: str = "semcache", *, commands: Sequence[str] | None = None,
    parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser,
) -> argparse.ArgumentParser:
    """The argument parser; ``commands`` keeps only those subcommands (``%semcache``)."""
    parser = parser_class(
        prog=prog,
        description="Semantic cache of notebook code written by Claude.",
        parents=[_common_options(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"semcache {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND",
                                       parser_class=parser_class)
    subparsers.required = True
    common = _common_options(suppress=True)
    target: Any = subparsers if commands is None else _Only(subparsers, commands)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(target, common)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("semcache-magic")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "unknown"


class _Only:
    """Subparsers that take only some commands; the others are built and dropped."""

    def __init__(self, subparsers: Any, names: Sequence[str]) -> None:
        self.subparsers, self.names = subparsers, set(names)

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if name in self.names or self.names & set(kwargs.get("aliases", ())):
            parser: argparse.ArgumentParser = self.subparsers.add_parser(name, **kwargs)
            return parser
        return argparse.ArgumentParser(add_help=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit code. Without ``argv`` (the ``semcache`` command itself)
    the process ends here, see :func:`_leave`."""
    # LanceDB's Rust side logs warnings on stderr; keep the user's terminal clean.
    os.environ.setdefault("LANCEDB_LOG", "error")
    parser = build_parser()
    args = parser.parse_args(argv)
    context: CliContext | None = None
    try:
        context = CliContext(args)
        code = int(args.handler(args, context) or 0)
    except ModelRequiredError as err:
        print(f"semcache: {err.describe()}", file=sys.stderr)
        code = EXIT_NEEDS_MODEL
    except SemcacheError as err:
        print(f"semcache: error: {err.describe()}", file=sys.stderr)
        code = EXIT_ERROR
    except KeyboardInterrupt:
        print("semcache: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except BrokenPipeError:  # `semcache list | head`
        code = EXIT_OK
    finally:
        if context is not None:
            context.close()
    if argv is None:
        _leave(code)
    return code


def _leave(code: int) -> NoReturn:
    """End the process now, after the exit handlers (they shut kernels down).

    Python's own finalisation -- tearing down lancedb, pyarrow and pandas module by
    module -- took 0.4-0.7 s of a ~2.5 s ``semcache list``; nothing in it matters to a
    finished command, whose writes are committed and whose output is flushed here.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to flush
            stream.flush()
    atexit._run_exitfuncs()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
