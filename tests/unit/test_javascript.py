"""JavaScript's language module: metrics from tree-sitter, the census, Node's error output, and
feedback that speaks JavaScript (never Python's idioms)."""

from __future__ import annotations

import dataclasses
import re
import textwrap

import pytest

from analysis.feedback import Facts, rule_based_feedback, suggestions_and_hints
from analysis.program import Construct, census
from core.domain import AnalysisKind, Language
from judge.languages import support
from judge.metrics import CodeMetrics, analyze_code
from sandbox import RunResult

JS = Language.JAVASCRIPT
READ = "const n = parseInt(require('fs').readFileSync(0, 'utf8'));\n"


def metrics(code: str) -> CodeMetrics:
    return analyze_code(textwrap.dedent(code).lstrip("\n"), JS)


# --------------------------------------------------------------------------- metrics


def test_nested_for_loops_are_quadratic() -> None:
    m = metrics(READ + """
        for (let i = 1; i <= n; i++) {
          let row = '';
          for (let j = 0; j < i; j++) row += '*';
          console.log(row);
        }
    """)
    assert (m.big_o, m.max_nesting_depth, m.loops, m.conditions) == ("O(n^2)", 2, 2, 0)
    assert m.cyclomatic == 3 and m.syntax_error is None and m.lines == 6


def test_triple_nesting_is_cubic_and_complex() -> None:
    m = metrics(READ + """
        for (let i = 0; i < n; i++)
          for (let j = 0; j < n; j++)
            for (let k = 0; k < n; k++) console.log(i, j, k);
    """)
    assert (m.big_o, m.max_nesting_depth, m.loops, m.level) == ("O(n^3)", 3, 3, "complex")


def test_repeat_and_padstart_with_a_variable_count_are_output_work() -> None:
    assert metrics(READ + "for (let i = 1; i <= n; i++) console.log('*'.repeat(i));").big_o == "O(n^2)"
    assert metrics(READ + "for (let i = 1; i <= n; i++) console.log('*'.padStart(i));").big_o == "O(n^2)"
    assert metrics("console.log('*'.repeat(4));").big_o == "O(1)"
    assert metrics(READ + "console.log(new Array(n + 1).join('*'));").big_o == "O(n)"


def test_a_loop_over_constants_costs_nothing_its_own_counter_is_not_a_bound() -> None:
    m = metrics("for (let i = 0; i < 5; i++) console.log('*****');")
    assert (m.big_o, m.loops) == ("O(1)", 1)
    assert metrics("for (const c of ['a', 'b']) console.log(c);").big_o == "O(1)"
    assert metrics("while (true) {}").big_o == "O(n)"


def test_array_iteration_callbacks_are_loops() -> None:
    m = metrics(READ + """
        Array.from({ length: n }, (_, i) => i).forEach((i) => {
          console.log([...Array(i + 1)].map(() => '*').join(''));
        });
    """)
    # Array.from's callback and forEach's are siblings; the map runs inside forEach's: depth 2.
    assert m.loops == 3 and m.max_nesting_depth == 2


def test_conditions_and_cyclomatic_count_what_eslint_counts() -> None:
    m = metrics(READ + """
        for (let i = 0; i < n; i++) {
          let row = '';
          for (let j = 0; j < n; j++) {
            if (i === 0 || i === n - 1 || j === 0 || j === n - 1) row += '*';
            else row += ' ';
          }
          console.log(i % 2 ? row : row.trim());
        }
    """)
    # 1 + 2 for + 1 if + 3 || + 1 ?: = 8
    assert (m.cyclomatic, m.conditions) == (8, 2)


def test_recursion_adds_depth_and_two_calls_are_exponential() -> None:
    m = metrics(READ + """
        function draw(i) {
          if (i > n) return;
          console.log('*'.repeat(i));
          draw(i + 1);
        }
        draw(1);
    """)
    assert m.recursive and m.big_o == "O(n^2)"
    fib = metrics("const f = (k) => (k < 2 ? k : f(k - 1) + f(k - 2));\nconsole.log(f(20));")
    assert fib.recursive and fib.big_o == "O(2^n)"
    branches = metrics("function g(k) { if (k > 0) { return g(k - 1); } else { return g(k - 2); } }\ng(3);")
    assert branches.big_o == "O(n)"  # one call on each path: linear, not exponential


def test_a_syntax_error_gives_empty_metrics_with_where_it_is() -> None:
    m = metrics("for (let i = 1; i <= n; i++ {\n  console.log(1)\n}")
    assert m.syntax_error == "SyntaxError on line 1, column 29: Unexpected token '{'"
    assert (m.loops, m.cyclomatic, m.big_o) == (0, 0, "O(1)")


def test_deep_nesting_is_reported_not_raised() -> None:
    code = "let x = " + "(" * 3000 + "1" + ")" * 3000 + ";"
    assert analyze_code(code, JS).syntax_error in (None, "RecursionError: program nested too deeply to analyse")


