"""Snippets leaving the cache: as scripts, a notebook or a module, or into a shared namespace.

Three formats (``fmt``):

``script``
    one ``.py`` per snippet: a docstring (task, id, provenance, libraries, inputs)
    and the code. Names come from the task, reduced to ``[a-z0-9_]``, so no task
    can name a path outside the target directory.
``notebook``
    one ``.ipynb``: a markdown cell (the task) and a code cell per snippet, the
    provenance in the cells' ``semcache`` metadata (so importing it back is a no-op);
    an imported cell's context comes in a code cell of its own before it.
``module``
    one ``.py`` with a function per snippet whose parameters are the snippet's
    literal slots, defaults the stored values. A literal becomes a parameter only
    where :func:`semcache_magic.task.substitute` would change it -- it occurs
    exactly once in the code -- otherwise it stays a constant.

Exported code runs in plain Python: IPython magics become comments (``%time stmt``
keeps ``stmt``), and a trailing expression (which a notebook would display) is printed
or returned. A cell imported from a notebook comes after its context (the statements of
earlier cells it needs); when it still uses names defined elsewhere (its free names),
the export says so instead of claiming it runs alone, and a module function takes them
as parameters.
Secrets are redacted again on the way out. Existing files are never overwritten
silently: identical ones are left alone, different ones stop the export before
anything is written, unless ``force``.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import keyword
import os
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, ExportConflictError
from ..snippet import Snippet
from ..task import Literal, redact_text
from ._codegen import (
    default_value,
    display_last,
    indent,
    parametrize,
    parses,
    script_code,
    trailing_expression,
)
from ._nbfile import build_notebook, notebook_json

if TYPE_CHECKING:
    from ..cache import SavedSnippet, SnippetCache

__all__ = [
    "FORMATS",
    "export_snippets",
    "promote_snippet",
    "render_module",
    "render_notebook",
    "render_script",
    "safe_name",
    "select_snippets",
]

FORMATS: tuple[str, ...] = ("script", "notebook", "module")
_DEFAULT_FILE = {"notebook": "snippets.ipynb", "module": "snippets.py"}
_FUTURE = re.compile(r"^from\s+__future__\s+import\b")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                     *(f"lpt{i}" for i in range(10))}


# -- naming ---------------------------------------------------------------------------------

def safe_name(text: str, *, fallback: str = "snippet", max_len: int = 48) -> str:
    """A file/identifier name from free text: lower-case ``[a-z0-9_]``, never empty.

    Separators, dots and anything else a path could use are dropped, so
    ``"../../etc"`` gives ``"etc"``.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    name = ""
    for word in re.findall(r"[a-z0-9]+", ascii_text.lower()):
        if len(name) + len(word) + 1 > max_len:
            break
        name = f"{name}_{word}" if name else word
    if not name:
        name = safe_name(fallback, max_len=max_len) if fallback != text else "snippet"
    if name[0].isdigit():
        name = f"snippet_{name}"
    if keyword.iskeyword(name) or name in _WINDOWS_RESERVED:
        name += "_"
    return name


def _unique_names(snippets: Sequence[Snippet]) -> list[str]:
    names: list[str] = []
    for s in snippets:
        name = safe_name(s.task, fallback=f"snippet {s.id[:8]}")
        if name in names:  # the same task twice: the id tells them apart
            name = f"{name}_{s.id[:8]}"
        names.append(name)
    return names


def _docstring(text: str, indent: str = "") -> str:
    text = text.replace("\\", "\\\\")
    if '"""' in text:
        text = text.replace('"', '\\"')
    body = "\n".join(f"{indent}{line}" if line.strip() else "" for line in text.split("\n"))
    return f'{indent}"""{body.lstrip()}\n{indent}"""\n'


def _origin(s: Snippet) -> str:
    return f"{s.origin.get('path', '?')} [cell {s.origin.get('cell', '?')}]" if s.origin else ""


def _provenance(s: Snippet) -> list[str]:
    created = dt.datetime.fromtimestamp(s.created_at or 0, dt.timezone.utc)
    source = f"{s.source} from {s.parent_id}" if s.parent_id else s.source
    inputs = ", ".join(f"{k} ({v})" for k, v in s.input_schema.items())
    lines = [
        f"id:        {s.id}  (namespace {s.namespace})",
        f"source:    {source}",
        f"model:     {s.model or '-'}",
        f"created:   {created:%Y-%m-%d %H:%M:%S} UTC",
        f"libraries: {', '.join(s.libraries) or '-'}",
        f"inputs:    {inputs + ' -- define them before this code runs' if inputs else '-'}",
    ]
    if s.origin:
        lines.insert(2, f"origin:    {_origin(s)}")
    if s.free_names:
        lines.append(f"needs:     {', '.join(s.free_names)} -- defined elsewhere in its "
                     "notebook; define them before this code runs")
    return lines


