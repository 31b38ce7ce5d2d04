"""Store commands: add, lookup, search, show, list, delete, vote, tag, stats, optimize."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, TaskError
from ..options import check_count, check_score
from ..share import read_text
from ..view import shorten, snippet_line

if TYPE_CHECKING:
    from . import CliContext


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "add", parents=[common], help="store code for a task",
        description="Store code for a task. Prints the snippet id (one a line with --jsonl).",
    )
    p.add_argument("--task", help="the task in plain language")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--code", help="the code")
    src.add_argument("--code-file", metavar="PATH", help="read the code from a file")
    src.add_argument("--jsonl", metavar="FILE",
                     help='bulk: one {"task", "code"} object a line ("-" for stdin)')
    p.add_argument("--source", default="manual",
                   choices=["manual", "generated", "adapted", "slot", "imported"])
    p.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    p.set_defaults(handler=cmd_add)

    p = subparsers.add_parser(
        "lookup", parents=[common], help="find what the cache would do for a task",
        description="Run the tiered lookup (exact, slot, semantic, miss) without running code.",
    )
    p.add_argument("task", nargs="?", help="the task in plain language")
    p.add_argument("--jsonl", metavar="FILE",
                   help='bulk: one {"task"} object a line in, one result a line out')
    p.add_argument("--threshold", type=float, help="semantic threshold (default: configured)")
    p.add_argument("--top-k", type=int, help="semantic candidates to consider")
    p.set_defaults(handler=cmd_lookup)

    p = subparsers.add_parser("search", parents=[common], help="hybrid search of snippets")
    p.add_argument("text", nargs="+", help="what to search for (several words are joined)")
    p.add_argument("--limit", type=int, default=10)
    p.set_defaults(handler=cmd_search)

    p = subparsers.add_parser("show", parents=[common], help="show one snippet")
    p.add_argument("id", help="snippet id (or a unique prefix of 4+ characters)")
    p.set_defaults(handler=cmd_show)

    p = subparsers.add_parser("list", parents=[common], help="list snippets")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--sort", choices=["recent", "uses", "votes"], default="recent")
    p.add_argument("--all-namespaces", action="store_true", help="every namespace in the store")
    p.set_defaults(handler=cmd_list)

    p = subparsers.add_parser("delete", parents=[common], aliases=["forget"],
                              help="delete a snippet")
    p.add_argument("id")
    p.set_defaults(handler=cmd_delete)

    p = subparsers.add_parser("vote", parents=[common], help="vote a snippet up or down")
    p.add_argument("id")
    p.add_argument("direction", choices=["up", "down"])
    p.set_defaults(handler=cmd_vote)

    p = subparsers.add_parser("tag", parents=[common], help="replace a snippet's tags")
    p.add_argument("id")
    p.add_argument("tags", nargs="*", help="the new tags (none clears them)")
    p.set_defaults(handler=cmd_tag)

    p = subparsers.add_parser("stats", parents=[common], help="store and run statistics")
    p.set_defaults(handler=cmd_stats)

    p = subparsers.add_parser(
        "optimize", parents=[common], help="fold new rows into the indexes and compact",
    )
    p.add_argument("--vector-index", action="store_true",
                   help="build the ANN vector index now, whatever the table size")
    p.set_defaults(handler=cmd_optimize)


# -- helpers -------------------------------------------------------------------------------

def _jsonl(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a bad line is a clear error."""
    for number, line in enumerate(read_text(path, "the JSONL file").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(item, dict):
            raise ConfigurationError(f"{path}:{number}: expected a JSON object")
        yield number, item


# -- handlers ----------------------------------------------------------------------------

def cmd_add(args: argparse.Namespace, ctx: CliContext) -> int:
    ctx.cache.embedder.warm()  # loads (or reaches) the model while lancedb is imported
    if args.jsonl:
        if args.task:
            raise ConfigurationError("--task cannot be combined with --jsonl")
        items = []
        for number, item in _jsonl(args.jsonl):
            task, code = item.get("task"), item.get("code")
            if not isinstance(task, str) or not task.strip():
                raise TaskError(f"{args.jsonl}:{number}: the task is missing or empty")
            if not isinstance(code, str) or not code.strip():
                raise TaskError(f"{args.jsonl}:{number}: the code is missing or empty")
            item.setdefault("tags", args.tag)
            items.append(item)
        # Everything was validated above, so a bad line never leaves half a batch saved.
        saved = ctx.cache.save_many(items, source=args.source)
        for result in saved:
            ctx.emit({"id": result.snippet.id, "created": result.created},
                     text=result.snippet.id)
        return 0
    if not args.task:
        raise ConfigurationError("--task is required (or use --jsonl FILE)")
    if args.code_file:
        code = read_text(args.code_file, "the code file")
    elif args.code is not None:
        code = args.code
    else:
        raise ConfigurationError("give the code with --code TEXT or --code-file PATH")
    result = ctx.cache.save(args.task, code, source=args.source, tags=args.tag)
    if result.redacted and not ctx.json:
        print(f"semcache: redacted {len(result.redacted)} secret(s) before saving: "
              f"{', '.join(sorted(set(result.redacted)))}", file=sys.stderr)
    ctx.emit({"id": result.snippet.id, "created": result.created,
              "redacted": result.redacted}, text=result.snippet.id)
    return 0


def _lookup_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {"threshold": check_score(args.threshold, "--threshold"),
            "top_k": check_count(args.top_k, "--top-k", low=1, high=1000)}


def cmd_lookup(args: argparse.Namespace, ctx: CliContext) -> int:
    # A new wording needs the model: reach it (or start the embedding service) while
    # lancedb is imported. An exact hit does not wait for it.
    ctx.cache.embedder.warm()
    if args.jsonl:
        if args.task:
            raise ConfigurationError("give a task or --jsonl FILE, not both")
        failures = 0
        for number, item in _jsonl(args.jsonl):
            try:
                match = ctx.cache.lookup(str(item.get("task") or ""), **_lookup_kwargs(args))
                result = match.to_json()
            except (TaskError, ConfigurationError) as err:
                failures += 1
                result = {"line": number, "error": err.describe()}
            ctx.emit(result, text=json.dumps(result, ensure_ascii=False))
        return 1 if failures else 0
    if args.task is None:
        raise ConfigurationError("give a task, or --jsonl FILE")
    match = ctx.cache.lookup(args.task, **_lookup_kwargs(args))
    data = match.to_json()
    if ctx.json:
        ctx.emit(data)
        return 0
    print(f"tier: {match.tier}  score: {match.score:.3f}  "
          + "  ".join(f"{k}={v:.2f}" for k, v in match.score_parts.items())
          + (f"  evidence: {match.evidence}" if match.evidence else ""))
    if match.snippet is not None and match.tier != "miss":
        print(f"snippet: {match.snippet.id}  ({match.snippet.namespace})")
        print(f"reference task: {match.snippet.task}")
    for old, new in match.substitutions:
        print(f"substituted: {old} -> {new}")
    if match.served and not match.trusted:
        print(f"(from {match.namespace}, a namespace you have not trusted: "
              "it runs only with --trust)")
    if match.served:
        print("code:\n" + (match.code or ""))
    elif match.proposal is not None:
        print("proposed code (the model confirms or corrects it; not run as is):\n"
              + match.proposal)
    elif match.tier == "semantic" and match.snippet is not None:
        print("reference code (the model adapts it; it is not run as is):\n" + match.snippet.code)
    return 0


def cmd_search(args: argparse.Namespace, ctx: CliContext) -> int:
    ctx.cache.embedder.warm()
    limit = check_count(args.limit, "--limit", low=1) or 10
    hits = ctx.cache.search(" ".join(args.text), limit=limit)
    if ctx.json:
        ctx.emit([{"score": round(h.score, 4), **h.snippet.to_dict()} for h in hits])
        return 0
    if not hits:
        print("no snippets found")
    for hit in hits:
        print(f"{hit.score:.3f}  {snippet_line(hit.snippet)}")
    return 0


def cmd_show(args: argparse.Namespace, ctx: CliContext) -> int:
    s = ctx.cache.get(args.id)
    if ctx.json:
        ctx.emit(s.to_dict())
        return 0
    when = dt.datetime.fromtimestamp(s.created_at).isoformat(timespec="seconds")
    print(f"id:         {s.id}\nnamespace:  {s.namespace}\ntask:       {s.task}\n"
          f"source:     {s.source}" + (f" (from {s.parent_id})" if s.parent_id else "") + "\n"
          f"model:      {s.model or '-'}\ncreated:    {when}\n"
          f"uses:       {s.use_count} (ok {s.success_count}, failed {s.failure_count})\n"
          f"votes:      +{s.votes_up} / -{s.votes_down}\n"
          f"libraries:  {', '.join(s.libraries) or '-'}\n"
          f"inputs:     {', '.join(f'{k}: {v}' for k, v in s.input_schema.items()) or '-'}\n"
          f"tags:       {', '.join(s.tags) or '-'}\n", end="")
    if s.origin:  # imported from a notebook: where from, and what it needs from it
        print(f"origin:     {s.origin.get('path')} [cell {s.origin.get('cell')}]\n"
              f"free names: {', '.join(s.free_names) or '-'}")
    if s.context_code.strip():
        print(f"--- context (from earlier cells)\n{s.context_code}", end="")
    print(f"---\n{s.code}", end="")
    return 0


def cmd_list(args: argparse.Namespace, ctx: CliContext) -> int:
    snippets = ctx.cache.list_snippets(
        all_namespaces=args.all_namespaces, limit=check_count(args.limit, "--limit") or 0,
        offset=check_count(args.offset, "--offset") or 0, sort=args.sort)
    if ctx.json:
        ctx.emit([s.to_dict() for s in snippets])
        return 0
    if not snippets:
        print("no snippets yet (add one with `semcache add` or `%%cached_task`)")
    for s in snippets:
        print(snippet_line(s))
    return 0


def cmd_delete(args: argparse.Namespace, ctx: CliContext) -> int:
    s = ctx.cache.delete(args.id)
    ctx.emit({"deleted": s.id}, text=f"deleted {s.id}: {shorten(s.task, 70)}")
    return 0


def cmd_vote(args: argparse.Namespace, ctx: CliContext) -> int:
    s = ctx.cache.vote(args.id, args.direction == "up")
    ctx.emit({"id": s.id, "votes_up": s.votes_up, "votes_down": s.votes_down},
             text=f"{s.id}: +{s.votes_up} / -{s.votes_down}")
    return 0


def cmd_tag(args: argparse.Namespace, ctx: CliContext) -> int:
    s = ctx.cache.set_tags(args.id, args.tags)
    ctx.emit({"id": s.id, "tags": s.tags}, text=f"{s.id}: {', '.join(s.tags) or '(no tags)'}")
    return 0


def cmd_stats(args: argparse.Namespace, ctx: CliContext) -> int:
    from ..cache import format_stats

    store = ctx.cache.stats()
    runs = ctx.cache.run_stats()
    ctx.emit({**store, "runs": runs}, text=format_stats(store, runs))
    return 0


def cmd_optimize(args: argparse.Namespace, ctx: CliContext) -> int:
    report = ctx.cache.maintain(build_vector_index=True if args.vector_index else None)
    ctx.emit(report, text=", ".join(f"{k}: {v}" for k, v in report.items()))
    return 0
