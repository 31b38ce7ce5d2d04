"""The IPython magics: ``%%cached_task`` and ``%semcache``.

Load with ``%load_ext semcache_magic``. Configure with ``%config``::

    %config SemCache.threshold = 0.7
    %config SemCache.namespace = "project:churn"

or in ``ipython_config.py``: ``c.SemCache.kernel_name = "data-py311"`` (every
setting is documented in :mod:`semcache_magic.config`). The magics only parse
their arguments and render; the work is done by :class:`~semcache_magic.pipeline.Pipeline`.
"""

from __future__ import annotations

import keyword
import threading
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import (
    MagicArgumentParser,
    argument,
    magic_arguments,
    parse_argstring,
)

from .config import SemCache
from .errors import ConfigurationError, SemcacheError, TaskError

__all__ = ["SemcacheMagics", "load_ipython_extension", "unload_ipython_extension"]


def _names(value: str | None, option: str) -> list[str]:
    """``a,b`` -> ["a", "b"]; each must be a Python identifier."""
    names = [n.strip() for n in (value or "").split(",") if n.strip()]
    for name in names:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise UsageError(f"{option}: {name!r} is not a variable name")
    return names


@magics_class
class SemcacheMagics(Magics):
    """``%%cached_task`` and ``%semcache``, sharing one :class:`SemCache` configuration."""

    def __init__(self, shell: Any, config: SemCache) -> None:
        super().__init__(shell)
        self.settings = config
        self._pipeline: Any = None
        self._lock = threading.Lock()
        self.last_view: Any = None  # the widget or text view of the latest run

    @property
    def ip(self) -> Any:
        """The shell (Magics types it as optional; a registered magic always has one)."""
        assert self.shell is not None
        return self.shell

    @property
    def pipeline(self) -> Any:
        with self._lock:
            if self._pipeline is None:
                from .pipeline import Pipeline

                self._pipeline = Pipeline(self.settings)
            return self._pipeline

    def warm(self) -> None:
        """Load the model, open the store, start the kernel pool: in the background."""
        def work() -> None:
            try:
                pipeline = self.pipeline
                pipeline.warm()
                pipeline.cache.store.count()
            except SemcacheError:
                pass  # the first real use reports it, with its hint

        threading.Thread(target=work, name="semcache-warm", daemon=True).start()

    # -- %%cached_task ---------------------------------------------------------------

    @magic_arguments()
    @argument("--namespace", help="namespace to search and save in (default: personal)")
    @argument("--threshold", type=float, help="lowest score for a semantic reference")
    @argument("--top-k", type=int, help="semantic candidates to consider")
    @argument("--refresh", action="store_true", help="skip the cache: ask Claude for fresh code")
    @argument("--no-save", action="store_true", help="do not save the result (Save button)")
    @argument("--dry-run", action="store_true",
              help="show the reference and the proposed code; run nothing")
    @argument("--timeout", type=float, help="seconds the run may take (default: run_timeout)")
    @argument("--in", dest="inputs", metavar="A,B",
              help="variables of this notebook to send into the isolated kernel")
    @argument("--out", dest="outputs", metavar="X,Y",
              help="variables to bring back from the isolated kernel into this notebook")
    @argument("--kernel", help="kernelspec to run in (default: SemCache.kernel_name)")
    @argument("--model", help="Claude model for this task (default: SemCache.model)")
    @argument("--max-repairs", type=int, help="repair attempts after a failed run")
    @argument("--no-model", action="store_true",
              help="never call Claude: fail if the cache cannot serve the task")
    @argument("--insert", action="store_true", help="also put the final code in a new cell below")
    @argument("--quiet", action="store_true", help="show only the code's own outputs")
    @argument("--expand", action="store_true",
              help="expand {name} in the task from this notebook's variables")
    @no_var_expand
    @cell_magic
    def cached_task(self, line: str, cell: str) -> None:
        """Run a task written in plain language, reusing cached code when it fits.

        The cell body is the task. The cache answers in tiers: *exact* (same task:
        the stored code runs), *slot* (same task with other values: substituted),
        *semantic* (a similar snippet: Claude adapts it) or *miss* (Claude writes
        it). The code runs in an isolated kernel; what works is saved.

        Examples::

            %%cached_task
            Print the first 10 Fibonacci numbers as a list

            %%cached_task --in df --out summary
            Compute the mean of every numeric column of df into summary

            %%cached_task --dry-run --insert
            Plot a histogram of df.price with 30 bins

        ``{name}`` in the task is kept as typed unless ``--expand`` is given.
        """
        args = parse_argstring(self.cached_task, line)
        task = self.ip.var_expand(cell, depth=2) if args.expand else cell
        if not task.strip():
            raise UsageError("%%cached_task needs a task in the cell body, e.g. "
                             "'Print the first 10 primes'")
        if args.timeout is not None and args.timeout <= 0:
            raise UsageError("--timeout must be a positive number of seconds")
        if args.max_repairs is not None and args.max_repairs < 0:
            raise UsageError("--max-repairs must be 0 or more")
        inputs = {}
        for name in _names(args.inputs, "--in"):
            if name not in self.ip.user_ns:
                raise UsageError(f"--in: no variable named {name!r} in this notebook")
            inputs[name] = self.ip.user_ns[name]
        from .pipeline import TaskRequest

        request = TaskRequest(
            task=task, namespace=args.namespace, threshold=args.threshold, top_k=args.top_k,
            refresh=args.refresh, save=not args.no_save, dry_run=args.dry_run,
            timeout=args.timeout, inputs=inputs, outputs=_names(args.outputs, "--out"),
            kernel=args.kernel, model=args.model, max_repairs=args.max_repairs,
            allow_model=not args.no_model, face="magic",
        )
        self._run(request, quiet=args.quiet, insert=args.insert)

    def _run(self, request: Any, *, quiet: bool, insert: bool) -> None:
        from .text_view import relay_output

        view = self.last_view = self._view(request, quiet)

        def on_event(event: Any) -> None:
            if event.kind == "output":
                relay_output(event.data["output"])
            elif view is not None:
                view(event)

        try:
            outcome = self.pipeline.run(request, on_event=on_event)
        except (TaskError, ConfigurationError) as err:
            raise UsageError(err.describe()) from None
        if view is not None:
            view.finish(outcome)
        if outcome.status == "cancelled":
            raise KeyboardInterrupt
        if insert and outcome.code is not None and outcome.status in ("ok", "dry_run"):
            self.ip.set_next_input(outcome.code, replace=False)
        if outcome.ok:
            if outcome.run is not None:
                self.ip.user_ns.update(
                    {k: v for k, v in outcome.run.values.items() if k in request.outputs})
            return
        if outcome.status == "dry_run":
            return
        raise outcome.error or SemcacheError(f"the task ended with status {outcome.status}")

    def _view(self, request: Any, quiet: bool) -> Any:
        if quiet:
            return None
        mode = self.settings.ui
        if mode == "auto":
            mode = "widget" if type(self.ip).__name__ == "ZMQInteractiveShell" else "text"
        if mode == "text":
            from .text_view import TextView

            return TextView()
        from .widget import TaskWidget

        def regenerate() -> None:
            from dataclasses import replace

            self._run(replace(request, refresh=True), quiet=False, insert=False)

        def vote(outcome: Any, up: bool) -> str:
            snippet = outcome.ran_snippet
            if snippet is None:
                return "nothing to vote on"
            voted = self.pipeline.cache.vote(snippet.id, up)
            return f"votes +{voted.votes_up} / -{voted.votes_down}"

        def save(outcome: Any) -> str:
            saved = self.pipeline.save(outcome)
            return f"saved {saved.id}" if saved else "nothing to save"

        widget = TaskWidget(request.task, on_save=save, on_vote=vote, on_regenerate=regenerate)
        widget.show()
        return widget

    # -- %semcache ---------------------------------------------------------------------

    @no_var_expand
    @line_magic
    def semcache(self, line: str) -> None:
        """Browse and manage the snippet cache.

        Usage::

            %semcache search TEXT [--limit N]
            %semcache list [--limit N] [--sort recent|uses|votes]
            %semcache show ID
            %semcache stats
            %semcache export --to DIR [--id ID ...] [--query TEXT] [--format script|notebook|module]
            %semcache forget ID
            %semcache config
        """
        parser = _semcache_parser()
        try:
            args = parser.parse_args(_shell_split(line))
        except SystemExit:  # --help printed its text
            return
        if args.command is None:
            print(parser.format_help())
            return
        try:
            self._semcache(args)
        except SemcacheError as err:
            raise UsageError(err.describe()) from None

    def _semcache(self, args: Any) -> None:
        cache = self.pipeline.cache
        if args.command == "search":
            hits = cache.search(" ".join(args.text), limit=args.limit)
            for hit in hits:
                print(f"{hit.score:.3f}  {hit.snippet.id}  {hit.snippet.task[:80]}")
            if not hits:
                print("no snippets found")
        elif args.command == "list":
            for s in cache.list_snippets(limit=args.limit, sort=args.sort):
                print(f"{s.id}  {s.source:<9} uses {s.use_count:<3} {s.task[:70]}")
        elif args.command == "show":
            s = cache.get(args.id)
            print(f"{s.id}  [{s.namespace}, {s.source}]  {s.task}\n{s.code}", end="")
        elif args.command == "stats":
            from .stats import format_stats, run_stats

            print(format_stats(cache.stats(), run_stats(cache.store.runs())))
        elif args.command == "forget":
            s = cache.delete(args.id)
            print(f"forgot {s.id}: {s.task[:70]}")
        elif args.command == "config":
            for name in sorted(self.settings.traits(config=True)):
                print(f"SemCache.{name} = {getattr(self.settings, name)!r}")
        elif args.command == "export":
            from .export import export_snippets

            paths = export_snippets(cache, args.to, ids=args.id or (), query=args.query,
                                    fmt=args.format)
            for path in paths:
                print(path)


