"""What a learner's program contains, read with `ast`: the ground truth the model's prose is held to.

`census(code)` lists the constructs (loops, nesting, functions, recursion, comprehensions...), the
names, the literals and, line by line, what each line does (reads input, prints, loops, defines a
function...). The prompt states it (`analysis.feedback`), and the sentence verifier
(`analysis.verifier`) drops every model sentence that claims something this census lacks.

A program Python cannot parse still gets a census, from its tokens and keywords: less exact, but
a claim such as "it defines a function" can still be checked against a source with no `def`.
"""

from __future__ import annotations

import ast
import builtins
import functools
import io
import keyword
import re
import tokenize
from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum


class Construct(StrEnum):
    """Constructs a sentence can claim; one enum for the census, the prompt and the verifier."""

    FOR = "for loop"
    WHILE = "while loop"
    LOOP = "loop"  # for or while
    NESTED_LOOPS = "nested loops"
    FUNCTION = "function"
    RECURSION = "recursion"
    RETURN = "return"
    COMPREHENSION = "comprehension"
    CLASS = "class"
    DICT = "dictionary"
    LIST = "list"
    LAMBDA = "lambda"
    IMPORT = "import"
    TRY = "try/except"
    IF = "if"
    ELSE = "else"
    BREAK = "break"
    CONTINUE = "continue"
    INPUT = "input()"
    PRINT = "print()"
    STRING_REPEAT = "string repetition"
    JOIN = "join()"
    FSTRING = "f-string"
    ASSIGN = "assignment"
    INCREMENT = "increment"
    PADDING = "padding method"


_PADDING = frozenset({"center", "ljust", "rjust", "zfill"})


@dataclass(frozen=True)
class ProgramCensus:
    source: str
    parsed: bool
    constructs: frozenset[Construct]
    names: frozenset[str]  # variables, functions, parameters, attributes
    functions: frozenset[str]  # names defined with def
    numbers: frozenset[int]  # integer literals
    strings: frozenset[str]  # string literal values
    line_count: int
    # Line number -> constructs on that line (a compound statement's header line gets its own).
    lines: dict[int, frozenset[Construct]] = field(default_factory=dict)

    @property
    def loops(self) -> bool:
        return Construct.LOOP in self.constructs


@functools.lru_cache(maxsize=256)
def census(code: str) -> ProgramCensus:
    """Cached: the rule-based text, the prompt and the verifier each ask about the same program."""
    lines = code.splitlines()
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return _census_from_tokens(code, len(lines))
    visitor = _Visitor()
    visitor.visit(tree)
    constructs = set().union(*visitor.lines.values()) if visitor.lines else set()
    if visitor.max_loop_depth >= 2:
        constructs.add(Construct.NESTED_LOOPS)
    if visitor.recursive:
        constructs.add(Construct.RECURSION)
    return ProgramCensus(
        source=code,
        parsed=True,
        constructs=frozenset(constructs),
        names=frozenset(visitor.names),
        functions=frozenset(visitor.functions),
        numbers=frozenset(visitor.numbers),
        strings=frozenset(visitor.strings),
        line_count=len(lines),
        lines={line: frozenset(found) for line, found in visitor.lines.items()},
    )


