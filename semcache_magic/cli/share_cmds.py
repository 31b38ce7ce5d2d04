"""Sharing commands: export (scripts, notebook, module), import (notebooks, scripts), promote."""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..options import check_count
from ..view import shorten

if TYPE_CHECKING:
    from ..share import ImportReport
    from . import CliContext


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "export", parents=[common], help="write snippets as .py scripts, a notebook or a module",
        description="Write snippets as ordinary code that runs without semcache. Default: every "
        "snippet in the searched namespaces, one .py file each, named after its task. Existing "
        "files with other content stop the export (nothing written) unless --force.",
    )
    p.add_argument("--to", required=True, metavar="DIR",
                   help="target directory (for --format notebook/module also FILE.ipynb/FILE.py)")
    p.add_argument("--id", dest="ids", action="append", default=[], metavar="ID",
                   help="export this snippet (repeatable; unique prefixes of 4+ characters)")
    p.add_argument("--query", metavar="TEXT", help="export the best matches of a search")
    p.add_argument("--format", dest="fmt", choices=["script", "notebook", "module"],
                   default="script", help="one .py per snippet (default), one .ipynb, or one "
                   "module with a function per snippet")
    p.add_argument("--limit", type=int, help="at most this many (default: all; 10 with --query)")
    p.add_argument("--all-namespaces", action="store_true", help="every namespace in the store")
    p.add_argument("--force", action="store_true", help="overwrite files with other content")
    p.set_defaults(handler=cmd_export)

    p = subparsers.add_parser(
        "import", parents=[common], help="turn notebooks into snippets (references for Claude)",
        description="Import the code cells of .ipynb notebooks and '# %%' .py scripts, given "
        "as files or folders (searched recursively). Each cell becomes a snippet with the "
        "statements of earlier cells it needs (its context), the names still undefined (free "
        "names), a task describing it and its origin (path and cell). Cells that only show a "
        "value, only import, failed or are not Python are skipped; secrets are redacted; "
        "snippets already stored are left alone. Unreadable files are skipped and listed. "
        "Imported snippets are references the model adapts, never served as they are.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help=".ipynb notebooks, '# %%' .py scripts, or folders of them")
    p.add_argument("--dry-run", action="store_true", help="show what would be imported (and "
                   "forgotten); write nothing")
    p.add_argument("--tag", action="append", default=[], help="tag the new snippets")
    p.add_argument("--forget", action="append", default=[], metavar="PATH",
                   help="first delete what earlier imports took from this notebook or folder "
                   "(repeatable); give it again as PATH to import it afresh")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="list every snippet and every skipped cell")
    p.set_defaults(handler=cmd_import)

    p = subparsers.add_parser(
        "promote", parents=[common], help="copy a snippet into a shared namespace",
        description="Copy a snippet into another namespace (e.g. team) with its provenance; "
        "the copy's parent is the original.",
    )
    p.add_argument("id", help="snippet id (or a unique prefix of 4+ characters)")
    p.add_argument("--to", required=True, metavar="NS",
                   help="target namespace: team, project:NAME, personal, ...")
    p.set_defaults(handler=cmd_promote)


def cmd_export(args: argparse.Namespace, ctx: CliContext) -> int:
    from ..share import export_snippets

    check_count(args.limit, "--limit", low=1)
    # An explicit --namespace exports that namespace only, not the configured search list.
    paths = export_snippets(
        ctx.cache, args.to, ids=args.ids, query=args.query,
        namespace=getattr(args, "namespace", None), all_namespaces=args.all_namespaces,
        fmt=args.fmt, limit=args.limit, force=args.force,
    )
    if not paths:
        print("semcache: no snippets matched; nothing was written", file=sys.stderr)
        if ctx.json:
            ctx.emit({"files": []})
        return 1
    ctx.emit({"files": [str(p) for p in paths]}, text="\n".join(str(p) for p in paths))
    return 0


