"""Static complexity metrics of a learner's program. Never runs the code.

Definitions (what each ``CodeMetrics`` field counts):

* ``cyclomatic``: McCabe complexity of the whole program from radon: 1 + decision points (if/elif,
  conditional expressions, loops, boolean operators, except clauses, comprehension filters...),
  module-level code included, each function adding its own decision points.
* ``max_nesting_depth``: deepest syntactic nesting of loops (``for``, ``while`` and comprehension
  ``for`` clauses); ``if`` blocks do not add depth.
* ``loops``: ``for`` + ``while`` statements + comprehension ``for`` clauses.
* ``conditions``: ``if``/``elif`` branches + conditional expressions (``a if c else b``) +
  comprehension ``if`` filters + ``match`` cases. The test of a ``while`` is not counted: the
  ``while`` already counts as a loop.
* ``big_o``: estimated running time in the pattern size n. Each loop whose bounds depend on a
  variable contributes a factor n (loops over constant ranges or literals contribute nothing); a
  string/list repetition (``'*' * i``) or padding call (``center``/``ljust``/``rjust``) with a
  variable width is an extra factor n of output work; nested factors multiply (powers add). A
  call to one of the program's functions or methods costs what its body costs (a class call, its
  ``__init__``); a self-recursive function adds a factor n for its depth (``recursive`` is set),
  two or more self-calls on one path make it ``O(2^n)``.
* ``lines``: source lines of code (radon's SLOC: not blank, not only a comment).
* ``score``: 0..10, higher = more complex:
  0.4 * (cyclomatic - 1) + 1.0 * max_nesting_depth + 0.75 * (power of n) + lines / 20, capped at 10.
  ``level``: "simple" below 3.5, "moderate" below 6.5, else "complex". A nested-loop triangle
  scores ~4.5 (moderate), a hollow square with its conditions ~6.4 (moderate), triple nesting
  ~6.7 (complex), a few straight prints ~0.2 (simple).

On a syntax error every number is zero, ``big_o`` is "O(1)" and ``syntax_error`` holds the message.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass

from radon.raw import analyze as raw_analyze
from radon.visitors import ComplexityVisitor

EXPONENTIAL = 99  # degree marker for O(2^n)
_LOOP_NODES = (ast.For, ast.AsyncFor, ast.While)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


@dataclass(frozen=True)
class CodeMetrics:
    score: float
    level: str
    cyclomatic: int
    max_nesting_depth: int
    loops: int
    conditions: int
    big_o: str
    lines: int
    syntax_error: str | None
    recursive: bool = False


def analyze_code(code: str) -> CodeMetrics:
    """Metrics for ``code``; a syntax error is reported in the result, never raised."""
    try:
        tree = ast.parse(code)
        compile(tree, "main.py", "exec", dont_inherit=True)  # errors ast.parse lets through
    except SyntaxError as exc:
        return _empty(_syntax_message(exc))
    except (ValueError, RecursionError, MemoryError) as exc:
        return _empty(f"{type(exc).__name__}: {exc}")
    try:
        counts = _Counter()
        counts.visit(tree)
        cost = _Cost(tree)
        degree = cost.degree(tree.body)
        cyclomatic = _cyclomatic(tree)
    except RecursionError:
        # Only adversarial code nests this deep (e.g. a 400-term chain of `+`); Python compiles it.
        return _empty("RecursionError: program nested too deeply to analyse")
    lines = _sloc(code)
    score = _score(cyclomatic, counts.max_depth, degree, lines)
    return CodeMetrics(
        score=score,
        level="simple" if score < 3.5 else "moderate" if score < 6.5 else "complex",
        cyclomatic=cyclomatic,
        max_nesting_depth=counts.max_depth,
        loops=counts.loops,
        conditions=counts.conditions,
        big_o=big_o_label(degree),
        lines=lines,
        syntax_error=None,
        recursive=bool(cost.recursive),
    )


def big_o_label(degree: int) -> str:
    if degree >= EXPONENTIAL:
        return "O(2^n)"
    return {0: "O(1)", 1: "O(n)"}.get(degree, f"O(n^{degree})")


def _empty(message: str) -> CodeMetrics:
    return CodeMetrics(0.0, "simple", 0, 0, 0, 0, "O(1)", 0, message)


def _syntax_message(exc: SyntaxError) -> str:
    where = f" on line {exc.lineno}, column {exc.offset}" if exc.lineno else ""
    return f"{type(exc).__name__}{where}: {exc.msg}"


def _cyclomatic(tree: ast.Module) -> int:
    # radon's cc_visit reports functions and classes only; the visitor's total also covers the
    # module-level code, where most pattern programs live.
    return int(ComplexityVisitor.from_ast(tree).total_complexity)


def _sloc(code: str) -> int:
    try:
        return int(raw_analyze(code).sloc)
    except Exception:  # radon's tokenizer is stricter than the parser on a few inputs
        return sum(1 for line in code.splitlines() if line.strip() and not line.strip().startswith("#"))


def _score(cyclomatic: int, depth: int, degree: int, lines: int) -> float:
    power = 4 if degree >= EXPONENTIAL else degree
    raw = 0.4 * max(cyclomatic - 1, 0) + 1.0 * depth + 0.75 * power + lines / 20
    return round(min(raw, 10.0), 1)


class _Counter(ast.NodeVisitor):
    """Loops, conditions and loop nesting depth."""

    def __init__(self) -> None:
        self.loops = 0
        self.conditions = 0
        self.depth = 0
        self.max_depth = 0

    def _nested(self, node: ast.AST, levels: int) -> None:
        self.loops += levels
        self.depth += levels
        self.max_depth = max(self.max_depth, self.depth)
        self.generic_visit(node)
        self.depth -= levels

    def visit_For(self, node: ast.For) -> None:
        self._nested(node, 1)

    visit_AsyncFor = visit_For  # type: ignore[assignment]

    def visit_While(self, node: ast.While) -> None:
        self._nested(node, 1)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp) -> None:
        self.conditions += sum(len(gen.ifs) for gen in node.generators)
        self._nested(node, len(node.generators))

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension  # type: ignore[assignment]

    def visit_If(self, node: ast.If) -> None:
        self.conditions += 1  # an elif is an If inside orelse: counted when visited
        self.generic_visit(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self.conditions += 1
        self.generic_visit(node)

    def visit_Match(self, node: ast.Match) -> None:
        self.conditions += len(node.cases)
        self.generic_visit(node)


class _Cost:
    """Power of n of the running time, by the rules in the module docstring."""

    def __init__(self, tree: ast.Module) -> None:
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {
            node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        self.classes = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
        self._memo: dict[str, int] = {}
        self._active: set[str] = set()
        self.recursive: set[str] = set()

    def degree(self, nodes: Iterable[ast.AST]) -> int:
        best = 0
        for child in nodes:  # a loop, not max(genexpr): one stack frame less per AST level
            best = max(best, self.node(child))
        return best

    def node(self, node: ast.AST) -> int:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            return 0  # costs count where the function is called
        if isinstance(node, ast.For | ast.AsyncFor):
            body = self.degree([*node.body, *node.orelse])
            return max(self.node(node.iter), _variable(node.iter) + body)
        if isinstance(node, ast.While):
            endless_const = isinstance(node.test, ast.Constant) and not node.test.value
            return max(self.node(node.test), (0 if endless_const else 1) + self.degree([*node.body, *node.orelse]))
        if isinstance(node, _COMPREHENSIONS):
            return self._comprehension(node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and _is_repetition(node):
            return 1 + max(self.node(node.left), self.node(node.right))
        if isinstance(node, ast.Call):
            return max(self._call(node), self.degree(ast.iter_child_nodes(node)))
        return self.degree(ast.iter_child_nodes(node))

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp) -> int:
        factors = sum(_variable(gen.iter) for gen in node.generators)
        elements = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        inner = self.degree([*elements, *(cond for gen in node.generators for cond in gen.ifs)])
        return max(self.degree(gen.iter for gen in node.generators), factors + inner)

    def _call(self, node: ast.Call) -> int:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _PADDING_METHODS:
            return 1 if any(_variable(arg) for arg in node.args) else 0
        if isinstance(func, ast.Name) and func.id in self.functions:
            return self._function(func.id)
        if isinstance(func, ast.Name) and func.id in self.classes:  # Triangle(n): its __init__ runs
            return self._function("__init__") if "__init__" in self.functions else 0
        if isinstance(func, ast.Attribute) and func.attr in self.functions:  # a method: obj.show()
            return self._function(func.attr)
        return 0

    def _function(self, name: str) -> int:
        if name in self._memo:
            return self._memo[name]
        if name in self._active:
            return 0  # a recursive call: accounted for once, as depth, below
        self._active.add(name)
        definition = self.functions[name]
        body = self.degree(definition.body)
        self_calls = _max_calls_on_a_path(definition.body, name)
        if self_calls:
            self.recursive.add(name)
            body = EXPONENTIAL if self_calls >= 2 else body + 1
        self._active.discard(name)
        self._memo[name] = body
        return body


def _variable(node: ast.AST) -> int:
    """1 when iterating/repeating ``node`` scales with the input (it involves a name), else 0."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        return int(any(_mentions_name(arg) for arg in node.args))
    return int(_mentions_name(node))


