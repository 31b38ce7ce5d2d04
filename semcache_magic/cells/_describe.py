"""Tasks that describe a notebook's code cells.

A task is, in order of preference:

1. the cell's ``# %%`` title, or its leading comment when that comment is the cell's only
   one and starts with a verb (``# fit the model``): it describes the whole cell;
2. the markdown right before the cell: its last paragraph, after the nearest heading
   (``"Clustering: we now group the customers with DBSCAN"``); a heading alone when the
   markdown ends with it (``### Step 3. Assign it to a variable called chipo.``);
3. any other leading comment that says something (not a label such as ``# Solution 2``,
   not commented-out code), when no markdown introduces the cell;
4. the nearest heading and what the code does (``"DBSCAN: fit DBSCAN(eps=0.3) on X"``).

A first comment among several (``# get the names`` ... ``# plot them``) describes a step,
and a remark (``# .loc is another way to slice``) describes nothing: markdown wins over both.

Markdown is read as text: HTML tags (badges, ``<img>``), images, link targets, emphasis
markers, code fences, tables and asides (*Warning:*, *Note:*, *Tip:*, *Hint:* ...) go;
``Step 3.`` numbering goes; the text is capped near 200 characters at a sentence or word.
:func:`distinct_tasks` then makes the tasks of one import unique.
"""

from __future__ import annotations

import ast
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ._vocabulary import (
    CONFIG_CALLS,
    DECORATIONS,
    LOADERS,
    PLOT_CALLS,
    PLOT_MODULES,
    VERBS,
    is_inspection,
)

__all__ = ["Block", "TaskWriter", "clean_markdown", "code_phrase", "describes_cell",
           "distinct_tasks", "leading_comment", "shorten"]

TASK_LIMIT = 200
_ASIDE = re.compile(r"^(?:warning|note|tip|hint|nb|n\.b\.|important|caution|attention|"
                    r"remember|ps|p\.s\.|disclaimer)\b\s*[:!.\-–—]", re.IGNORECASE)
_NUMBERING = re.compile(r"^(?:(?:step|exercise|ex|task|question|q|part)\s*\d+(?:[.\-]\w+)*"
                        r"\s*[.:)\-]?|\d+(?:\.\d+)*[.)]|\d+(?:\.\d+)+)\s+", re.IGNORECASE)
_LABEL = re.compile(r"^(?:solution|answer|option|version|method|approach|alternative|attempt|"
                    r"way|step|part|exercise|ex|question|q|cell|example|test|todo|fixme|"
                    r"hint|tip|note|output|result|results)\s*#?\d*[a-z]?\s*(?:[.:)\-–—]\s*|$)",
                    re.IGNORECASE)
_IGNORED_COMMENT = re.compile(r"#\s*(?:%%|In\s*\[|-\*-|type:|noqa|pragma|pylint|fmt:|"
                              r"IPython only:)|#!")
# -- markdown -----------------------------------------------------------------------------------

def _strip_html(text: str) -> str:
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.DOTALL)
    text = re.sub(r"<(script|style)\b.*?</\1\s*>", " ", text, flags=re.DOTALL | re.IGNORECASE)
    text = re.sub(r"<div\b[^>]*class=[\"'][^\"']*alert[^\"']*[\"'][^>]*>.*?</div\s*>", "\n\n",
                  text, flags=re.DOTALL | re.IGNORECASE)  # notebook call-out boxes are asides
    text = re.sub(r"<br\s*/?>|</?(?:p|div|h\d|li|ul|ol|tr|table)\b[^>]*>", "\n", text,
                  flags=re.IGNORECASE)
    text = re.sub(r"</?[A-Za-z][^<>]*>", "", text)  # other tags; their text stays
    return html.unescape(text)


def _strip_inline(text: str) -> str:
    text = re.sub(r"!\[[^\]]*\](?:\([^)]*\)|\[[^\]]*\])", "", text)   # images
    text = re.sub(r"\[([^\]]*)\](?:\([^)]*\)|\[[^\]]*\])", r"\1", text)  # links: their text
    text = re.sub(r"`([^`]*)`", r"\1", text)
    text = re.sub(r"(\*\*|__|~~)(?=\S)(.+?)(?<=\S)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)", r"\1", text)
    return " ".join(text.replace("**", "").split())


