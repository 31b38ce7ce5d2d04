"""What semcache-magic says to Claude, and how it reads the answer.

Three requests share one system prompt, which also asks for a ``# parameters``
block binding the task's values to variables (the slot tier's declared parameters):

* **adapt** -- a new task plus a reference snippet (task and code) found in the
  cache: keep the reference's approach, change what the new task changes. The
  new task's literals are listed as hard constraints, so "add 5 and 3" cannot
  come back as the reference's ``99 + 1``. When the reference already does the
  task, the model may answer :data:`UNCHANGED_TOKEN` instead of repeating it.
  With a ``<proposed_code>`` (the reference with the new values substituted) it
  confirms the proposal with :data:`CONFIRMED_TOKEN` or corrects it: the cheap
  way for a slot substitution to earn trust.
* **generate** -- a task alone (a cache miss).
* **repair** -- a task, the code that failed and the kernel's error.

The user message is built from XML-tagged sections (``<task>``,
``<reference_task>``, ``<reference_context>``, ``<reference_code>``,
``<reference_free_names>``, ``<proposed_code>``, ``<constraints>``, ``<inputs>``,
``<libraries>``, ``<code>``, ``<error>``): models follow tagged sections
reliably, and the local model server (:mod:`semcache_magic.demo`)
finds them with a regular expression.

The messages are plain Messages-API dicts; this module does not import the SDK.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import MalformedAnswerError
from ..task import Literal, TaskAnalysis, parse_cell

__all__ = [
    "ADAPT_INSTRUCTIONS",
    "CONFIRMED_TOKEN",
    "GENERATE_INSTRUCTIONS",
    "PROPOSAL_INSTRUCTIONS",
    "REPAIR_INSTRUCTIONS",
    "SYSTEM_PROMPT",
    "UNCHANGED_TOKEN",
    "adapt_message",
    "extract_code",
    "extract_section",
    "generate_message",
    "is_unchanged",
    "repair_message",
    "system_blocks",
]

#: The whole answer when the reference already does the new task (saves output tokens).
UNCHANGED_TOKEN = "<unchanged/>"

#: The whole answer when the proposed program already does the new task exactly.
CONFIRMED_TOKEN = "<confirmed/>"

SYSTEM_PROMPT = """\
You write Python code for a user working in a Jupyter notebook.

The code runs in a fresh, isolated Python kernel. Nothing from the user's notebook exists \
there except the input variables listed in <inputs>.

A reference taken from a notebook cell ran after that notebook's earlier cells: \
<reference_context> holds the statements it needed from them, and <reference_free_names> \
the names it used that were defined elsewhere. None of them exists in the kernel: your \
program must do itself whatever it needs of them.

