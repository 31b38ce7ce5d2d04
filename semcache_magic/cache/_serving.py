"""The serving rules: when stored code may run for a task without the model.

Serving wrong code silently is the worst thing this product can do; a model call
is cheap by comparison. So code runs without the model only on evidence:

``exact``
    the snippet was written for this very task (same exact key: see
    :func:`semcache_magic.task.analyse_task`), by a person (``semcache add``, the
    sidebar) or by the model for a task that then ran successfully.
``declared``
    each changed value is bound in the code's ``# parameters`` block, where the
    model (or a person) put the task's values on purpose. A block of plain
    bindings at the top without the marker (``c = 25``) places values as surely,
    but promises nothing about other values: it counts for values of the same
    class as the old one (see below) until the model confirms another class.
``confirmed``
    the model, asked before to adapt this snippet to another value of the same
    slot, answered with exactly the substituted program (same syntax tree), and
    never refuted it since. Evidence is per value class: a confirmation with an
    even number does not cover odd ones (``range(start, stop, 2)``).

Whatever the evidence, a substitution must also keep every value's shape and the
order between values (:func:`semcache_magic.task.shape_change`); small integers
(-1, 0, 1, 2) are too often structure to be trusted on a heuristic mapping.
Without enough evidence a substitution is only a *proposal*: the model confirms
or corrects it, and its answer becomes evidence for the next time.

Never served, whatever their task: imported notebook cells (their task was
inferred from prose; they are references until the pipeline has run them for a
task), rows created by slot servings in older stores, unhealthy snippets (voted
down, or failing), and code from a namespace the user has not trusted (it is
shown and waits for a yes).
"""

from __future__ import annotations

import ast
from collections.abc import Collection
from dataclasses import dataclass

from ..snippet import Snippet
from ..task import (
    Substitution,
    TaskAnalysis,
    has_parameters_marker,
    inline_parameters,
    is_structural,
    shape_change,
    substitute,
    value_class,
)

__all__ = ["SERVABLE_SOURCES", "SlotDecision", "decide_slot", "heuristic_slots", "same_program",
           "servable"]

#: Where code must come from to be served without the model.
SERVABLE_SOURCES = frozenset({"manual", "generated", "adapted"})


def servable(snippet: Snippet) -> bool:
    """May this snippet's code run without the model (for its own task)?"""
    return snippet.source in SERVABLE_SOURCES and snippet.healthy


@dataclass(frozen=True)
class SlotDecision:
    """What a same-template snippet offers for a task with other values.

    ``evidence`` is ``declared``, ``confirmed`` or ``declared+confirmed`` when the
    substituted code may be served, ``proposal`` when it needs the model's word;
    ``substitution`` is ``None`` when nothing sound can be proposed (``reason`` says why).
    """

    snippet: Snippet
    substitution: Substitution | None
    evidence: str
    reason: str = ""

    @property
    def served(self) -> bool:
        return self.substitution is not None and self.evidence != "proposal"


def decide_slot(snippet: Snippet, analysis: TaskAnalysis) -> SlotDecision:
    """Apply the serving rules to ``snippet`` (same template as ``analysis``)."""
    result = substitute(snippet.code, snippet.literals, analysis.literals,
                        declared=snippet.params)
    if result is None or not result.changes:
        return SlotDecision(snippet, None, "", "no sound mapping of the values into the code")
    reason = shape_change(snippet.literals, analysis.literals)
    if reason is not None:
        return SlotDecision(snippet, None, "", reason)
    refuted = set(snippet.evidence.get("refuted", ()))
    promised = has_parameters_marker(snippet.code)
    kinds: set[str] = set()
    for slot in result.slots:
        if slot in result.declared:
            # A marked block comes with the promise that the code works for other values;
            # an unmarked one only says where the value goes: a new class of value (odd
            # after even, ...) needs the model's word first.
            same_class = value_class(analysis.literals[slot]) == value_class(
                snippet.literals[slot])
            kinds.add("declared" if promised or same_class or _confirmed(
                snippet, slot, analysis) else "proposal")
            continue
        old = snippet.literals[slot]
        if is_structural(old) or str(slot) in refuted:
            # Not even a proposal: a guess at where "1" or a refuted slot goes would
            # mislead the model more than help it.
            return SlotDecision(snippet, None, "",
                                f"{old.text!r} is not declared and its place is not certain")
        kinds.add("confirmed" if _confirmed(snippet, slot, analysis) else "proposal")
    if "proposal" in kinds or not servable(snippet):
        return SlotDecision(snippet, result, "proposal")
    return SlotDecision(snippet, result, "+".join(sorted(kinds)))


def _confirmed(snippet: Snippet, slot: int, analysis: TaskAnalysis) -> bool:
    """Did the model confirm a substitution of this slot with a value of the new value's
    class (the old value's class is known good once the place itself is confirmed)?"""
    classes = {entry.split("/", 1)[1] for entry in snippet.evidence.get("confirmed", ())
               if entry.split("/", 1)[0] == str(slot) and "/" in entry}
    if not classes:
        return False
    return value_class(analysis.literals[slot]) in classes | {
        value_class(snippet.literals[slot])}


def same_program(a: str, b: str) -> bool:
    """True when two programs have the same syntax tree, formatting, comments and a
    ``# parameters`` block aside (a model confirming a substitution may well declare
    the values it keeps: that is the same program)."""
    tree_a, tree_b = inline_parameters(a), inline_parameters(b)
    if tree_a is None or tree_b is None:
        return a.strip() == b.strip()
    return ast.dump(tree_a) == ast.dump(tree_b)


def heuristic_slots(decision: SlotDecision) -> Collection[int]:
    """The changed values a model answer confirms or refutes: all but those declared in a
    marked parameters block (which need no word)."""
    if decision.substitution is None:
        return ()
    if not has_parameters_marker(decision.snippet.code):
        return list(decision.substitution.slots)
    return [s for s in decision.substitution.slots if s not in decision.substitution.declared]