def _claim(s: Snippet) -> str:
    if s.free_names:
        return ("Exported from semcache-magic. It does not run on its own: it uses names its "
                "notebook defined elsewhere (see needs).")
    if s.context_code.strip():
        return ("Exported from semcache-magic; runs without it: the statements it needs from "
                "earlier cells of its notebook come first.")
    return "Exported from semcache-magic; runs without it."


def _full_code(s: Snippet) -> str:
    """The code, after its context when it has one (an imported cell's earlier statements)."""
    code = redact_text(s.code).strip("\n")
    context = redact_text(s.context_code).strip("\n")
    if not context.strip():
        return code
    # `from __future__` must open the file: a cell's own, now after its context, moves up
    future = [line for line in code.split("\n") if _FUTURE.match(line)]
    code = "\n".join(line for line in code.split("\n") if not _FUTURE.match(line))
    where = f" of {s.origin['path']}" if s.origin.get("path") else ""
    return "".join(f"{line}\n" for line in future) + (
        f"# -- context: what this cell needs from earlier cells{where}\n{context}\n\n"
        f"# -- the cell\n{code}")


def render_script(snippet: Snippet) -> str:
    """One snippet as a standalone ``.py``: a header docstring, then the code (after its
    context, for a cell imported from a notebook).

    Secrets are redacted; IPython-only lines become comments; a trailing
    expression is printed as a notebook would display it.
    """
    code, notes = script_code(_full_code(snippet))
    header = [redact_text(snippet.task), "", _claim(snippet),
              *_provenance(snippet), *(f"note:      {n}" for n in notes)]
    return _docstring("\n".join(header)) + "\n" + display_last(code).rstrip() + "\n"


def _function(s: Snippet, name: str) -> tuple[str, list[str]]:
    """One snippet as a function (source) and its required inputs (its input variables,
    and the names an imported cell needs from elsewhere in its notebook)."""
    code, notes = script_code(_full_code(s))
    inputs = [k for k in dict.fromkeys([*s.input_schema, *s.free_names])
              if k.isidentifier() and not keyword.iskeyword(k)]
    tree = ast.parse(code) if parses(code) else None
    inline = tree is not None and not any(
        isinstance(n, ast.Global) or (isinstance(n, ast.ImportFrom) and (
            n.module == "__future__" or any(a.name == "*" for a in n.names)))
        for n in ast.walk(tree))
    if inline:
        body, params = parametrize(code, s.literals, set(inputs) | {name})
        split = trailing_expression(body)
        if split is not None:
            body = f"{split[0]}return ({split[1]})"
        source = _def(s, name, inputs, params, notes, indent(body))
        try:  # e.g. top-level `await` (IPython) is valid in a cell, not in a function
            compile(source, name, "exec")
            return source, inputs
        except (SyntaxError, ValueError):
            pass
    # `global`, `import *` and __future__ need module scope: run the code as its own module.
    notes.append("runs as its own module (exec): its literals are not parameters")
    run = f"compile({display_last(code)!r}, {name!r}, 'exec')"
    body = f"    exec({run}, {{'__name__': '__main__'}})"
    return _def(s, name, inputs, [], notes, body), inputs


def _def(s: Snippet, name: str, inputs: list[str], params: list[tuple[str, Literal]],
         notes: list[str], body: str) -> str:
    signature = ", ".join(inputs + [f"{p}={default_value(lit)}" for p, lit in params])
    doc = [redact_text(s.task), "", *_provenance(s), *(f"note:      {n}" for n in notes)]
    if params:
        doc.insert(2, "parameters: " + ", ".join(f"{p} ({lit.kind})" for p, lit in params))
    return f"def {name}({signature}):\n{_docstring(chr(10).join(doc), '    ')}{body}\n"