# --------------------------------------------------------------------------- census


def test_census_reads_constructs_line_by_line() -> None:
    program = census(READ + textwrap.dedent("""
        function row(k) {
          return '*'.repeat(k).padStart(n);
        }
        for (let i = 1; i <= n; i++) {
          console.log(`${row(i)}`);
        }
    """).lstrip("\n"), JS)
    assert program.parsed and program.functions == {"row"}
    assert {Construct.FUNCTION, Construct.FOR, Construct.LOOP, Construct.INPUT, Construct.PRINT,
            Construct.STRING_REPEAT, Construct.PADDING, Construct.FSTRING, Construct.RETURN} <= program.constructs
    assert Construct.WHILE not in program.constructs and Construct.RECURSION not in program.constructs
    assert Construct.INPUT in program.lines[1] and Construct.FOR in program.lines[5]
    assert Construct.PRINT in program.lines[6]
    assert {"n", "row", "k", "i"} <= program.names and 1 in program.numbers and "*" in program.strings


def test_census_finds_recursion_and_anonymous_callbacks() -> None:
    recursive = census("const draw = (i) => { if (i > 0) { console.log('*'); draw(i - 1); } };\ndraw(3);", JS)
    assert Construct.RECURSION in recursive.constructs and recursive.functions == {"draw"}
    callbacks = census("[1, 2].forEach((x) => console.log(x));", JS)
    assert Construct.LAMBDA in callbacks.constructs and Construct.FUNCTION not in callbacks.constructs
    assert Construct.LIST in callbacks.constructs


def test_census_of_a_broken_program_says_it_did_not_parse() -> None:
    program = census("for (let i = 0; i < 3; i++ {\n  console.log(i)\n}", JS)
    assert not program.parsed and Construct.FOR in program.constructs


# --------------------------------------------------------------------------- Node's error output


def run(stderr: str, exit_code: int | None = 1, sig: int | None = None) -> RunResult:
    return RunResult(stdout="", stderr=stderr, exit_code=exit_code, signal=sig, timed_out=False,
                     output_truncated=False, duration_ms=10)


def test_uncaught_error_message_and_the_learners_line() -> None:
    stderr = ("/tmp/cpm-run-3/main.js:4\n  if (i === 3) null.size;\n                    ^\n\n"
              "TypeError: Cannot read properties of null (reading 'size')\n"
              "    at Object.<anonymous> (/tmp/cpm-run-3/main.js:4:21)\n"
              "    at Module._compile (node:internal/modules/cjs/loader:1521:14)\n\nNode.js v20.20.2\n")
    failure = support(JS).failure(run(stderr))
    assert failure.text() == "TypeError: Cannot read properties of null (reading 'size') (line 4)"


def test_syntax_errors_at_load_time_and_at_the_end_of_input() -> None:
    load = ("/tmp/cpm-run-1/main.js:2\nfor (let i = 1; i <= n; i++ {\n                            ^\n\n"
            "SyntaxError: Unexpected token '{'\n    at wrapSafe (node:internal/modules/cjs/loader:1464:18)\n")
    assert support(JS).failure(run(load)).text() == "SyntaxError on line 2, column 29: Unexpected token '{'"
    end = "/tmp/cpm-run-1/main.js:4\n\n\n\nSyntaxError: Unexpected end of input\n    at wrapSafe (node:internal)\n"
    assert support(JS).failure(run(end)).text() == "SyntaxError on line 4: Unexpected end of input"


def test_json_parse_is_an_exception_not_a_syntax_verdict() -> None:
    stderr = ("<anonymous_script>:1\nx\n^\n\nSyntaxError: Unexpected token 'x', \"x\" is not valid JSON\n"
              "    at JSON.parse (<anonymous>)\n    at Object.<anonymous> (/tmp/cpm-run-1/main.js:1:6)\n")
    failure = support(JS).failure(run(stderr))
    assert failure.kind == "exception" and failure.line == 1


def test_thrown_values_memory_and_file_size() -> None:
    thrown = "/tmp/cpm-run-1/main.js:1\nthrow 'oops'\n^\noops\n(Use `node --trace-uncaught ...` to show where)\n"
    assert support(JS).failure(run(thrown)).text() == "Uncaught oops (line 1)"
    custom = "/tmp/x/main.js:1\nthrow new E('c')\n^\n\nE [Error]: c\n    at Object.<anonymous> (/tmp/x/main.js:1:7)\n"
    assert support(JS).failure(run(custom)).text() == "E: c (line 1)"
    heap = "<--- Last few GCs --->\nFATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory\n"
    assert support(JS).failure(run(heap, None, 6)).kind == "memory"
    assert support(JS).failure(run("terminate called after throwing an instance of 'std::bad_alloc'\n", None, 6)
                               ).kind == "memory"
    big = "node:fs:2380\n    return binding.writeFileUtf8(\n                   ^\n\nError: EFBIG: file too large, write\n"
    assert support(JS).failure(run(big)).kind == "file-size"
    assert support(JS).failure(run("", 3)).kind == "exit"


