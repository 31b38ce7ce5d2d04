"""What each top-level statement of a cell defines, changes and reads.

A :class:`Statement` records, for one top-level statement of plain Python:

* ``defines`` -- names it certainly binds; ``maybe_defines`` -- names bound on some paths
  only (inside ``if``/``for``/``while``/``try``/``match``);
* ``mutates`` -- names whose object it changes in place (``df['x'] = ...``, ``df.drop(...,
  inplace=True)``, ``model.fit(X, y)``, ``items.append(x)``, ``clean(df)``);
* ``deletes`` -- names it unbinds (``del x``);
* ``uses`` -- names it reads before binding them; ``deferred`` -- names read only when a
  function it defines is called (resolved at the time of use, not of definition);
* ``writes`` / ``reads`` -- path-like string literals it writes (``df.to_csv('out.csv')``)
  or mentions, so a slice that reads a file also gets the statement that wrote it.

Names bound by ``import`` are modules: calling their functions changes nothing we track,
except configuration calls such as ``np.random.seed(0)``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ._modules import star_names
from ._vocabulary import (
    ARG_MUTATORS,
    BUILTIN_NAMES,
    CONFIG_CALLS,
    MUTATING_METHODS,
    PATH_LIKE,
    VIEW_METHODS,
    WRITERS,
)

__all__ = ["Statement", "analyse_cell", "function_free_names"]


@dataclass(frozen=True)
class Statement:
    """One top-level statement of a code cell and the names it touches."""

    cell: int
    source: str
    defines: frozenset[str] = frozenset()
    maybe_defines: frozenset[str] = frozenset()
    mutates: frozenset[str] = frozenset()
    uses: frozenset[str] = frozenset()
    deferred: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    reads: frozenset[str] = frozenset()
    star_import: str | None = None
    global_writes: frozenset[str] = frozenset()
    calls: frozenset[str] = frozenset()
    deletes: frozenset[str] = frozenset()

    @property
    def binds(self) -> frozenset[str]:
        return self.defines | self.maybe_defines

    @property
    def changes_nothing(self) -> bool:
        """Binds, changes and writes nothing: it only shows something (or is dead code)."""
        return not (self.binds or self.mutates or self.writes or self.star_import)


def _root(node: ast.expr) -> str | None:
    """``df`` for ``df``, ``df.a``, ``df['a'].loc[0]``; None when a call is in between."""
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Starred):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _params(args: ast.arguments) -> set[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return {a.arg for a in every if a is not None}


def _arg_expressions(args: ast.arguments) -> list[ast.expr]:
    """Defaults and annotations: evaluated when the function is defined."""
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    notes = [a.annotation for a in every if a is not None and a.annotation is not None]
    return [*args.defaults, *(d for d in args.kw_defaults if d is not None), *notes]


def function_free_names(args: ast.arguments | None,
                        body: Iterable[ast.AST]) -> tuple[set[str], set[str]]:
    """(free names, globals it rebinds) of a function or lambda body."""
    stores: set[str] = set()
    loads: set[str] = set()
    declared: set[str] = set()
    nonlocal_: set[str] = set()
    todo = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            if not isinstance(node, ast.Lambda):
                stores.add(node.name)
                todo.extend(node.decorator_list)
                todo.extend([node.returns] if node.returns else [])
            todo.extend(_arg_expressions(node.args))
            inner = node.body if isinstance(node.body, list) else [node.body]
            loads.update(function_free_names(node.args, inner)[0])
            continue
        if isinstance(node, ast.ClassDef):
            stores.add(node.name)
        elif isinstance(node, ast.Global):
            declared.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            nonlocal_.update(node.names)
        elif isinstance(node, ast.Name):
            (loads if isinstance(node.ctx, ast.Load) else stores).add(node.id)
        elif isinstance(node, ast.alias):
            stores.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            stores.add(node.name)
        todo.extend(ast.iter_child_nodes(node))
    local = (stores | (_params(args) if args else set())) - declared - nonlocal_
    return loads - local, stores & declared


def _path_literals(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and len(n.value) < 200 and PATH_LIKE.match(n.value)}


@dataclass
class _Flow(ast.NodeVisitor):
    """Names one top-level statement binds and reads, in evaluation order."""

    modules: set[str]
    functions: dict[str, frozenset[str]]
    bound: set[str] = field(default_factory=set)
    local: list[set[str]] = field(default_factory=list)  # comprehension scopes
    branch: int = 0
    defines: set[str] = field(default_factory=set)
    maybe: set[str] = field(default_factory=set)
    mutates: set[str] = field(default_factory=set)
    uses: set[str] = field(default_factory=set)
    deferred: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    global_writes: set[str] = field(default_factory=set)
    calls: set[str] = field(default_factory=set)
    deletes: set[str] = field(default_factory=set)
    star: str | None = None
    aliases: dict[str, list[str]] = field(default_factory=dict)  # loop name -> the objects

    def bind(self, name: str) -> None:
        if self.local:
            self.local[-1].add(name)
            return
        self.bound.add(name)
        (self.maybe if self.branch else self.defines).add(name)

    def read(self, name: str) -> None:
        if name not in self.bound and not any(name in scope for scope in self.local):
            self.uses.add(name)

    def mutate(self, node: ast.expr) -> None:
        root = _root(node)
        if root is not None:
            self.read(root)
            self.mutates.add(root)
            self.mutates.update(self.aliases.get(root, ()))

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.read(node.id)
        elif isinstance(node.ctx, ast.Store):
            self.bind(node.id)
        else:
            self.bound.discard(node.id)
            self.deletes.add(node.id)

    def target(self, node: ast.expr) -> None:
        if isinstance(node, ast.Tuple | ast.List):
            for element in node.elts:
                self.target(element)
        elif isinstance(node, ast.Starred):
            self.target(node.value)
        elif isinstance(node, ast.Attribute | ast.Subscript):
            self.visit(node)  # reads the object and the index
            self.mutate(node)
        else:
            self.visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self.target(target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            self.read(node.target.id)
            self.bind(node.target.id)
        else:
            self.target(node.target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.annotation)
        if node.value is not None:
            self.visit(node.value)
            self.target(node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        scopes, self.local = self.local, []  # `:=` binds outside comprehensions
        self.bind(node.target.id)
        self.local = scopes

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self.target(target)

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                self.star = getattr(node, "module", None) or "*"
                continue
            name = alias.asname or alias.name.split(".")[0]
            self.bind(name)
            self.modules.add(name)

    visit_ImportFrom = visit_Import

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for expr in [*node.decorator_list, *_arg_expressions(node.args),
                     *([node.returns] if node.returns else [])]:
            self.visit(expr)
        free, rebinds = function_free_names(node.args, node.body)
        self.deferred.update(free)
        self.global_writes.update(rebinds)
        self.functions[node.name] = frozenset(rebinds)
        self.bind(node.name)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for expr in _arg_expressions(node.args):
            self.visit(expr)
        for name in function_free_names(node.args, [node.body])[0]:
            self.read(name)  # a lambda is usually called right away (df.apply(lambda ...))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.visit(expr)
        inner = _Flow(modules=set(self.modules), functions={})
        for stmt in node.body:
            inner.visit(stmt)
        for name in inner.uses:
            self.read(name)
        self.deferred.update(inner.deferred)
        self.bind(node.name)

    def _comprehension(self, node: ast.AST, parts: list[ast.expr]) -> None:
        generators: list[ast.comprehension] = node.generators  # type: ignore[attr-defined]
        self.visit(generators[0].iter)  # evaluated in the enclosing scope
        self.local.append(set())
        for number, gen in enumerate(generators):
            if number:
                self.visit(gen.iter)
            self.visit(gen.target)
            for condition in gen.ifs:
                self.visit(condition)
        for part in parts:
            self.visit(part)
        self.local.pop()

    def visit_ListComp(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp) -> None:
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, [node.key, node.value])

    def _branching(self, before: list[ast.AST], bodies: Sequence[Sequence[ast.AST]]) -> None:
        for expr in before:
            self.visit(expr)
        self.branch += 1
        for body in bodies:
            for stmt in body:
                self.visit(stmt)
        self.branch -= 1

    def visit_If(self, node: ast.If | ast.While) -> None:
        self._branching([node.test], [node.body, node.orelse])

    visit_While = visit_If

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        if isinstance(node.target, ast.Name) and isinstance(node.iter, ast.Tuple | ast.List):
            # `for set_ in (train, test): set_.drop(..., inplace=True)` changes both
            self.aliases[node.target.id] = [e.id for e in node.iter.elts
                                            if isinstance(e, ast.Name)]
        self.branch += 1
        self.visit(node.target)
        self.branch -= 1
        self._branching([], [node.body, node.orelse])

    visit_AsyncFor = visit_For

    def visit_Try(self, node: ast.Try) -> None:
        self._branching([], [node.body, *([h] for h in node.handlers), node.orelse,
                             node.finalbody])

    visit_TryStar = visit_Try

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self.bind(node.name)
        for stmt in node.body:
            self.visit(stmt)

    def visit_Match(self, node: ast.Match) -> None:
        self.visit(node.subject)
        self._branching([], [[c] for c in node.cases])

    def visit_MatchAs(self, node: ast.MatchAs | ast.MatchStar) -> None:
        self.generic_visit(node)
        if node.name:
            self.bind(node.name)

    visit_MatchStar = visit_MatchAs

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        inplace = any(k.arg == "inplace" and isinstance(k.value, ast.Constant)
                      and k.value.value is True for k in node.keywords)
        func = node.func
        if isinstance(func, ast.Name):
            self.calls.add(func.id)
            for name in self.functions.get(func.id, ()):
                self.mutates.add(name)  # a function that rebinds a global when called
                self.maybe.add(name)
            return
        if not isinstance(func, ast.Attribute):
            return
        if func.attr in WRITERS:
            self.writes.update(_path_literals(node))
            # `os.makedirs(IMAGES_PATH)`: what the name points at changes, so a later
            # reader of the name (a save_fig helper) needs this statement too
            target = node.args[1:2] if func.attr == "dump" else node.args[:1]
            for arg in target:
                if isinstance(arg, ast.Name) and arg.id not in self.modules:
                    self.mutates.add(arg.id)
        if func.attr in ARG_MUTATORS:
            for arg in node.args:
                self.mutate(arg)
        root = _root(func.value)
        if root is not None and root in self.modules:
            if func.attr in CONFIG_CALLS:
                self.mutates.add(root)
        elif inplace or func.attr in MUTATING_METHODS:
            self.mutate(func.value)

    def visit_Expr(self, node: ast.Expr) -> None:
        self.visit(node.value)
        call = node.value
        if not isinstance(call, ast.Call):
            return
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr not in VIEW_METHODS:
            root = _root(func.value)
            if root is not None and root not in self.modules:
                self.mutate(func.value)  # the value is dropped: called for its effect
        elif (isinstance(func, ast.Name) and func.id not in BUILTIN_NAMES
              and func.id not in self.modules):
            for arg in call.args:  # a helper such as clean(df) may change its argument
                if isinstance(arg, ast.Name):
                    self.mutate(arg)


def _source(code: str, lines: list[str], node: ast.stmt, shared: bool) -> str:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    if shared:  # `a = 1; b = 2` on one line: the statement's own text only
        return ast.get_source_segment(code, node) or ""
    return "".join(lines[first - 1: node.end_lineno]).rstrip()


def analyse_cell(code: str, cell: int, modules: set[str],
                 functions: dict[str, frozenset[str]]) -> list[Statement]:
    """The top-level statements of one cell of plain Python (empty if it does not parse).

    ``modules`` (names bound by imports) and ``functions`` (globals each function
    rebinds) carry over from earlier cells and are updated in place.
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    lines = code.splitlines(keepends=True)
    result = []
    for node in tree.body:
        flow = _Flow(modules=modules, functions=functions)
        flow.visit(node)
        provided = star_names(flow.star) if flow.star else None
        if provided is not None:  # a star import we can read binds what it exports
            flow.defines |= provided
            flow.star = None
        shared = any(other is not node and other.lineno <= (node.end_lineno or 0)
                     and (other.end_lineno or 0) >= node.lineno for other in tree.body)
        result.append(Statement(
            cell=cell, source=_source(code, lines, node, shared),
            defines=frozenset(flow.defines), maybe_defines=frozenset(flow.maybe - flow.defines),
            mutates=frozenset(flow.mutates), uses=frozenset(flow.uses - BUILTIN_NAMES),
            deferred=frozenset(flow.deferred - BUILTIN_NAMES), writes=frozenset(flow.writes),
            reads=frozenset(_path_literals(node)), star_import=flow.star,
            global_writes=frozenset(flow.global_writes), calls=frozenset(flow.calls),
            deletes=frozenset(flow.deletes)))
    return result