Rules:
- Write one complete, runnable program that does exactly what the task asks. Import \
everything you use. Prefer the standard library and the packages listed in <libraries>; \
never install packages.
- Print or display the result (print(), or display() for tables and figures). A value \
that is only computed is lost.
- Use the input variables as they are. Never invent sample data in their place, and read \
only the files and URLs the task names.
- Start the program with a parameters block: a line `# parameters`, then one assignment \
per value taken from the task (numbers, quoted text, dates, file names), written exactly as \
the task gives it (`percent = 15` for "15%", `position = 3` for "the 3rd"), one value per \
variable. Derive everything else from these variables (`rate = percent / 100`, \
`row = position - 1`, labels as f-strings), so the program stays correct when the task \
is asked again with other values. Constants that are not in the task stay in the code.
- Keep the code short and deterministic.
- Answer with a single ```python code block and nothing else: no explanation before or \
after it.
"""

ADAPT_INSTRUCTIONS = f"""\
Adapt the reference code above to the new task below.
- Keep the reference's approach, structure and libraries; change only what the new task \
changes.
- The values in <constraints> are hard requirements: the program must use exactly these \
values, never the reference's values they replace.
- If the reference code already does the new task exactly, as it is, answer with only \
{UNCHANGED_TOKEN} instead of repeating the code."""

PROPOSAL_INSTRUCTIONS = f"""\
<proposed_code> is the reference code with the new task's values put in place of the \
reference task's. Check it against the new task: if it does the new task exactly, for \
these values, answer with only {CONFIRMED_TOKEN}. Otherwise (a value that changes what \
the code must do, such as a zero, a sign, an order, a format, or a value that went to the \
wrong place) answer with the corrected complete program."""

GENERATE_INSTRUCTIONS = """\
Write a program for the task below."""

REPAIR_INSTRUCTIONS = """\
The code above was written for the task below and failed in the kernel with the error in \
<error>. Find the cause and fix it. Answer with the whole corrected program, not a diff; \
keep what already works."""

# The tail of a traceback names the failing line; the head is mostly frames of callers.
_MAX_ERROR_CHARS = 6_000
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_EPHEMERAL: dict[str, str] = {"type": "ephemeral"}

# An opening fence (with an optional language tag), the body, and a closing fence on
# a line of its own. Non-greedy, so the first block wins.
_FENCE_RE = re.compile(
    r"^[ \t]*```[ \t]*(?P<lang>[\w+.-]*)[^\n]*\n(?P<body>.*?)^[ \t]*```[ \t]*$",
    re.DOTALL | re.MULTILINE,
)
_PYTHON_TAGS = frozenset({"python", "py", "python3", "ipython", "ipython3"})


def system_blocks() -> list[dict[str, Any]]:
    """The system prompt as one cached text block (the prefix every request shares)."""
    return [{"type": "text", "text": SYSTEM_PROMPT, "cache_control": dict(_EPHEMERAL)}]


def adapt_message(
    task: TaskAnalysis,
    reference_task: str,
    reference_code: str,
    *,
    input_schema: Mapping[str, str] | None = None,
    libraries: Sequence[str] = (),
    proposal: str | None = None,
    reference_context: str = "",
    reference_free_names: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Content blocks of the adapt request.

    The reference comes first and carries ``cache_control``: system prompt plus
    reference is the prefix shared by every adaptation of the same snippet. A
    ``proposal`` (the reference with the new values substituted) asks the model to
    confirm it or correct it. A reference imported from a notebook brings its
    context (the earlier statements it needs) and its free names (what even those
    do not define).
    """
    parts = [_section("reference_task", reference_task)]
    if reference_context.strip():
        parts.append(_section("reference_context", reference_context.strip("\n")))
    parts.append(_section("reference_code", reference_code.rstrip("\n")))
    if reference_free_names:
        parts.append(_section("reference_free_names", _free_names(reference_free_names)))
    reference = "\n".join(parts)
    body = [ADAPT_INSTRUCTIONS, _section("task", task.task)]
    body += _context_sections(task, input_schema, libraries)
    if proposal is not None:
        body += [PROPOSAL_INSTRUCTIONS, _section("proposed_code", proposal.rstrip("\n"))]
    return [_cached_block(reference), _text_block("\n\n".join(body))]


def generate_message(
    task: TaskAnalysis,
    *,
    input_schema: Mapping[str, str] | None = None,
    libraries: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Content blocks of the generate request (only the system prompt is cached)."""
    body = [GENERATE_INSTRUCTIONS, _section("task", task.task)]
    body += _context_sections(task, input_schema, libraries)
    return [_text_block("\n\n".join(body))]


def repair_message(
    task: TaskAnalysis,
    code: str,
    error: str,
    *,
    input_schema: Mapping[str, str] | None = None,
    libraries: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Content blocks of the repair request.

    The failing code is the large, stable part (a popular snippet that breaks in
    one environment is repaired again and again), so it is the cached block.
    """
    body = [REPAIR_INSTRUCTIONS, _section("task", task.task)]
    body += _context_sections(task, input_schema, libraries)
    body.append(_section("error", _clean_error(error)))
    return [_cached_block(_section("code", code.rstrip("\n"))), _text_block("\n\n".join(body))]


def extract_section(text: str, tag: str) -> str | None:
    """The content of the first ``<tag>`` section in ``text``, or None.

    Sections open and close on lines of their own, so a tag named inside the
    instructions ("the error in <error>") is not mistaken for one.
    """
    match = re.search(rf"^<{tag}>\n(.*?)\n</{tag}>$", text, re.DOTALL | re.MULTILINE)
    return match.group(1) if match else None


def is_unchanged(answer: str, token: str = UNCHANGED_TOKEN) -> bool:
    """True when the answer is the "reference already does it" signal (or another
    ``token``, such as :data:`CONFIRMED_TOKEN`), with no code."""
    if answer.strip().strip("`").strip() == token:
        return True
    return token in answer and _first_block(answer) is None


