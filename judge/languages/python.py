"""Python: compiled by the server to find syntax errors, run inside the zygote's own interpreter
(a fork, no exec), measured with radon and ``ast``, censused with ``ast``.

The rules each part follows are the same for every language: judge/judge.py (judging),
judge/metrics.py (metrics), analysis/program.py (census).
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import re
import tokenize
from collections import defaultdict
from collections.abc import Iterable

from radon.raw import analyze as raw_analyze
from radon.visitors import ComplexityVisitor

from core.domain import Language
from sandbox import RunResult

from .base import (
    EXPONENTIAL,
    CodeMetrics,
    Construct,
    Failure,
    Idioms,
    InputScan,
    LanguageSupport,
    ProgramCensus,
    metrics_of,
    no_metrics,
)

SOURCE_FILE = "main.py"
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})
BUILTIN_NAMES = frozenset(name for name in dir(builtins) if not name.startswith("_"))


# --------------------------------------------------------------------------- judging


def syntax_error_message(exc: SyntaxError) -> str:
    """E.g. "SyntaxError on line 3, column 5: invalid syntax" (no file name: it is ours)."""
    name = type(exc).__name__
    if exc.lineno is None:
        return f"{name}: {exc.msg}"
    where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
    return f"{name} on {where}: {exc.msg}"


def _compile_error(code: str) -> str | None:
    try:
        compile(code, SOURCE_FILE, "exec", dont_inherit=True)
    except SyntaxError as exc:  # IndentationError and TabError included
        return syntax_error_message(exc)
    except ValueError as exc:  # e.g. "source code string cannot contain null bytes"
        return f"SyntaxError: {exc}"
    return None


def _node_reads(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id in ("input", "stdin")  # called, aliased (read = input) or imported stdin
    if isinstance(node, ast.Attribute):
        return node.attr in ("stdin", "__stdin__")
    if isinstance(node, ast.ImportFrom):
        return node.module == "fileinput" or any(alias.name == "stdin" for alias in node.names)
    if isinstance(node, ast.Import):
        return any(alias.name == "fileinput" for alias in node.names)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open" and node.args:
        first = node.args[0]
        return isinstance(first, ast.Constant) and first.value in (0, "/dev/stdin")
    return False


def _node_prompts(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "input"
            and bool(node.args))


def _scan_input(code: str) -> InputScan:
    """Static look for reads of standard input (iterative walk: deep programs cannot overflow it)."""
    try:
        nodes = list(ast.walk(ast.parse(code)))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return InputScan()  # in doubt: treated as not reading input, i.e. judged at the default size
    return InputScan(reads=any(map(_node_reads, nodes)), prompts=any(map(_node_prompts, nodes)))


_TB_LINE_RE = re.compile(r'File "' + re.escape(SOURCE_FILE) + r'", line (\d+)')


def _exception_line(stderr: str) -> tuple[str | None, int | None]:
    """The exception text of the last traceback in ``stderr`` and the learner's line it came from."""
    marker = stderr.rfind("Traceback (most recent call last):")
    if marker < 0:
        return None, None
    block = stderr[marker:].splitlines()[1:]
    line_numbers = [int(m.group(1)) for m in map(_TB_LINE_RE.search, block) if m]
    message = next((line for line in block if line and not line[0].isspace()), None)
    return message, (line_numbers[-1] if line_numbers else None)


def _failure(result: RunResult) -> Failure:
    message, line = _exception_line(result.stderr)
    if message is not None and message.startswith("MemoryError"):
        return Failure("memory", message)
    if message is not None and "[Errno 27]" in message:
        return Failure("file-size", message)
    if message is None:
        return Failure("exit")
    return Failure("exception", message, line)


# --------------------------------------------------------------------------- metrics


def _metrics(code: str) -> CodeMetrics:
    try:
        tree = ast.parse(code)
        compile(tree, SOURCE_FILE, "exec", dont_inherit=True)  # errors ast.parse lets through
    except SyntaxError as exc:
        where = f" on line {exc.lineno}, column {exc.offset}" if exc.lineno else ""
        return no_metrics(f"{type(exc).__name__}{where}: {exc.msg}")
    except (ValueError, RecursionError, MemoryError) as exc:
        return no_metrics(f"{type(exc).__name__}: {exc}")
    try:
        counts = _Counter()
        counts.visit(tree)
        cost = _Cost(tree)
        degree = cost.degree(tree.body)
        # radon's cc_visit reports functions and classes only; the visitor's total also covers
        # the module-level code, where most pattern programs live.
        cyclomatic = int(ComplexityVisitor.from_ast(tree).total_complexity)
    except RecursionError:
        # Only adversarial code nests this deep (e.g. a 400-term chain of `+`); Python compiles it.
        return no_metrics("RecursionError: program nested too deeply to analyse")
    return metrics_of(cyclomatic=cyclomatic, depth=counts.max_depth, loops=counts.loops,
                      conditions=counts.conditions, degree=degree, lines=_sloc(code),
                      recursive=bool(cost.recursive))