# --------------------------------------------------------------------------- feedback speaks JavaScript

CODE = READ + "for (let i = 1; i < n; i++) {\n  console.log('*'.repeat(i));\n}\n"
PYTHON_IDIOMS = re.compile(r"range\(|input\(\)|print\(|'\*' \* |' ' \* |\.join\(\.\.\.\)|end=''|Python")


def facts(**changes: object) -> Facts:
    base = Facts(
        pattern_name="Right Triangle", pattern_description="", expected_preview=["*", "**", "***", "****"],
        code=CODE, verdict="WRONG_OUTPUT", error="Wrong output for n=4: row 4 differs",
        mismatches=[(4, 4, "****", None)], score=0.76, cyclomatic=2, max_nesting_depth=1, loops=1, conditions=0,
        big_o="O(n^2)", complexity_level="simple", reads_input=True, language=JS,
    )
    return dataclasses.replace(base, **changes)


def all_text(f: Facts) -> str:
    feedback = rule_based_feedback(f, AnalysisKind.FULL)
    return " ".join([feedback.explanation, *feedback.suggestions, *feedback.hints])


@pytest.mark.parametrize("changes", [
    {},
    {"mismatches": [(4, 1, "   *", "*"), (4, 2, "  **", "**")]},
    {"mismatches": [(4, 1, "****", "* * * *")]},
    {"mismatches": [(4, 2, "**", "***"), (4, 3, "***", "****")]},
    {"mismatches": [(4, 5, None, "*****")]},
    {"mismatches": [(4, 1, "****", "*"), (4, 4, "*", "****")]},
    {"reads_input": False},
    {"verdict": "RUNTIME_ERROR", "error": "ReferenceError: prompt is not defined (line 1)", "mismatches": []},
    {"verdict": "RUNTIME_ERROR", "error": "RangeError: Invalid count value: -1 (line 2)", "mismatches": []},
    {"verdict": "RUNTIME_ERROR", "error": "TypeError: Assignment to constant variable. (line 3)"},
    {"verdict": "SYNTAX_ERROR", "error": "SyntaxError on line 2, column 29: Unexpected token '{'"},
    {"verdict": "TIMEOUT", "error": "Time limit exceeded"},
    {"verdict": "REJECTED", "error": "Memory limit exceeded (256 MB)"},
    {"verdict": "REJECTED", "error": "Something not allowed"},
    {"verdict": "PASSED", "error": None, "mismatches": [], "score": 1.0, "max_nesting_depth": 3, "loops": 3},
    {"verdict": "PASSED", "error": None, "mismatches": [], "score": 1.0, "max_nesting_depth": 2, "loops": 2},
])
def test_feedback_never_quotes_python_idioms_for_javascript(changes: dict[str, object]) -> None:
    text = all_text(facts(**changes)).replace("Node.js has no input() or prompt()", "")
    assert not PYTHON_IDIOMS.search(text), text


def test_javascript_hints_quote_javascript() -> None:
    _, hints = suggestions_and_hints(facts())
    assert any("i <= n" in h for h in hints), hints
    _, hints = suggestions_and_hints(facts(reads_input=False, mismatches=[(4, 1, "   *", "*")]))
    assert any("readFileSync(0, 'utf8')" in h for h in hints) and any("' '.repeat(n - i)" in h for h in hints), hints
    _, hints = suggestions_and_hints(facts(verdict="RUNTIME_ERROR", error="ReferenceError: prompt is not defined"))
    assert any("no input() or prompt()" in h for h in hints), hints
    suggestions, _ = suggestions_and_hints(facts(verdict="PASSED", error=None, mismatches=[], max_nesting_depth=2,
                                                 loops=2))
    assert any("'*'.repeat(i)" in s for s in suggestions), suggestions
    explanation = rule_based_feedback(facts(verdict="SYNTAX_ERROR", error="SyntaxError on line 2: x"),
                                      AnalysisKind.FULL).explanation
    assert explanation.startswith("JavaScript could not read your program: there is a syntax error at line 2")


def test_recursion_is_described_from_the_javascript_census() -> None:
    code = READ + "function draw(i) {\n  if (i > n) return;\n  console.log('*'.repeat(i));\n  draw(i + 1);\n}\ndraw(1);\n"
    text = rule_based_feedback(facts(code=code, loops=0, verdict="PASSED", error=None, mismatches=[]),
                               AnalysisKind.FULL).explanation
    assert "draw calls itself" in text


def test_the_same_facts_in_python_still_speak_python() -> None:
    _, hints = suggestions_and_hints(facts(language=Language.PYTHON, code="n = int(input())\n"))
    assert any("range(1, n + 1)" in h for h in hints)