_MODULE_MAIN = '''

SNIPPETS = {{{registry}
}}
INPUTS = {{{inputs}}}


def main(argv=None):
    """Run the named snippets (default: all that need no inputs); print what they return."""
    names = list(_sys.argv[1:] if argv is None else argv)
    for name in names:
        if name not in SNIPPETS:
            print(f"unknown snippet {{name!r}}; one of: {{', '.join(SNIPPETS)}}", file=_sys.stderr)
            return 2
        if INPUTS.get(name):
            print(f"{{name}} needs inputs {{INPUTS[name]}}: call it from Python", file=_sys.stderr)
            return 2
    for name in names or [n for n in SNIPPETS if not INPUTS.get(n)]:
        result = SNIPPETS[name]()
        if result is not None:
            print(repr(result))
    return 0


if __name__ == "__main__":
    _sys.exit(main())
'''


def render_module(snippets: Sequence[Snippet]) -> str:
    """All ``snippets`` as one module, a function each (see the module docstring)."""
    names = _unique_names(snippets)
    functions, inputs = [], {}
    for s, name in zip(snippets, names, strict=True):
        source, needed = _function(s, name)
        functions.append(source)
        if needed:
            inputs[name] = tuple(needed)
    doc = ("Snippets exported from semcache-magic: one function per snippet.\n\n"
           "Each function's parameters are the literal values of its task (defaults: the\n"
           "stored values). Runs without semcache installed::\n\n"
           "    python snippets.py            # run every snippet that needs no inputs\n"
           f"    python snippets.py {names[0] if names else 'NAME'}\n")
    registry = "".join(f"\n    {n!r}: {n}," for n in names)
    main = _MODULE_MAIN.format(registry=registry,
                               inputs=", ".join(f"{k!r}: {v!r}" for k, v in inputs.items()))
    return _docstring(doc) + "\nimport sys as _sys\n\n\n" + "\n\n".join(functions) + main


def render_notebook(snippets: Sequence[Snippet]) -> Any:
    """All ``snippets`` as one validated nbformat v4 notebook (a NotebookNode)."""
    cells: list[tuple[str, str, str, dict[str, Any]]] = []
    for s in snippets:
        meta = {"semcache": {"id": s.id, "namespace": s.namespace, "source": s.source,
                             "parent_id": s.parent_id, "model": s.model,
                             "created_at": s.created_at, "libraries": s.libraries,
                             "inputs": s.input_schema, "origin": s.origin,
                             "free_names": s.free_names}}
        # Stable cell ids (not random) so re-exports diff cleanly.
        cells.append(("markdown", redact_text(s.task), f"task-{s.id}", meta))
        if s.context_code.strip():  # its own cell, so importing the notebook back skips it
            cells.append(("code", redact_text(s.context_code).strip("\n"), f"context-{s.id}",
                          {"semcache": {"context_of": s.id}}))
        cells.append(("code", redact_text(s.code).strip("\n"), f"code-{s.id}", meta))
    return build_notebook(cells, {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})


# -- selection and writing ----------------------------------------------------------------------

def select_snippets(
    cache: SnippetCache,
    *,
    ids: Sequence[str] = (),
    query: str | None = None,
    namespace: str | None = None,
    all_namespaces: bool = False,
    limit: int | None = None,
) -> list[Snippet]:
    """The snippets an export covers: ``ids`` (prefixes allowed), then the ``query``'s
    best ``limit`` (default 10) hits; with neither, every snippet (or the newest
    ``limit``) in the searched namespaces."""
    chosen = [cache.get(i) for i in ids]
    if query:
        chosen += [h.snippet for h in cache.search(query, namespace=namespace,
                                                   limit=limit or 10)]
    elif not ids:  # the newest `limit`, exported oldest first: the order they were made in
        chosen = sorted(cache.list_snippets(namespace=namespace, all_namespaces=all_namespaces,
                                            limit=limit if limit is not None else 10**9),
                        key=lambda s: (s.created_at, s.id))
    return list({s.id: s for s in chosen}.values())