def _mentions_name(node: ast.AST) -> bool:
    return any(isinstance(sub, ast.Name) for sub in ast.walk(node))


def _is_stringy(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str | bytes)
    if isinstance(node, ast.JoinedStr | ast.List | ast.Tuple):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
        return _is_stringy(node.left) or _is_stringy(node.right)
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("str", "chr")


def _is_repetition(node: ast.BinOp) -> bool:
    """``'*' * i`` or ``[x] * n`` with a variable count (``2 * i`` is arithmetic: not counted)."""
    left, right = node.left, node.right
    return (_is_stringy(left) and _mentions_name(right)) or (_is_stringy(right) and _mentions_name(left))


def _max_calls_on_a_path(body: list[ast.stmt], name: str) -> int:
    """Most self-calls executed by one pass through ``body`` (if/else branches are alternatives)."""
    total = 0
    for stmt in body:
        if isinstance(stmt, ast.If):
            branch = max(_max_calls_on_a_path(stmt.body, name), _max_calls_on_a_path(stmt.orelse, name))
            total += _calls_in(stmt.test, name) + branch
        elif not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            total += _calls_in(stmt, name)
    return total


def _calls_in(node: ast.AST, name: str) -> int:
    return sum(
        1 for sub in ast.walk(node)
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == name
    )