class _Visitor(ast.NodeVisitor):
    def __init__(self) -> None:
        self.lines: dict[int, set[Construct]] = defaultdict(set)
        self.names: set[str] = set()
        self.functions: set[str] = set()
        self.numbers: set[int] = set()
        self.strings: set[str] = set()
        self.max_loop_depth = 0
        self.recursive = False
        self._loop_depth = 0
        self._function_stack: list[str] = []

    def _mark(self, node: ast.AST, *found: Construct) -> None:
        line = getattr(node, "lineno", None)
        if line is not None:
            self.lines[line].update(found)

    def _loop(self, node: ast.For | ast.AsyncFor | ast.While, kind: Construct) -> None:
        self._mark(node, kind, Construct.LOOP)
        self._loop_depth += 1
        self.max_loop_depth = max(self.max_loop_depth, self._loop_depth)
        self.generic_visit(node)
        self._loop_depth -= 1

    def visit_For(self, node: ast.For) -> None:
        self._loop(node, Construct.FOR)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> None:
        self._loop(node, Construct.FOR)

    def visit_While(self, node: ast.While) -> None:
        self._loop(node, Construct.WHILE)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp) -> None:
        self._mark(node, Construct.COMPREHENSION, Construct.LOOP)
        if isinstance(node, ast.ListComp):
            self._mark(node, Construct.LIST)
        if isinstance(node, ast.DictComp):
            self._mark(node, Construct.DICT)
        # A comprehension's for clauses are loops for nesting, as in judge.metrics.
        depth = len(node.generators)
        self.max_loop_depth = max(self.max_loop_depth, self._loop_depth + depth)
        self._loop_depth += depth
        self.generic_visit(node)
        self._loop_depth -= depth

    visit_ListComp = _comprehension
    visit_SetComp = _comprehension
    visit_DictComp = _comprehension
    visit_GeneratorExp = _comprehension

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._mark(node, Construct.FUNCTION)
        self.functions.add(node.name)
        self.names.add(node.name)
        self.names.update(a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs))
        self._function_stack.append(node.name)
        depth, self._loop_depth = self._loop_depth, 0  # a function body starts its own nesting
        self.generic_visit(node)
        self._loop_depth = depth
        self._function_stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._mark(node, Construct.LAMBDA)  # "a function" is a def: a lambda is named as such
        self.generic_visit(node)

    def visit_Return(self, node: ast.Return) -> None:
        self._mark(node, Construct.RETURN)
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._mark(node, Construct.CLASS)
        self.names.add(node.name)
        self.generic_visit(node)

    def visit_If(self, node: ast.If) -> None:
        self._mark(node, Construct.IF)
        if node.orelse:
            self._mark(node.orelse[0], Construct.ELSE)
        self.generic_visit(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._mark(node, Construct.IF, Construct.ELSE)
        self.generic_visit(node)

    def visit_Match(self, node: ast.Match) -> None:
        self._mark(node, Construct.IF)
        self.generic_visit(node)

    def visit_Try(self, node: ast.Try | ast.TryStar) -> None:
        self._mark(node, Construct.TRY)
        self.generic_visit(node)

    visit_TryStar = visit_Try

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        self._mark(node, Construct.IMPORT)
        self.generic_visit(node)

    visit_ImportFrom = visit_Import

    def visit_Break(self, node: ast.Break) -> None:
        self._mark(node, Construct.BREAK)

    def visit_Continue(self, node: ast.Continue) -> None:
        self._mark(node, Construct.CONTINUE)

    def visit_Dict(self, node: ast.Dict) -> None:
        self._mark(node, Construct.DICT)
        self.generic_visit(node)

    def visit_List(self, node: ast.List) -> None:
        self._mark(node, Construct.LIST)
        self.generic_visit(node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        self._mark(node, Construct.FSTRING)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign | ast.AnnAssign) -> None:
        self._mark(node, Construct.ASSIGN)
        self.generic_visit(node)

    visit_AnnAssign = visit_Assign

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._mark(node, Construct.ASSIGN, Construct.INCREMENT)
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Mult) and any(_is_text(side) for side in (node.left, node.right)):
            self._mark(node, Construct.STRING_REPEAT)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name):
            if func.id == "input":
                self._mark(node, Construct.INPUT)
            elif func.id == "print":
                self._mark(node, Construct.PRINT)
            elif func.id in ("list", "sorted"):
                self._mark(node, Construct.LIST)
            elif func.id == "dict":
                self._mark(node, Construct.DICT)
            elif self._function_stack and func.id == self._function_stack[-1]:
                self.recursive = True
        elif isinstance(func, ast.Attribute):
            if func.attr == "join":
                self._mark(node, Construct.JOIN)
            elif func.attr in _PADDING:
                self._mark(node, Construct.PADDING)
            elif func.attr in ("append", "split"):
                self._mark(node, Construct.LIST)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        self.names.add(node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.names.add(node.attr)
        self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> None:
        self.names.add(node.arg)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, bool):
            return
        if isinstance(node.value, int):
            self.numbers.add(node.value)
        elif isinstance(node.value, str):
            self.strings.add(node.value)


def _is_text(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)) or isinstance(node, ast.JoinedStr)


# Keyword -> construct, for programs that do not parse.
_KEYWORDS: dict[str, tuple[Construct, ...]] = {
    "for": (Construct.FOR, Construct.LOOP),
    "while": (Construct.WHILE, Construct.LOOP),
    "def": (Construct.FUNCTION,),
    "lambda": (Construct.LAMBDA,),
    "return": (Construct.RETURN,),
    "class": (Construct.CLASS,),
    "import": (Construct.IMPORT,),
    "try": (Construct.TRY,),
    "if": (Construct.IF,),
    "elif": (Construct.IF,),
    "else": (Construct.ELSE,),
    "break": (Construct.BREAK,),
    "continue": (Construct.CONTINUE,),
    "input": (Construct.INPUT,),
    "print": (Construct.PRINT,),
    "join": (Construct.JOIN,),
}


def _census_from_tokens(code: str, line_count: int) -> ProgramCensus:
    lines: dict[int, set[Construct]] = defaultdict(set)
    names: set[str] = set()
    numbers: set[int] = set()
    strings: set[str] = set()
    indents: list[int] = []
    for number, line in enumerate(code.splitlines(), start=1):
        for word in re.findall(r"[A-Za-z_]\w*", line):
            lines[number].update(_KEYWORDS.get(word, ()))
            if not keyword.iskeyword(word):
                names.add(word)
        numbers.update(int(d) for d in re.findall(r"(?<![\w.])\d+(?![\w.])", line))
        if "'" in line or '"' in line:
            strings.update(a or b for a, b in re.findall(r"'([^']*)'|\"([^\"]*)\"", line))
        if re.search(r"\b(for|while)\b", line):
            indents.append(len(line) - len(line.lstrip()))
    constructs: set[Construct] = set().union(*lines.values()) if lines else set()
    if len(indents) >= 2 and len(set(indents)) >= 2:
        constructs.add(Construct.NESTED_LOOPS)
    with _quiet():
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type == tokenize.STRING and token.string[:1] in ("f", "F"):
                constructs.add(Construct.FSTRING)
    return ProgramCensus(
        source=code,
        parsed=False,
        constructs=frozenset(constructs),
        names=frozenset(names),
        functions=frozenset(re.findall(r"\bdef\s+([A-Za-z_]\w*)", code)),
        numbers=frozenset(numbers),
        strings=frozenset(strings),
        line_count=line_count,
        lines={line: frozenset(found) for line, found in lines.items()},
    )


class _quiet:
    """Tokenizing a broken program stops at the first error: what came before still counts."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], (tokenize.TokenError, SyntaxError))  # type: ignore[arg-type]


BUILTIN_NAMES = frozenset(name for name in dir(builtins) if not name.startswith("_"))