class _Bars:
    """Progress bars on stderr (tqdm; shown on a terminal only), one per import stage."""

    def __init__(self) -> None:
        self.bars: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        bar = self.bars.get(stage)
        if bar is None:
            from tqdm import tqdm

            self.close()  # one stage after the other, on one line
            unit = "file" if stage == "reading" else "snippet"
            bar = self.bars[stage] = tqdm(total=total, desc=stage, unit=unit, disable=None,
                                          file=sys.stderr, leave=False)
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def _print_report(report: ImportReport, verbose: bool) -> None:
    verb = "would import" if report.dry_run else "imported"
    for s in report.forgotten:
        print(f"{'would forget' if report.dry_run else 'forgot':<15} {s.id}  "
              f"{s.origin.get('path')} [cell {s.origin.get('cell')}]: {shorten(s.task)}")
    if verbose or report.dry_run:
        for item in report.items:
            label = {"new": verb, "exists": "already stored", "duplicate": "duplicate"}
            free = f"  (needs {', '.join(item.snippet.free_names)})" \
                if item.snippet.free_names else ""
            note = f"  (redacted: {', '.join(item.redacted)})" if item.redacted else ""
            print(f"{label[item.status]:<15} {item.snippet.id}  {item.cell.where}: "
                  f"{shorten(item.snippet.task)}{free}{note}")
    cells = [s for s in report.skipped if s.cell is not None]
    if verbose:
        for skip in cells:
            print(f"{'skipped':<15} {skip.where}: {skip.reason}")
    else:
        reasons = Counter(re.sub(r" of .*| \(.*", "", s.reason) for s in cells)
        for reason, count in reasons.most_common():
            print(f"{'skipped':<15} {count} cell(s): {reason}")
    for skip in (s for s in report.skipped if s.cell is None):  # every bad file, by name
        print(f"{'skipped file':<15} {skip.path}: {skip.reason}")
    redacted = [item for item in report.items if item.redacted]
    if redacted:  # always said: secrets were removed before anything was stored
        kinds = Counter(kind for item in redacted for kind in item.redacted)
        print(f"{'redacted':<15} {sum(kinds.values())} secret(s) in {len(redacted)} cell(s): "
              + ", ".join(f"{kind} x{count}" for kind, count in kinds.most_common()))
    stored = len(report.items) - report.count("duplicate")
    print(f"{verb} {report.count('new')} snippet(s) from {len(report.harvest.files)} file(s); "
          f"{report.count('exists')} already stored, {len(cells)} cell(s) and "
          f"{len(report.harvest.skipped_files)} file(s) skipped; "
          f"{report.self_contained}/{stored} need nothing from outside their context")


def cmd_import(args: argparse.Namespace, ctx: CliContext) -> int:
    from ..share import import_files

    if not args.paths and not args.forget:
        raise ConfigurationError("give the notebooks, scripts or folders to import",
                                 hint="or --forget PATH to delete what came from one")
    bars = _Bars()
    try:
        report = import_files(ctx.cache, args.paths, namespace=getattr(args, "namespace", None),
                              tags=args.tag, dry_run=args.dry_run, forget=args.forget,
                              progress=bars)
    finally:
        bars.close()
    if ctx.json:
        ctx.emit(report.to_json())
    else:
        _print_report(report, args.verbose)
    if args.paths and not report.items:
        print("semcache: nothing was imported: no file held a cell to import "
              "(the reasons are listed above)", file=sys.stderr)
        return 1
    return 0


def cmd_promote(args: argparse.Namespace, ctx: CliContext) -> int:
    from ..share import promote_snippet

    result = promote_snippet(ctx.cache, args.id, args.to)
    s = result.snippet
    ctx.emit({"id": s.id, "namespace": s.namespace, "parent_id": s.parent_id,
              "created": result.created},
             text=(f"{s.id}: promoted to {s.namespace} (from {s.parent_id})" if result.created
                   else f"{s.id}: already in {s.namespace}"))
    return 0