def _without_asides(text: str) -> str:
    sentences = re.split(r"(?<=[.!?])\s+", text)
    return " ".join(s for s in sentences if not _ASIDE.match(s.lstrip("*_> ")))


@dataclass(frozen=True)
class Block:
    """A heading (``level`` 1 to 6) or a paragraph (``level`` 0) of cleaned markdown."""

    level: int
    text: str


def clean_markdown(text: str) -> list[Block]:
    """Headings and paragraphs of a markdown cell as plain text, asides removed."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text.replace("\r\n", "\n"),
                  flags=re.DOTALL | re.MULTILINE)
    text = re.sub(r"^ {0,3}\[[^\]]+\]:\s*\S+.*$", "", _strip_html(text), flags=re.MULTILINE)
    blocks: list[Block] = []
    lines: list[str] = []
    level = 0

    def flush() -> None:
        body = _without_asides(_strip_inline(" ".join(lines)))
        body = _NUMBERING.sub("", body).strip(" :-–—")
        if body and re.search(r"\w", body):
            blocks.append(Block(level, body))
        lines.clear()

    for raw in text.split("\n"):
        line = raw.strip()
        quote = re.match(r"^(?:>\s?)+", line)
        if quote:
            line = line[quote.end():].strip()
            if re.match(r"^\[!\w+\]", line):  # a GitHub call-out: > [!NOTE]
                line = "Note: " + line.split("]", 1)[1]
        heading = re.match(r"^(#{1,6})\s*(.*?)\s*#*$", line)
        if heading or not line or re.match(r"^(?:[-*_=]\s*){3,}$|^\|", line):
            if lines and re.match(r"^=+$|^-+$", line):  # setext heading underline
                level = 1 if line.startswith("=") else 2
            flush()
            level = 0
            if heading:
                level = len(heading.group(1))
                lines.append(heading.group(2))
                flush()
                level = 0
            continue
        if _ASIDE.match(line.lstrip("*_ ")) and lines:
            flush()  # an aside on its own line ends the paragraph before it
        lines.append(re.sub(r"^(?:[-*+]|\d+[.)])\s+", "", line))
    flush()
    return [b for b in blocks if not _ASIDE.match(b.text)]


def shorten(text: str, limit: int = TASK_LIMIT) -> str:
    """``text`` cut at the last sentence (else word) that ends within ``limit`` characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    kept = ""
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        if len(kept) + len(sentence) + 1 > limit:
            break
        kept = f"{kept} {sentence}".strip()
    if len(kept) >= limit // 3:
        return kept
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return cut + "…"


# -- code ---------------------------------------------------------------------------------------

def _comment_blocks(code: str) -> list[list[str]]:
    """Runs of full-line comments, in order (pragmas and cell markers left out)."""
    blocks: list[list[str]] = [[]]
    for line in code.splitlines():
        text = line.strip()
        if text.startswith("#") and not _IGNORED_COMMENT.match(text):
            blocks[-1].append(text.lstrip("#").strip())
        elif blocks[-1]:
            blocks.append([])
    return [block for block in blocks if block]


def leading_comment(code: str) -> str:
    """The comment that opens the cell, if it describes it (not ``# Solution 2``, not code,
    not a list of column names)."""
    lines = [line.strip() for line in code.splitlines() if line.strip()]
    first = next((line for line in lines if not _IGNORED_COMMENT.match(line)), "")
    blocks = _comment_blocks(code)
    if not first.startswith("#") or not blocks:
        return ""
    words = blocks[0]
    if len(words) > 1 and sum(bool(re.match(r"^(?:[-*+]|\d+[.)])\s", w)) for w in words) > 1:
        return ""
    comment = _LABEL.sub("", " ".join(" ".join(words).split())).strip()
    if len(comment.split()) < 2 or _is_code(comment):
        return ""
    return comment


