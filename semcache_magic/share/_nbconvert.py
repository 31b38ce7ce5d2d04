"""``semcache freeze`` as nbconvert sees it (the only nbconvert user).

* :class:`SemcacheFreeze` -- a preprocessor: ``jupyter nbconvert --to notebook
  --Exporter.preprocessors=semcache_magic.share.SemcacheFreeze NB.ipynb``
  (``--SemcacheFreeze.strict=True`` fails on a task without a record);
* :class:`FreezeExporter` -- the same as an exporter, registered under the
  ``nbconvert.exporters`` entry point: ``jupyter nbconvert --to semcache_freeze NB.ipynb``
  writes ``NB.frozen.ipynb``;
* :func:`freeze_notebook` -- what ``semcache freeze`` calls.

Importing nbconvert costs a few hundred milliseconds, so the share stage's front door
imports this module only when one of these names is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbconvert.exporters import NotebookExporter
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from ._freeze import FreezeReport, freeze_cells
from ._nbfile import read_notebook, write_notebook

__all__ = ["FreezeExporter", "SemcacheFreeze", "freeze_notebook"]


class SemcacheFreeze(Preprocessor):
    """Replace every ``%%cached_task`` cell by the code that ran (from its output's record)
    and comment out semcache-only lines, so the notebook runs without semcache."""

    strict = Bool(False, help="fail when a %%cached_task cell has no record of what ran "
                  "(default: comment the cell out and report it)").tag(config=True)

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        report = freeze_cells(nb.cells, strict=self.strict)
        nb.metadata.setdefault("semcache", {})["frozen"] = True
        resources = resources if resources is not None else {}
        resources["semcache_freeze"] = report
        return nb, resources


class FreezeExporter(NotebookExporter):
    """A notebook exporter that always freezes: ``--to semcache_freeze``."""

    export_from_notebook = "Frozen notebook (semcache)"

    def _init_preprocessors(self) -> None:
        super()._init_preprocessors()
        self.register_preprocessor(SemcacheFreeze, enabled=True)

    def from_notebook_node(self, nb: Any, resources: Any = None, **kw: Any) -> Any:
        output, resources = super().from_notebook_node(nb, resources, **kw)
        resources["output_suffix"] = ".frozen"
        return output, resources


def freeze_notebook(path: str | Path, out: str | Path | None = None, *,
                    strict: bool = False) -> tuple[Path, FreezeReport]:
    """Write the frozen copy of the notebook at ``path`` (default ``NAME.frozen.ipynb``
    beside it) and say what changed."""
    source = Path(path)
    target = Path(out) if out else source.with_name(f"{source.stem}.frozen.ipynb")
    notebook = read_notebook(source)
    notebook, resources = SemcacheFreeze(strict=strict).preprocess(notebook, {})
    write_notebook(notebook, target)
    report: FreezeReport = resources["semcache_freeze"]
    return target, report
