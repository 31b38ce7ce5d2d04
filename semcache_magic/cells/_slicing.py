"""Backward slices of a notebook: the earlier statements a code cell needs to run alone.

A notebook cell is a fragment of the notebook's state: ``X_train[0]`` means nothing without
the cells that loaded and split the data. For a target cell, :class:`NotebookSlicer` finds
the names it reads without defining them, then walks the earlier cells' top-level
statements backwards, keeping each statement that binds or changes a needed name (and the
names *it* reads), transitively. The result is in notebook order.

Statements, not cells: a cell that imports pandas and prints a huge table contributes only
the import. Statements that bind and change nothing (``df.head()``, ``print(x)``,
``plt.show()``, a bare value) are never part of a slice. ``from x import *`` binds no name
we know: it is added (and flagged) only when some names stay unresolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._defuse import Statement, analyse_cell

__all__ = ["NotebookSlicer", "Slice", "cell_needs"]


@dataclass(frozen=True)
class Slice:
    """What a cell needs from the cells before it."""

    context_code: str
    free_names: tuple[str, ...]
    statements: tuple[Statement, ...]
    star_imports: tuple[str, ...] = ()


def cell_needs(statements: Sequence[Statement]) -> tuple[set[str], set[str], set[str]]:
    """(names the cell reads before binding them, path literals it mentions, names it binds).

    Names read inside functions the cell defines count unless the cell binds them anywhere.
    """
    bound: set[str] = set()
    free: set[str] = set()
    deferred: set[str] = set()
    paths: set[str] = set()
    for statement in statements:
        free |= statement.uses - bound
        bound = (bound | statement.binds) - statement.deletes
        deferred |= statement.deferred
        paths |= statement.reads
    return free | (deferred - bound), paths, bound


class NotebookSlicer:
    """Slices of one notebook's code cells.

    ``cells`` holds the plain Python of each cell by position (markdown cells, cells that
    failed or that cannot be parsed as ``None``): a slice's ``statements`` carry those
    positions in ``cell``.
    """

    def __init__(self, cells: Sequence[str | None]) -> None:
        modules: set[str] = set()
        functions: dict[str, frozenset[str]] = {}
        self._cells = [analyse_cell(code, number, modules, functions) if code else []
                       for number, code in enumerate(cells)]

    def statements(self, cell: int) -> list[Statement]:
        return list(self._cells[cell])

    def free_names(self, cell: int) -> set[str]:
        """Names the cell reads without defining them (before any slicing)."""
        return cell_needs(self._cells[cell])[0]

    def slice(self, cell: int) -> Slice:
        """The statements before ``cell`` that it needs, and the names still undefined."""
        before = [s for statements in self._cells[:cell] for s in statements]
        wanted, paths, bound = cell_needs(self._cells[cell])
        late: set[str] = set()  # read by functions in the slice, when the cell calls them
        while True:
            chosen, needed = self._walk(before, wanted | late, paths)
            extra = set().union(*(before[i].deferred for i in chosen)) - bound - late
            if not extra:
                break
            late |= extra
        # A name bound only on some paths (in a loop, a branch, a `try`) is still searched
        # for further up, but what the context binds at all is not missing from outside.
        free = cell_needs([*(before[i] for i in chosen), *self._cells[cell]])[0] & needed
        stars = [i for i, s in enumerate(before) if s.star_import] if free else []
        chosen = sorted(set(chosen) | set(stars))
        statements = tuple(before[i] for i in chosen)
        return Slice(context_code=_join(statements), free_names=tuple(sorted(free)),
                     statements=statements,
                     star_imports=tuple(before[i].star_import or "" for i in stars))

    @staticmethod
    def _walk(before: list[Statement], wanted: set[str],
              paths: set[str]) -> tuple[list[int], set[str]]:
        """Indices of the statements kept (in order) and the names left unresolved."""
        needed, need_paths = set(wanted), set(paths)
        chosen: list[int] = []
        for index in range(len(before) - 1, -1, -1):
            statement = before[index]
            if not ((statement.binds | statement.mutates) & needed
                    or statement.writes & need_paths):
                continue
            chosen.append(index)
            needed = (needed - statement.defines) | statement.uses
            need_paths |= statement.reads
        chosen.reverse()
        return chosen, needed


def _join(statements: Sequence[Statement]) -> str:
    parts: list[str] = []
    for number, statement in enumerate(statements):
        if number and statement.cell != statements[number - 1].cell:
            parts.append("")  # a blank line between cells
        parts.append(statement.source)
    return "\n".join(parts) + "\n" if parts else ""