def extract_code(answer: str) -> str:
    """The program in the first ```python (or bare ```) block of ``answer``.

    Raises :class:`MalformedAnswerError` when there is no such block, when the
    program is empty, and when it does not parse: running it would only fail in
    the kernel, and saving it would poison the cache.
    """
    block = _first_block(answer)
    if block is None:
        raise MalformedAnswerError(_no_block_message(answer))
    code = textwrap.dedent(block).strip("\n")
    if not code.strip():
        raise MalformedAnswerError("the model answered with an empty program")
    tree = _parse(code)
    if not tree.body:
        raise MalformedAnswerError("the model's program has no statements (only comments)")
    return code + "\n"


def _first_block(answer: str) -> str | None:
    bare: str | None = None
    for match in _FENCE_RE.finditer(answer):
        lang = match.group("lang").lower()
        if lang in _PYTHON_TAGS:
            return match.group("body")
        if not lang and bare is None:
            bare = match.group("body")
    return bare


def _no_block_message(answer: str) -> str:
    if not answer.strip():
        return "the model's answer is empty"
    tags = [m.group("lang") for m in _FENCE_RE.finditer(answer)]
    if tags:
        return f"the model's answer has no Python code block (only {', '.join(tags)})"
    if "```" in answer:
        return "the model's code block is not closed (the answer may have been cut off)"
    return "the model's answer has no ```python code block"


def _parse(code: str) -> ast.Module:
    # `%matplotlib inline` or `!ls` lines run in an IPython kernel: accept them.
    tree = parse_cell(code)
    if tree is not None:
        return tree
    try:
        compile(code, "<answer>", "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError as exc:
        where = f", line {exc.lineno}" if exc.lineno else ""
        raise MalformedAnswerError(
            f"the model's code does not parse (SyntaxError: {exc.msg}{where}); it was not run"
        ) from exc
    raise MalformedAnswerError("the model's code does not parse; it was not run")


def _context_sections(
    task: TaskAnalysis, input_schema: Mapping[str, str] | None, libraries: Sequence[str]
) -> list[str]:
    sections: list[str] = []
    if task.literals:
        sections.append(_section("constraints", _constraints(task.literals)))
    schema = task.input_schema if input_schema is None else input_schema
    sections.append(_section("inputs", _inputs(schema)))
    if libraries:
        names = ", ".join(sorted({str(lib) for lib in libraries}))
        sections.append(_section("libraries", f"Installed in the kernel: {names}"))
    return sections


def _constraints(literals: Sequence[Literal]) -> str:
    shown = [_show_literal(lit) for lit in literals]
    lines = [f"Use exactly these values from the task: {', '.join(shown)}"]
    lines += [f"- {text} ({lit.kind})" for text, lit in zip(shown, literals, strict=True)]
    return "\n".join(lines)


def _show_literal(literal: Literal) -> str:
    # Numbers as written; everything else as the Python string literal the code needs.
    return literal.text if literal.kind == "number" else repr(literal.text)


def _inputs(schema: Mapping[str, str]) -> str:
    if not schema:
        return "None: the program receives no variables from the notebook."
    lines = ["These variables already exist in the kernel; use them, do not load or recreate them:"]
    lines += [f"- {name}: {type_name}" for name, type_name in sorted(schema.items())]
    return "\n".join(lines)


def _free_names(names: Sequence[str]) -> str:
    return (f"The reference code uses {', '.join(sorted(names))}, defined elsewhere in its "
            "notebook. They do not exist in the kernel: define or load what the task needs "
            "(or use <inputs>).")


def _clean_error(error: str) -> str:
    text = _ANSI_RE.sub("", error).strip() or "(no error text)"
    if len(text) > _MAX_ERROR_CHARS:
        text = "...\n" + text[-_MAX_ERROR_CHARS:]
    return text


def _section(tag: str, content: str) -> str:
    return f"<{tag}>\n{content}\n</{tag}>"


def _text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _cached_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text, "cache_control": dict(_EPHEMERAL)}