def describes_cell(code: str) -> bool:
    """The leading comment is the cell's only comment and starts with a verb
    (``# fit the model``), so it says what the whole cell does, not one step of it."""
    comment = leading_comment(code)
    first = comment.split()[0].lower().rstrip(":,") if comment else ""
    return bool(first) and len(_comment_blocks(code)) == 1 and (
        first in VERBS or (first.endswith("ing") and first[:-3] in VERBS))


def _is_code(text: str) -> bool:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return not (len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr)
                and isinstance(tree.body[0].value, ast.Constant))


def _short(node: ast.AST, limit: int = 48) -> str:
    text = " ".join(ast.unparse(node).split())
    if len(text) <= limit:
        return text
    if isinstance(node, ast.Call):
        head = _short(node.func, limit - 5)
        return head if head.endswith("…") else f"{head}(…)"
    return text[: limit - 1].rstrip() + "…"


def _names(targets: Sequence[ast.expr]) -> str:
    return ", ".join(_short(t, 30) for t in targets)


def _callee(call: ast.Call) -> tuple[str, ast.expr | None]:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr, func.value
    return (func.id if isinstance(func, ast.Name) else ""), None


def _call_phrase(call: ast.Call, targets: str) -> tuple[str, str]:
    """(kind, phrase) for a call whose result goes to ``targets`` (may be empty)."""
    name, receiver = _callee(call)
    args = ", ".join(_short(a, 24) for a in call.args)
    into = f" as {targets}" if targets else ""
    if name in {"fit", "fit_transform", "fit_predict"} and receiver is not None:
        return "action", f"{name.replace('_', ' ')} {_short(receiver, 40)} on {args}{into}"
    if name == "train_test_split":
        return "action", f"split {args} into {targets or 'train and test sets'}"
    if name in PLOT_CALLS or (isinstance(receiver, ast.Name) and receiver.id in PLOT_MODULES
                               and name in PLOT_CALLS | {"figure", "subplots"}):
        return "plot", f"plot {_short(call, 60)}"
    if LOADERS.match(name) and targets:
        return "action", f"load {targets} with {_short(call, 60)}"
    if name == "print":
        return "show", f"print {args or 'a line'}"
    if targets:
        return "action", f"compute {targets} from {_short(call, 60)}"
    return "action", f"compute {_short(call, 72)}"


def _statement_phrase(node: ast.stmt) -> tuple[str, str] | None:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return "action", f"define {node.name}()"
    if isinstance(node, ast.ClassDef):
        return "action", f"define class {node.name}"
    if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if all(isinstance(t, ast.Attribute | ast.Subscript) for t in targets):
            return "action", f"set {_names(targets)}"
        if isinstance(node.value, ast.Call):
            return _call_phrase(node.value, _names(targets))
        return "action", f"set {_names(targets)} = {_short(node.value, 40)}"
    if isinstance(node, ast.AugAssign):
        return "action", f"update {_short(node.target, 30)}"
    if isinstance(node, ast.Expr):
        if is_inspection(ast.unparse(node)):
            return "show", f"show {_short(node.value, 60)}"
        if not isinstance(node.value, ast.Call):
            return "action", f"compute {_short(node.value, 72)}"
        name = _callee(node.value)[0]
        if name in DECORATIONS:
            return None
        if name in CONFIG_CALLS:
            return "setup", f"configure {_short(node.value, 60)}"
        return _call_phrase(node.value, "")
    if isinstance(node, ast.For | ast.AsyncFor):
        return "action", f"loop over {_short(node.iter, 40)}"
    for inner in getattr(node, "body", []):  # if / with / try / while: what the block does
        phrase = _statement_phrase(inner)
        if phrase:
            return phrase
    return None