def _write_all(files: dict[Path, str], *, force: bool) -> list[Path]:
    """Write every file or none: conflicts are found before the first write, and files
    created by a write that then fails (disk full) are removed again."""
    conflicts = []
    for path, text in files.items():
        if path.is_dir() and not path.is_symlink():
            raise ExportConflictError(f"{path} is a directory", hint="export somewhere else")
        try:
            if path.is_symlink() or (path.exists() and path.read_bytes() != text.encode()):
                conflicts.append(path)
        except OSError as exc:  # an unreadable file stands there
            raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}",
                                     hint="nothing was written; export elsewhere") from exc
    if conflicts and not force:
        shown = ", ".join(str(p) for p in conflicts[:5])
        more = f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
        raise ExportConflictError(f"{len(conflicts)} file(s) already exist with other "
                                  f"content: {shown}{more}")
    created: list[Path] = []
    try:
        for path, text in files.items():
            if path in conflicts:  # replace the entry itself, never write through a link
                tmp = path.with_name(f".{path.name}.semcache-tmp")
                tmp.write_text(text, encoding="utf-8", newline="")
                os.replace(tmp, path)
            elif not path.exists():
                with open(path, "x", encoding="utf-8", newline="") as handle:
                    created.append(path)  # made: removed again if a later write fails
                    handle.write(text)
    except OSError as exc:
        for path in created:
            with contextlib.suppress(OSError):
                path.unlink()
        raise ConfigurationError(f"cannot write {exc.filename or 'the export'}: "
                                 f"{exc.strerror or exc}") from exc
    return list(files)


def export_snippets(
    cache: SnippetCache,
    to: str | os.PathLike[str],
    *,
    ids: Sequence[str] = (),
    query: str | None = None,
    namespace: str | None = None,
    all_namespaces: bool = False,
    fmt: str = "script",
    limit: int | None = None,
    force: bool = False,
) -> list[Path]:
    """Export snippets (chosen as by :func:`select_snippets`); return the files written.

    ``to`` is a directory; for ``notebook``/``module`` it may also name the file
    (``.ipynb``/``.py``), else ``snippets.ipynb``/``snippets.py`` in it. Returns
    ``[]`` and writes nothing when no snippet matches.
    """
    if fmt not in FORMATS:
        raise ConfigurationError(f"unknown export format {fmt!r}", hint=f"one of {FORMATS}")
    if not str(to).strip():
        raise ConfigurationError("the export target is empty", hint="give --to DIR")
    snippets = select_snippets(cache, ids=ids, query=query, namespace=namespace,
                               all_namespaces=all_namespaces, limit=limit)
    if not snippets:
        return []
    target = Path(to).expanduser()
    suffix = {"notebook": ".ipynb", "module": ".py"}.get(fmt)
    if suffix and target.suffix.lower() == suffix:
        directory, file_name = target.parent, target.name
    elif target.suffix.lower() in (".py", ".ipynb") and not target.is_dir():
        raise ConfigurationError(f"--to {target} names a file; --format {fmt} writes "
                                 f"{'a directory of scripts' if fmt == 'script' else suffix}")
    else:
        directory, file_name = target, _DEFAULT_FILE.get(fmt, "")
    if directory.exists() and not directory.is_dir():
        raise ConfigurationError(f"{directory} exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create the export directory {directory}: "
                                 f"{exc.strerror or exc}",
                                 hint="nothing was written; export somewhere writable") from exc
    if fmt == "script":
        files = {directory / f"{name}.py": render_script(s)
                 for s, name in zip(snippets, _unique_names(snippets), strict=True)}
        root = directory.resolve()
        for path in files:  # names are [a-z0-9_] by construction; belt and braces
            if path.parent.resolve() != root or not path.stem.isidentifier():
                raise ConfigurationError(f"refusing to write outside {directory}: {path}")
    elif fmt == "notebook":
        files = {directory / file_name: notebook_json(render_notebook(snippets)) + "\n"}
    else:
        files = {directory / file_name: render_module(snippets)}
    return _write_all(files, force=force)


def promote_snippet(cache: SnippetCache, snippet_id: str, to: str) -> SavedSnippet:
    """Copy a snippet into namespace ``to`` (``team``, ``project:x``, ``personal``): same
    task, code and provenance (source, model, tags, successes); ``parent_id`` = the original."""
    from ..config import resolve_namespace

    if not to:
        raise ConfigurationError("give the namespace to promote to", hint="e.g. --to team")
    target = resolve_namespace(to, None)
    original = cache.get(snippet_id)
    if target == original.namespace:
        raise ConfigurationError(f"snippet {original.id} is already in {target!r}")
    return cache.save(
        original.task, original.code, source=original.source, namespace=target,
        input_schema=original.input_schema, parent_id=original.id, model=original.model,
        kernel=original.kernel, tags=original.tags, language=original.language,
        successes=original.success_count,
    )