def _shell_split(line: str) -> list[str]:
    import shlex

    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%semcache: {exc}") from None


def _semcache_parser() -> MagicArgumentParser:
    parser = MagicArgumentParser(prog="%semcache", add_help=True)
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("search", help="hybrid search of snippets")
    p.add_argument("text", nargs="+")
    p.add_argument("--limit", type=int, default=10)
    p = sub.add_parser("list", help="list snippets")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--sort", choices=["recent", "uses", "votes"], default="recent")
    sub.add_parser("show", help="show one snippet").add_argument("id")
    sub.add_parser("stats", help="cache and run statistics")
    sub.add_parser("forget", help="delete a snippet").add_argument("id")
    sub.add_parser("config", help="show the current settings")
    p = sub.add_parser("export", help="write snippets out as scripts")
    p.add_argument("--to", required=True, help="directory to write to")
    p.add_argument("--id", action="append", help="a snippet id (repeatable)")
    p.add_argument("--query", help="export the snippets matching this search")
    p.add_argument("--format", choices=["script", "notebook", "module"], default="script")
    # Subparsers are plain argparse parsers: make their errors UsageErrors too.
    for choice in sub.choices.values():
        choice.error = parser.error  # type: ignore[method-assign]
    return parser


def load_ipython_extension(ipython: Any) -> None:
    config = SemCache(parent=ipython).apply_env()
    if config not in ipython.configurables:
        ipython.configurables.append(config)  # so %config SemCache.x = ... reaches it
    magics = SemcacheMagics(ipython, config)
    ipython.register_magics(magics)
    if config.warm_embedder:
        magics.warm()


def unload_ipython_extension(ipython: Any) -> None:
    for magics in list(ipython.magics_manager.registry.values()):
        if isinstance(magics, SemcacheMagics) and magics._pipeline is not None:
            magics._pipeline.cache.close()
