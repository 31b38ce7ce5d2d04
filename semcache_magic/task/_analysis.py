"""Task analysis: normalise a task, pull out its literals, hash it.

A *task* is the plain-language request a user types. The normalised task is the
``exact`` tier's key, so it folds only what cannot change a task's meaning:

* white space (runs become one space; leading and trailing space goes);
* trailing ``. ? ; : ,`` (and ``!``, except after a number or ``)``, where it is
  a factorial: "What is 7!" is not "What is 7?");
* case, only where it is uniform: a task written all in capitals, or the first
  letter of a sentence capitalised.

Everything else is kept: the case of every other word ("python" vs "PYTHON",
``%Y`` vs ``%y``, ``\\d`` vs ``\\D``, "MB" vs "Mb"), and each literal exactly as
written, quotes included (a ```name``` in backticks is not the string
``'name'``). Two tasks that differ only in their *literals* -- numbers, quoted
strings, dates, file names and paths -- share a *template* (the ``slot`` tier)::

    >>> a = analyse_task("Reverse the string 'notebook' and print it.")
    >>> a.normalised
    "reverse the string 'notebook' and print it"
    >>> a.template
    'reverse the string <str> and print it'
    >>> [lit.text for lit in a.literals]
    ['notebook']
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import TaskError

__all__ = [
    "Literal",
    "TaskAnalysis",
    "analyse_task",
    "clean_task_text",
    "schema_key",
]

_FILE_EXTENSIONS = (
    "csv|tsv|txt|json|jsonl|ndjson|parquet|pq|feather|arrow|orc|avro|xlsx|xls|xml|yaml|yml|"
    "toml|ini|cfg|conf|html|htm|md|rst|py|ipynb|r|sql|sqlite|db|duckdb|pkl|pickle|joblib|npy|"
    "npz|h5|hdf5|nc|mat|png|jpg|jpeg|gif|bmp|tif|tiff|svg|pdf|zip|gz|bz2|xz|tar|tgz|7z|log|"
    "wav|mp3|mp4|avi|mov|shp|geojson|docx|pptx|odt|ods|env|bin|dat"
)

# One alternation, tried left to right at each position: the first that matches wins,
# so a date is not read as three numbers and a path is not read as words.
_LITERAL_RE = re.compile(
    r"""
    (?P<sq>(?<![\w'"])'(?P<sq_text>[^'\n]*)'(?!\w))                 # 'single quoted'
  | (?P<dq>(?<![\w'"])"(?P<dq_text>[^"\n]*)"(?!\w))                 # "double quoted"
  | (?P<cq>[\u2018\u201c](?P<cq_text>[^\u2018\u2019\u201c\u201d\n]*)[\u2019\u201d])  # ‘curly’
  | (?P<bq>`(?P<bq_text>[^`\n]+)`)                                  # `backticks`
  | (?P<url>\b(?:https?|s3|gs|az|file)://[^\s'"<>]+[^\s'"<>.,;:!?)])  # URLs
  | (?P<date>(?<![\w./-])(?:\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?
        |\d{4}/\d{2}/\d{2}|\d{1,2}/\d{1,2}/\d{4})(?![\w/-]))
  | (?P<path>(?<![\w/.~-])
        (?:(?:~|\.{1,2})?/[\w.~-]+(?:/[\w.~-]+)*/?                  # /abs, ./rel, ~/home
        |[\w.-]+(?:/[\w.-]+)*\.(?:"""
    + _FILE_EXTENSIONS
    + r"""))(?![\w/-]|\.\w))                                        # data/x.csv, x.csv
  | (?P<ord>(?<![\w.])(?P<ord_text>\d+)(?:st|nd|rd|th)\b)                 # 20th -> 20
  | (?P<num>(?<![\w.])(?:(?<![\d)\]])-)?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w]|\.\d))
    """,
    re.VERBOSE | re.IGNORECASE,
)

_KIND_OF_GROUP = {
    "sq": "string",
    "dq": "string",
    "cq": "string",
    "bq": "string",
    "url": "path",
    "date": "date",
    "path": "path",
    "ord": "number",
    "num": "number",
}
_PLACEHOLDER = {"string": "<str>", "date": "<date>", "path": "<path>", "number": "<num>"}
_TRAILING_PUNCT = ".?;:,"
# "7!" and "(n)!" are factorials; elsewhere a final "!" is tone, not meaning.
_FACTORIAL_END = re.compile(r"[\d)]!+$")


@dataclass(frozen=True)
class Literal:
    """One literal value in a task.

    ``kind`` is ``number``, ``string``, ``date`` or ``path``; ``text`` is the value
    as written (a string's content without its quotes).
    """

    kind: str
    text: str

    @property
    def value(self) -> int | float | str:
        """The Python value: int/float for numbers, the text otherwise."""
        if self.kind == "number":
            if re.fullmatch(r"-?\d+", self.text):
                return int(self.text)
            return float(self.text)
        return self.text

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "text": self.text}

    @classmethod
    def from_json(cls, data: Mapping[str, str]) -> Literal:
        return cls(kind=str(data["kind"]), text=str(data["text"]))


@dataclass(frozen=True)
class TaskAnalysis:
    """What lookup needs to know about a task."""

    task: str
    normalised: str
    template: str
    literals: tuple[Literal, ...]
    input_schema: dict[str, str] = field(default_factory=dict)
    language: str = "python"

    def task_hash(self, namespace: str) -> str:
        """Hash of (normalised task, input schema, language, namespace): the exact tier's key."""
        return _digest([self.normalised, schema_key(self.input_schema), self.language, namespace])

    @property
    def template_hash(self) -> str:
        """Hash of (template, input schema, language): tasks that differ only in literals."""
        return _digest([self.template, schema_key(self.input_schema), self.language])

    def literals_json(self) -> str:
        return json.dumps([lit.to_json() for lit in self.literals])


def schema_key(input_schema: Mapping[str, str]) -> list[list[str]]:
    """A canonical, order-independent form of an input schema (names -> type names)."""
    return sorted([str(k), str(v)] for k, v in input_schema.items())


def _digest(parts: list[object]) -> str:
    blob = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


def clean_task_text(task: str | bytes, *, max_chars: int = 20_000) -> str:
    """Validate a task and return it stripped and NFC-normalised.

    Raises :class:`TaskError` for empty/blank text, text over ``max_chars``,
    bytes that are not UTF-8, lone surrogates and NUL characters.
    """
    if isinstance(task, bytes | bytearray):
        try:
            task = bytes(task).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TaskError(f"the task is not valid UTF-8 text ({exc.reason})") from exc
    if not isinstance(task, str):
        raise TaskError(f"the task must be text, not {type(task).__name__}")
    try:
        task.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TaskError("the task holds characters that are not valid Unicode text") from exc
    if "\x00" in task:
        raise TaskError("the task holds a NUL character")
    text = unicodedata.normalize("NFC", task).strip()
    if not text:
        raise TaskError("the task is empty")
    if len(text) > max_chars:
        raise TaskError(
            f"the task is {len(text):,} characters long; the limit is {max_chars:,}",
            hint="shorten the task (put data in variables and pass them with --in), "
            "or raise SemCache.max_task_chars",
        )
    return text


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _fold_case(parts: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """Fold case where it is uniform; ``parts`` are (text, is_literal) pieces in order."""
    prose = "".join(text for text, literal in parts if not literal)
    if any(c.isalpha() for c in prose) and not any(c.islower() for c in prose):
        # All in capitals (SUBTRACT 17 FROM 250): shouting, not meaning. Literals keep theirs.
        return [(text if literal else text.lower(), literal) for text, literal in parts]
    # A sentence-start capital ("Reverse ...", "... year? Print ...") is grammar; a word
    # in capitals ("MB", "PYTHON") or a capital inside a sentence ("the word Hello") is not.
    folded: list[tuple[str, bool]] = []
    at_start = True
    for text, literal in parts:
        if literal:
            folded.append((text, literal))
            at_start = False
            continue
        out, last = [], 0
        for word in re.finditer(r"\S+", text):
            token = word.group(0)
            if at_start and token[:1].isupper() and not any(c.isupper() for c in token[1:]):
                token = token[0].lower() + token[1:]
            out.append(text[last:word.start()] + token)
            last = word.end()
            at_start = bool(re.search(r"[.?!]$", word.group(0)))
        folded.append(("".join(out) + text[last:], False))
    return folded


def _strip_end(text: str) -> str:
    """Drop trailing punctuation that cannot change the meaning (see the module docstring)."""
    text = text.rstrip()
    while text and (text[-1] in _TRAILING_PUNCT or (
            text[-1] == "!" and not _FACTORIAL_END.search(text))):
        text = text[:-1].rstrip()
    return text


def analyse_task(
    task: str | bytes,
    *,
    input_schema: Mapping[str, str] | None = None,
    language: str = "python",
    max_chars: int = 20_000,
) -> TaskAnalysis:
    """Normalise ``task`` (the exact key), extract its literals and build its template.

    See the module docstring for what normalisation folds and what it keeps.
    """
    text = clean_task_text(task, max_chars=max_chars)
    pieces: list[tuple[str, bool]] = []  # (text, is_literal), the normalised key in order
    placeholders: list[str] = []  # the template's stand-in for each literal piece
    literals: list[Literal] = []
    pos = 0
    for match in _LITERAL_RE.finditer(text):
        group = match.lastgroup or ""
        kind = _KIND_OF_GROUP.get(group)
        if kind is None:  # an inner *_text group cannot be last; be defensive
            continue
        pieces.append((_collapse(text[pos : match.start()]), False))
        content = match.group(f"{group}_text") if f"{group}_text" in match.groupdict() else None
        literal_text = content if content is not None else match.group(0)
        literals.append(Literal(kind=kind, text=literal_text))
        # Kept as written, quotes included: `name` and "a' + 'b" are not 'name' and 'a' + 'b'.
        pieces.append((match.group(0), True))
        # Backticks name code (`df`), quotes hold text: the two never stand in for each other.
        placeholders.append("<ord>" if group == "ord" else "<code>" if group == "bq"
                            else _PLACEHOLDER[kind])
        pos = match.end()
    tail = _collapse(text[pos:])
    pieces.append((tail, False))
    pieces = _fold_case(pieces)
    normalised = "".join(piece for piece, _ in pieces).strip()
    holders = iter(placeholders)
    template = "".join(next(holders) if literal else piece for piece, literal in pieces).strip()
    # Trailing punctuation only goes where it is prose, never out of a literal.
    if tail.strip():  # the same characters end both (the tail is prose)
        kept = _strip_end(normalised)
        template = template[: len(template) - (len(normalised) - len(kept))].rstrip()
        normalised = kept
    return TaskAnalysis(
        task=text,
        normalised=normalised,
        template=template,
        literals=tuple(literals),
        input_schema={str(k): str(v) for k, v in (input_schema or {}).items()},
        language=language,
    )