def code_phrase(code: str, *, detailed: bool = False, limit: int = 110) -> str:
    """What the code does, as a short verb phrase taken from its main statements."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return ""
    phrases = [p for p in map(_statement_phrase, tree.body) if p]
    actions = [text for kind, text in phrases if kind == "action"]
    plots = [text for kind, text in phrases if kind == "plot"]
    others = [text for kind, text in phrases if kind == "setup"] or [
        text for kind, text in phrases if kind == "show"]
    main = (actions if detailed else actions[-1:]) or others[-1:]
    parts = list(dict.fromkeys([*main, *plots[:1]]))
    return shorten(" and ".join(parts), limit) if parts else ""


# -- tasks --------------------------------------------------------------------------------------

def _attach(task: str, phrase: str, limit: int = TASK_LIMIT) -> str:
    """``task`` followed by what the code does, within ``limit`` characters."""
    if not phrase or phrase.lower() in task.lower():
        return shorten(task, limit)
    task = shorten(task, max(limit - len(phrase) - 3, limit // 2)).rstrip()
    if task.endswith(("?", "!")):
        return f"{task} ({phrase})"
    return f"{task.rstrip('.:;, ')}: {phrase}"


@dataclass
class TaskWriter:
    """Tasks for one notebook's code cells, fed in notebook order."""

    limit: int = TASK_LIMIT
    _headings: dict[int, str] = field(default_factory=dict)
    _pending: list[Block] = field(default_factory=list)
    _after_code: bool = False

    def markdown(self, text: str) -> None:
        blocks = clean_markdown(text)
        if not blocks:
            return
        if self._after_code:  # new prose: what came before a skipped cell is stale
            self._pending, self._after_code = [], False
        for block in blocks:
            if block.level:
                self._headings = {k: v for k, v in self._headings.items() if k < block.level}
                self._headings[block.level] = block.text
        self._pending.extend(blocks)

    @property
    def heading(self) -> str:
        return self._headings[max(self._headings)] if self._headings else ""

    def skip(self) -> None:
        """A code cell that gets no task: the markdown before it goes to the next cell."""
        self._after_code = True

    def task(self, code: str, *, title: str = "") -> str | None:
        """The task of the next code cell (plain Python), or None when nothing describes it."""
        title = " ".join(title.split())
        intro = self._pending[-1] if self._pending else None
        self._pending, self._after_code = [], True
        if title or describes_cell(code) or (intro is None and leading_comment(code)):
            return shorten(title or leading_comment(code), self.limit)
        heading = self.heading
        if intro is None:
            return _attach(heading, code_phrase(code), self.limit) if heading else None
        if intro.level:
            task = intro.text
            if len(task.split()) < 3:  # "DBSCAN", "Introduction": say what the cell does
                task = _attach(task, code_phrase(code), self.limit)
        elif heading and heading.lower() not in intro.text.lower():
            task = f"{heading.rstrip('.: ')}: {intro.text}"
        else:
            task = intro.text
        return shorten(task, self.limit)


def _task_key(task: str) -> str:
    return " ".join(task.casefold().rstrip(" .:!?").split())


def _code_key(code: str) -> str:
    try:
        return ast.dump(ast.parse(code))
    except (SyntaxError, ValueError):
        return " ".join(code.split())


def distinct_tasks(entries: Sequence[tuple[str, str]],
                   limit: int = TASK_LIMIT) -> list[tuple[str, int | None]]:
    """Unique tasks for ``(task, code)`` entries: ``(task, None)``, or ``(task, i)`` when the
    entry repeats the task and code of entry ``i`` (a duplicate, not to be stored).

    Tasks that clash get what their code does, then all it does, then a variant number.
    """
    first: dict[tuple[str, str], int] = {}
    earlier: list[int | None] = []
    for index, (task, code) in enumerate(entries):
        key = (_task_key(task), _code_key(code))
        earlier.append(first.get(key))
        first.setdefault(key, index)
    tasks = [task for task, _ in entries]
    for step in ("phrase", "detailed", "number"):
        groups: dict[str, list[int]] = {}
        for index, task in enumerate(tasks):
            if earlier[index] is None:
                groups.setdefault(_task_key(task), []).append(index)
        clashes = [members for members in groups.values() if len(members) > 1]
        if not clashes:
            break
        for members in clashes:
            for rank, index in enumerate(members, 1):
                if step == "number":
                    if rank > 1:
                        suffix = f" (variant {rank})"
                        tasks[index] = shorten(tasks[index], limit - len(suffix)) + suffix
                    continue
                phrase = code_phrase(entries[index][1], detailed=step == "detailed",
                                     limit=limit // 2)
                tasks[index] = _attach(tasks[index], phrase, limit)
    return [(tasks[i] if e is None else tasks[e], e) for i, e in enumerate(earlier)]