def _sloc(code: str) -> int:
    try:
        return int(raw_analyze(code).sloc)
    except Exception:  # radon's tokenizer is stricter than the parser on a few inputs
        return sum(1 for line in code.splitlines() if line.strip() and not line.strip().startswith("#"))


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


# --------------------------------------------------------------------------- census


def _census(code: str) -> ProgramCensus:
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
            elif func.attr in _PADDING_METHODS:
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


# --------------------------------------------------------------------------- idioms

IDIOMS = Idioms(
    name="Python",
    read_size="n = int(input())",
    read_call="input()",
    print_call="print()",
    repeat_name="String multiplication",
    repeat="'*' * i",
    pad_and_repeat="' ' * (n - i) + '*' * i",
    pyramid_row="' ' * (n - i) + '*' * (2 * i - 1)",
    spaces_for_row="' ' * (n - i)",
    short_row_loop="range(1, n) stops at n - 1; use range(1, n + 1) to include row n.",
    exact_row_loops="range(n) or range(1, n + 1)",
    inner_bounds="range(i) gives i steps, range(1, i) gives i - 1",
    count_down="range(n, 0, -1)",
    spaced_join="print '* ' instead of '*', or use ' '.join(...)",
    no_newline="use print(..., end='') or build the row with '*' * k",
    exception_hints={
        "NameError": "A NameError means a name is used before it is defined or is misspelled: check the "
        "spelling and that the variable gets a value before this line.",
        "UnboundLocalError": "An UnboundLocalError means a variable is read before it is given a value inside "
        "the function: assign it first.",
        "TypeError": "A TypeError often comes from mixing text and numbers, such as '*' + 3 or range('5'): "
        "convert with int() or str() where needed.",
        "ValueError": "A ValueError often comes from int() getting something that is not a whole number: read "
        "the size with n = int(input()) and nothing else on that line.",
        "IndexError": "An IndexError means an index went past the end of a list or string: check where the "
        "index starts and stops.",
        "ZeroDivisionError": "A ZeroDivisionError means something was divided by zero: check the value of the "
        "divisor, for example when the size or row is 0.",
        "EOFError": "An EOFError means the program asked for more input than it was given: the judge gives "
        "one number, the size, so call input() once.",
        "RecursionError": "A RecursionError means a function kept calling itself: make sure every call moves "
        "towards a case that stops.",
        "AttributeError": "An AttributeError means a value has no such method or field: check the name and "
        "the type of the value before the dot.",
        "KeyError": "A KeyError means a dictionary has no such key: check the key or use .get().",
        "ModuleNotFoundError": "Only the standard library is available, and pattern programs do not need "
        "imports: remove the import.",
        "ImportError": "Only the standard library is available, and pattern programs do not need imports: "
        "remove the import.",
        "MemoryError": "A MemoryError means the program built something huge: check loops that keep adding "
        "to a string or list.",
    },
    syntax_hints=("Python stops at the first syntax error, so fix that one and run again.",),
    syntax_usual_causes="a missing ':' after for/if, an unclosed bracket or quote",
    timeout_input_hint="The program gets one number as input; reading input() more than once makes it wait.",
    rejected_hint="Pattern programs only need print, loops and input(): remove imports and file or system access.",
    prompt_call="input()",
    prompt_hint="input('Enter n: ') prints its prompt, which the judge sees as output: call input() without a "
    "prompt.",
    builtin_names=BUILTIN_NAMES,
)


class Python(LanguageSupport):
    language = Language.PYTHON
    runtime = "python"
    source_file = SOURCE_FILE
    idioms = IDIOMS
    model_prose = True  # the verifier is measured on Python (tests/e2e/test_feedback_truth.py)

    def syntax_error(self, code: str) -> str | None:
        return _compile_error(code)

    def scan_input(self, code: str) -> InputScan:
        return _scan_input(code)

    def failure(self, result: RunResult) -> Failure:
        return _failure(result)

    def metrics(self, code: str) -> CodeMetrics:
        return _metrics(code)

    def census(self, code: str) -> ProgramCensus:
        return _census(code)
