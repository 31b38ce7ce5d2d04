"""The IPython magics: ``%%cached_task`` and ``%semcache``.

Load with ``%load_ext semcache_magic``. Configure with ``%config``::

    %config SemCache.threshold = 0.7
    %config SemCache.namespace = "project:churn"

or in ``ipython_config.py``: ``c.SemCache.kernel_name = "data-py311"`` (every
setting is documented in :mod:`semcache_magic.config`). The magics only parse
their arguments and render; the work is done by :class:`~semcache_magic.pipeline.Pipeline`.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from dataclasses import replace
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import (
    MagicArgumentParser,
    argument,
    magic_arguments,
    parse_argstring,
)

from ..config import SemCache
from ..errors import ConfigurationError, SemcacheError, TaskError
from ..options import check_count, check_names, check_score, check_seconds

__all__ = ["SemcacheMagics", "load_ipython_extension", "unload_ipython_extension"]


@magics_class
class SemcacheMagics(Magics):
    """``%%cached_task`` and ``%semcache``, sharing one :class:`SemCache` configuration."""

    def __init__(self, shell: Any, config: SemCache) -> None:
        super().__init__(shell)
        self.settings = config
        self._pipeline: Any = None
        self._lock = threading.Lock()
        self._idle = threading.Event()  # set while no %%cached_task runs
        self._idle.set()
        self.last_view: Any = None  # the widget or text view of the latest run
        #: Changes a widget button asked for, applied when that cell runs again (by cell).
        self._armed: dict[str, dict[str, Any]] = {}

    @property
    def ip(self) -> Any:
        """The shell (Magics types it as optional; a registered magic always has one)."""
        assert self.shell is not None
        return self.shell

    @property
    def pipeline(self) -> Any:
        with self._lock:
            if self._pipeline is None:
                from ..pipeline import Pipeline

                self._pipeline = Pipeline(self.settings)
            return self._pipeline

    def warm(self) -> None:
        """Start the kernel pool, open the store, load the model: in the background."""
        def work() -> None:
            from ..task import warm_redaction

            warm_redaction()  # detect-secrets loads in ~110 ms: not in the first task's time
            with contextlib.suppress(SemcacheError):  # the first real use reports it
                self.pipeline.warm(between=self._idle.wait)

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
    @argument("--trust", action="store_true",
              help="run served code from a namespace you have not trusted (after reading it)")
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
        try:
            args = parse_argstring(self.cached_task, line)
        except ValueError as exc:  # shlex: an unclosed quote
            raise UsageError(f"%%cached_task: cannot read the options ({exc})") from None
        task = self.ip.var_expand(cell, depth=2) if args.expand else cell
        if not task.strip():
            raise UsageError("%%cached_task needs a task in the cell body, e.g. "
                             "'Print the first 10 primes'")
        try:
            request = self._request(task, args)
        except ConfigurationError as err:
            raise UsageError(err.describe()) from None
        key = _cell_key(line, cell)
        armed = self._armed.pop(key, None)
        if armed:  # a widget button asked for this run (Regenerate, Run this code, Trust)
            request = replace(request, **armed)
        self._run(request, quiet=args.quiet, insert=args.insert, line=line, key=key)

    def _request(self, task: str, args: Any) -> Any:
        from ..outcome import TaskRequest

        inputs = {}
        for name in check_names(args.inputs, "--in"):
            if name not in self.ip.user_ns:
                raise ConfigurationError(f"--in: no variable named {name!r} in this notebook")
            inputs[name] = self.ip.user_ns[name]
        return TaskRequest(
            task=task, namespace=args.namespace,
            threshold=check_score(args.threshold, "--threshold"),
            top_k=check_count(args.top_k, "--top-k", low=1, high=1000),
            refresh=args.refresh, save=not args.no_save, dry_run=args.dry_run,
            timeout=check_seconds(args.timeout, "--timeout"), inputs=inputs,
            outputs=check_names(args.outputs, "--out"), kernel=args.kernel, model=args.model,
            max_repairs=check_count(args.max_repairs, "--max-repairs", high=20),
            allow_model=not args.no_model, trust=args.trust, face="magic",
        )

    def _run(self, request: Any, *, quiet: bool, insert: bool, line: str = "",
             key: str = "") -> None:
        from ..view import relay_output

        terminal = not self._in_kernel()
        view = self._view(request, quiet=quiet, line=line, key=key, terminal=terminal)
        self.last_view = getattr(view, "widget", None) or view

        def on_event(event: Any) -> None:
            if event.kind == "output":
                relay_output(event.data["output"], terminal=terminal)
            elif view is not None:
                view(event)

        self._idle.clear()
        try:
            outcome = self.pipeline.run(request, on_event=on_event)
        except (TaskError, ConfigurationError) as err:
            raise UsageError(err.describe()) from None
        finally:
            self._idle.set()
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
            return  # nothing failed: the code waits for the user's review
        # needs_trust raises too: the code did not run, so "Run all" must stop here.
        raise outcome.error or SemcacheError(f"the task ended with status {outcome.status}")

    def _in_kernel(self) -> bool:
        """True in a notebook kernel (a front end keeps the outputs), False on a terminal."""
        return type(self.ip).__name__ == "ZMQInteractiveShell"

    def _view(self, request: Any, *, quiet: bool, line: str, key: str, terminal: bool) -> Any:
        """A terminal's text lines, or a notebook's display (widget or text, with the
        task's record); None for a quiet task on a terminal."""
        mode = self.settings.ui
        if mode == "auto":
            mode = "text" if terminal else "widget"
        if terminal and (quiet or mode == "text"):
            from ..view import TextView

            return None if quiet else TextView(model_allowed=request.allow_model,
                                               show_errors=False)
        from ..view import TaskDisplay

        widget = None if quiet or mode == "text" else self._widget(request, key)
        display = TaskDisplay(request, line=line, widget=widget, quiet=quiet)
        display.start()
        return display

    def _widget(self, request: Any, key: str) -> Any:
        from ..view import TaskWidget

        def rerun(what: str, outcome: Any, code: str | None) -> str:
            # The cell runs again (the labextension re-executes it) with this change.
            choices: dict[str, dict[str, Any]] = {
                "regenerate": {"refresh": True, "code": None}, "trust": {"trust": True},
                "run_code": {"code": code, "dry_run": False}}
            changes = choices[what]
            if what == "run_code" and not code:
                return ""
            self._armed[key] = changes
            return what

        def vote(outcome: Any, up: bool) -> str:
            snippet = outcome.ran_snippet
            if snippet is None:
                return "nothing to vote on"
            # The snippet that ran, wherever it came from (an explicit --namespace too).
            voted = self.pipeline.cache.vote(snippet.id, up, namespace=snippet.namespace)
            return f"votes +{voted.votes_up} / -{voted.votes_down}"

        def save(outcome: Any) -> str:
            saved = self.pipeline.save(outcome)
            return f"saved {saved.id}" if saved else "nothing to save"

        pipeline = self._pipeline
        cold = pipeline is None or not pipeline.cache.embedder.loaded
        hint = "loading the embedding model (first task only)…" if cold else ""
        return TaskWidget(request.task, on_save=save, on_vote=vote, on_rerun=rerun,
                          search_hint=hint, refresh=request.refresh)

    # -- %semcache ---------------------------------------------------------------------

    @no_var_expand
    @line_magic
    def semcache(self, line: str) -> None:
        """Browse and manage the snippet cache: the ``semcache`` command line, in a notebook.

        Usage::

            %semcache search TEXT [--limit N]
            %semcache list [--limit N] [--sort recent|uses|votes]
            %semcache show ID
            %semcache lookup TASK
            %semcache stats
            %semcache export --to DIR [--id ID ...] [--query TEXT] [--format ...]
            %semcache vote ID up|down
            %semcache tag ID [TAG ...]
            %semcache forget ID
            %semcache config

        Each command is the CLI's own (``semcache COMMAND --help`` documents its
        options), run against this notebook's settings and cache.
        """
        if line.strip() == "config":
            for name in sorted(self.settings.traits(config=True)):
                print(f"SemCache.{name} = {getattr(self.settings, name)!r}")
            return
        from ..cli import CliContext, build_parser

        parser = build_parser("%semcache", commands=_SEMCACHE_COMMANDS,
                              parser_class=MagicArgumentParser)
        try:
            args = parser.parse_args(_shell_split(line))
        except SystemExit:  # --help printed its text
            return
        context = CliContext(args, config=self.settings, cache=self.pipeline.cache)
        try:
            args.handler(args, context)
        except SemcacheError as err:
            raise UsageError(err.describe()) from None
        finally:
            context.close()


#: The CLI commands ``%semcache`` offers (running tasks has its own magic).
_SEMCACHE_COMMANDS = ("search", "list", "show", "lookup", "stats", "export", "vote", "tag",
                      "delete", "forget", "promote", "import")


def _cell_key(line: str, cell: str) -> str:
    """Which cell a widget button armed: its options and task, as typed."""
    return hashlib.sha256(f"{line}\0{cell}".encode()).hexdigest()[:24]


def _shell_split(line: str) -> list[str]:
    import shlex

    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%semcache: {exc}") from None


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
