"""HTML pieces the notebook views share: highlighted code, model answers, the static record.

Colours follow the JupyterLab theme: code is highlighted with CSS classes (Pygments'
short token names) mapped to JupyterLab's ``--jp-mirror-editor-*`` variables, and text
uses ``--jp-content-font-color*``; outside JupyterLab the fallbacks are neutral
(``inherit``) or read on a light page. Nothing here imports ipywidgets.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["CSS", "answer_html", "highlight", "record_html"]

_TOKENS = {
    "keyword": ("k", "kn", "kc", "kd", "kr", "kp", "ow"),
    "builtin": ("nb", "bp", "ne", "kt"),
    "def": ("nf", "nc", "fm", "nd"),
    "string": ("s", "s1", "s2", "sa", "sb", "sc", "sd", "dl", "se", "sh", "si", "sx", "sr", "ss"),
    "number": ("m", "mi", "mf", "mh", "mo", "mb", "il"),
    "operator": ("o",),
}
_FALLBACK = {"keyword": "#008000", "builtin": "#008000", "def": "#0000ff",
             "string": "#ba2121", "number": "#080", "operator": "#a2f"}


def _token_css() -> str:
    rules = []
    for name, classes in _TOKENS.items():
        selector = ",".join(f".sc-code .{c}" for c in classes)
        rules.append(f"{selector}{{color:var(--jp-mirror-editor-{name}-color,"
                     f"{_FALLBACK[name]})}}")
    return "".join(rules)


#: One stylesheet for the widget and the static record. Comments use the secondary
#: text colour, not the editor's comment colour: that one is below 4.5:1 on the dark
#: theme. Diff lines are tinted backgrounds, so their text keeps the body colour.
CSS = (
    "<style>"
    ".semcache-view{color:var(--jp-content-font-color1,inherit);line-height:1.45;"
    "font-size:var(--jp-content-font-size1,13px)}"
    ".semcache-view .sc-dim{color:var(--jp-content-font-color2,inherit)}"
    ".semcache-view .sc-bad{color:var(--jp-error-color1,#c62828)}"
    ".semcache-view .sc-good{color:var(--jp-success-color1,#2e7d32)}"
    ".semcache-view .sc-warn{color:var(--jp-warn-color1,#b26a00)}"
    ".semcache-view details{margin:2px 0}"
    ".semcache-view summary{cursor:pointer;color:var(--jp-content-font-color1,inherit)}"
    ".semcache-view .sc-prose{white-space:pre-wrap;margin:2px 0}"
    ".semcache-view .sc-head b{font-weight:600}"
    ".semcache-view pre.sc-code{background:var(--jp-cell-editor-background,"
    "rgba(127,127,127,.08));color:var(--jp-content-font-color1,inherit);"
    "border:1px solid var(--jp-border-color2,rgba(127,127,127,.3));padding:4px 6px;"
    "margin:2px 0;overflow:auto;max-height:24em;white-space:pre;"
    "font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,13px);"
    "line-height:var(--jp-code-line-height,1.4)}"
    + _token_css() +
    ".sc-code .c,.sc-code .c1,.sc-code .cm,.sc-code .ch,.sc-code .cs,.sc-code .cp,"
    ".sc-code .cpf{color:var(--jp-content-font-color2,inherit);font-style:italic}"
    ".sc-code .gi{background:rgba(46,160,67,.18)}.sc-code .gd{background:rgba(248,81,73,.18)}"
    ".sc-code .gu,.sc-code .gh{color:var(--jp-content-font-color2,inherit);font-weight:600}"
    "</style>"
)


def highlight(code: str, language: str = "python") -> str:
    """``code`` as a ``<pre class="sc-code">`` with token classes (see :data:`CSS`)."""
    from pygments import highlight as render
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(language)
    except ClassNotFound:
        lexer = get_lexer_by_name("text")
    body = render(code, lexer, HtmlFormatter(nowrap=True))
    return f'<pre class="sc-code">{body}</pre>'


_FENCE = re.compile(r"```([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


def answer_html(text: str) -> str:
    """A model's answer: prose as text, each fenced block as highlighted code."""
    parts, position = [], 0
    for fence in _FENCE.finditer(text):
        prose = text[position:fence.start()].strip()
        if prose:
            parts.append(f'<div class="sc-prose">{html.escape(prose)}</div>')
        parts.append(highlight(fence.group(2).rstrip("\n"), fence.group(1) or "python"))
        position = fence.end()
    rest = text[position:].strip()
    if rest:
        parts.append(f'<div class="sc-prose">{html.escape(rest)}</div>')
    return "".join(parts)


def record_html(record: Mapping[str, Any]) -> str:
    """The static view of a finished task (a notebook opened without its kernel)."""
    head = " · ".join([
        "<b>semcache</b>", f"<b>{html.escape(str(record.get('tier') or '?'))}</b>",
        html.escape(str(record.get("evidence_words") or "")),
        *([f"score {float(record['score']):.2f}"] if record.get("score") else []),
        *([f"snippet <code>{html.escape(str(record['snippet_id'])[:8])}</code>"]
          if record.get("snippet_id") else []),
    ])
    status = html.escape(str(record.get("status_label") or record.get("status") or ""))
    css = "sc-good" if record.get("status") == "ok" else "sc-bad"
    parts = [CSS, '<div class="semcache-view semcache-record">',
             f'<div class="sc-head">{head} · <span class="{css}">{status}</span></div>',
             f'<div class="sc-dim">{html.escape(str(record.get("task") or ""))}</div>']
    if record.get("error"):
        parts.append(f'<div class="sc-bad">error: {html.escape(str(record["error"]))}</div>')
    if record.get("code"):
        what = {"ok": "code that ran", "dry_run": "proposed code (not run)"}.get(
            str(record.get("status")), "code that was tried")
        origin = html.escape(str(record.get("origin") or ""))
        parts.append(f"<details open><summary>{what} ({origin})</summary>"
                     f"{highlight(str(record['code']))}</details>")
    parts.append("</div>")
    return "".join(parts)
