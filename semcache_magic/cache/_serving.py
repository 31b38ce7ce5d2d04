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
order between values (:func:`semcache_magic.task.shape_changes`); only for values
declared in a marked ``# parameters`` block is such a change proposed to the model,
and once confirmed it is evidence too. Small integers (-1, 0, 1, 2) are too often
structure to be trusted on a heuristic mapping.
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
from dataclasses import dataclass

from ..snippet import Snippet
from ..task import (
    Substitution,
    TaskAnalysis,
    has_parameters_marker,
    inline_parameters,
    is_structural,
    shape_changes,
    substitute,
    value_class,
)

__all__ = ["SERVABLE_SOURCES", "SlotDecision", "decide_slot", "same_program", "servable"]

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
    ``pending`` names the evidence a confirmation of the proposal earns; ``doubtful``
    the changed literals that a correction (or a failure of served code) refutes.
    """

    snippet: Snippet
    substitution: Substitution | None
    evidence: str
    reason: str = ""
    pending: tuple[str, ...] = ()
    doubtful: tuple[int, ...] = ()

    @property
    def served(self) -> bool:
        return self.substitution is not None and self.evidence != "proposal"


def decide_slot(snippet: Snippet, analysis: TaskAnalysis) -> SlotDecision:
    """Apply the serving rules to ``snippet`` (same template as ``analysis``)."""
    result = substitute(snippet.code, snippet.literals, analysis.literals,
                        declared=snippet.params)
    if result is None or not result.changes:
        return SlotDecision(snippet, None, "", "no sound mapping of the values into the code")
    confirmed = set(snippet.evidence.get("confirmed", ()))
    refuted = set(snippet.evidence.get("refuted", ()))
    promised = has_parameters_marker(snippet.code)
    kinds: set[str] = set()
    pending: list[str] = []
    # Changes of shape or order: a hard refusal, except for values declared in a marked
    # block (whose author promised other values work): there the model's word on each
    # change is asked once and remembered.
    for change in shape_changes(snippet.literals, analysis.literals):
        covered = promised and not change.kinds and all(
            slot in result.declared for slot in result.slots)
        if not covered or change.key in refuted:
            return SlotDecision(snippet, None, "", change.reason)
        if change.key in confirmed:
            kinds.add("confirmed")
        else:
            pending.append(change.key)
    doubtful: list[int] = []
    for slot in result.slots:
        new_class = value_class(analysis.literals[slot])
        known = _confirmed(snippet, slot, analysis)
        if slot in result.declared:
            # A marked block comes with the promise that the code works for other values;
            # an unmarked one only says where the value goes: a new class of value (odd
            # after even, ...) needs the model's word first.
            if promised:
                kinds.add("declared")
                continue
            doubtful.append(slot)
            same_class = new_class == value_class(snippet.literals[slot])
            if same_class or known:
                kinds.add("declared")
            else:
                pending.append(f"{slot}/{new_class}")
            continue
        old = snippet.literals[slot]
        if is_structural(old) or str(slot) in refuted:
            # Not even a proposal: a guess at where "1" or a refuted slot goes would
            # mislead the model more than help it.
            return SlotDecision(snippet, None, "",
                                f"{old.text!r} is not declared and its place is not certain")
        doubtful.append(slot)
        if known:
            kinds.add("confirmed")
        else:
            pending.append(f"{slot}/{new_class}")
    if pending or not servable(snippet):
        return SlotDecision(snippet, result, "proposal", pending=tuple(pending),
                            doubtful=tuple(doubtful))
    return SlotDecision(snippet, result, "+".join(sorted(kinds)), doubtful=tuple(doubtful))


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
