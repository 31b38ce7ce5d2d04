"""Sharing commands: export (scripts, notebook, module), import (notebooks, scripts), promote."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ..options import check_count
from ..view import shorten

if TYPE_CHECKING:
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
        "import", parents=[common], help="harvest code cells from notebooks into the cache",
        description="Import the code cells of .ipynb notebooks and '# %%' .py files. The task "
        "is the markdown before a cell (or its leading comment); empty, magic-only and failed "
        "cells are skipped; secrets are redacted; snippets already stored are left alone. Every "
        "file is checked first: a bad file means nothing is imported.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help=".ipynb or .py files")
    p.add_argument("--dry-run", action="store_true", help="list what would be imported")
    p.add_argument("--tag", action="append", default=[], help="tag the new snippets")
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


def cmd_import(args: argparse.Namespace, ctx: CliContext) -> int:
    from ..share import import_files

    report = import_files(ctx.cache, args.files, tags=args.tag, dry_run=args.dry_run)
    if ctx.json:
        ctx.emit(report.to_json())
        return 0
    verb = "would import" if report.dry_run else "imported"
    for item in report.items:
        note = f"  (redacted: {', '.join(item.redacted)})" if item.redacted else ""
        label = {"new": verb, "exists": "already stored", "duplicate": "duplicate"}[item.status]
        print(f"{label:<15} {item.snippet.id}  {item.cell.origin}: {shorten(item.snippet.task)}"
              f"{note}")
    for skip in report.skipped:
        print(f"{'skipped':<15} {skip.origin}: {skip.reason}")
    print(f"{verb} {report.count('new')} snippet(s); {report.count('exists')} already stored, "
          f"{report.count('duplicate')} duplicate(s), {len(report.skipped)} cell(s) skipped")
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
