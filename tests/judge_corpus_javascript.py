"""JavaScript learner-style submissions with the verdict each must get (tests/integration/test_judge_javascript.py
and bench/bench_judge.py).

Styles: nested for loops, '*'.repeat, padStart/padEnd, arrays and join, Array.from, while and
do...while, recursion, template literals, process.stdout.write, readline, reading n with
readFileSync(0). Mistakes: off-by-one, missing rows, wrong alignment, spaces between characters,
a hard-coded size while reading n, no newline between rows, a negative repeat count, prompt()
from the browser, a const reassigned, syntax errors V8 and tree-sitter both see and one only V8
sees, endless loops, waiting for input that never comes, floods, memory bombs, big files.
"""

from __future__ import annotations

import textwrap

from tests.judge_corpus import Case, case

READ = "const n = parseInt(require('fs').readFileSync(0, 'utf8'));\n"


def reads(body: str) -> str:
    """A program that reads n on line 1, then ``body``."""
    return READ + textwrap.dedent(body).lstrip("\n")


def _passed(name: str, slug: str, code: str, **extra: object) -> Case:
    return case(name, slug, code, "PASSED", min_score=1.0, **extra)


PASSED_CASES = [
    _passed("js-repeat", "right-triangle", reads("""
        for (let i = 1; i <= n; i++) {
          console.log('*'.repeat(i));
        }
        """), reads_input=True),
    _passed("js-nested-loops", "right-triangle", reads("""
        for (let i = 1; i <= n; i++) {
          let row = '';
          for (let j = 0; j < i; j++) {
            row += '*';
          }
          console.log(row);
        }
        """), reads_input=True),
    _passed("js-padstart", "left-triangle", reads("""
        for (let i = 1; i <= n; i++) console.log('*'.repeat(i).padStart(n));
        """)),
    _passed("js-array-join", "square-solid", reads("""
        for (let i = 0; i < n; i++) {
          console.log(new Array(n).fill('*').join(''));
        }
        """)),
    _passed("js-array-from", "spaced-pyramid", reads("""
        Array.from({ length: n }, (_, i) => i + 1).forEach((k) => {
          console.log(' '.repeat(n - k) + Array(k).fill('*').join(' '));
        });
        """)),
    _passed("js-template-literal", "isosceles-triangle", reads("""
        for (let i = 1; i <= n; i++) {
          console.log(`${' '.repeat(n - i)}${'*'.repeat(2 * i - 1)}`);
        }
        """)),
    _passed("js-while", "inverted-right-triangle", reads("""
        let i = n;
        while (i > 0) {
          console.log('*'.repeat(i));
          i--;
        }
        """)),
    _passed("js-do-while", "square-solid", reads("""
        let row = 0;
        do {
          console.log('*'.repeat(n));
          row++;
        } while (row < n);
        """)),
    _passed("js-recursion", "right-triangle", reads("""
        function draw(i) {
          if (i > n) return;
          console.log('*'.repeat(i));
          draw(i + 1);
        }
        draw(1);
        """)),
    _passed("js-arrow-function", "number-triangle", reads("""
        const row = (i) => Array.from({ length: i }, (_, k) => k + 1).join('');
        for (let i = 1; i <= n; i++) console.log(row(i));
        """)),
    _passed("js-stdout-write", "hollow-square", reads("""
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) {
            const edge = i === 0 || i === n - 1 || j === 0 || j === n - 1;
            process.stdout.write(edge ? '*' : ' ');
          }
          process.stdout.write('\\n');
        }
        """)),
    _passed("js-letters", "alphabet-triangle", reads("""
        for (let i = 1; i <= n; i++) {
          let row = '';
          for (let k = 0; k < i; k++) row += String.fromCharCode(65 + k);
          console.log(row);
        }
        """)),
    _passed("js-diamond", "diamond-solid", reads("""
        for (let i = 1; i <= n; i++) console.log(' '.repeat(n - i) + '*'.repeat(2 * i - 1));
        for (let i = n - 1; i >= 1; i--) console.log(' '.repeat(n - i) + '*'.repeat(2 * i - 1));
        """)),
    _passed("js-floyd", "floyds-triangle", reads("""
        let next = 1;
        for (let i = 1; i <= n; i++) {
          const row = [];
          for (let j = 0; j < i; j++) row.push(next++);
          console.log(row.join(' '));
        }
        """)),
    _passed("js-readline", "inverted-pyramid", """
        const readline = require('readline');
        const rl = readline.createInterface({ input: process.stdin });
        rl.on('line', (line) => {
          const n = Number(line);
          for (let i = n; i >= 1; i--) console.log(' '.repeat(n - i) + '*'.repeat(2 * i - 1));
          rl.close();
        });
        """, reads_input=True),
    _passed("js-trailing-spaces-ignored", "square-solid", reads("""
        for (let i = 0; i < n; i++) console.log('*'.repeat(n) + '   ');
        console.log('');
        """)),
    _passed("js-hard-coded-no-input", "right-triangle", """
        console.log('*');
        console.log('**');
        console.log('***');
        console.log('****');
        """, reads_input=False),
    _passed("js-number-string-input", "multiplication-table", """
        const n = Number(require('fs').readFileSync('/dev/stdin', 'utf8').trim());
        const width = String(n * n).length;
        for (let i = 1; i <= n; i++) {
          const row = [];
          for (let j = 1; j <= n; j++) row.push(String(i * j).padStart(width));
          console.log(row.join(' '));
        }
        """, reads_input=True),
]

WRONG_OUTPUT_CASES = [
    case("js-off-by-one-missing-row", "right-triangle", reads("""
        for (let i = 1; i < n; i++) console.log('*'.repeat(i));
        """), "WRONG_OUTPUT", max_score=0.99),
    case("js-off-by-one-extra-star", "right-triangle", reads("""
        for (let i = 1; i <= n; i++) console.log('*'.repeat(i + 1));
        """), "WRONG_OUTPUT", max_score=0.5),
    case("js-wrong-alignment", "left-triangle", reads("""
        for (let i = 1; i <= n; i++) console.log('*'.repeat(i));
        """), "WRONG_OUTPUT", max_score=0.99),
    case("js-spaces-between-stars", "square-solid", reads("""
        for (let i = 0; i < n; i++) console.log(Array(n).fill('*').join(' '));
        """), "WRONG_OUTPUT", max_score=0.5),
    case("js-hard-coded-size-but-reads-n", "right-triangle", """
        const n = parseInt(require('fs').readFileSync(0, 'utf8'));
        for (let i = 1; i <= 4; i++) console.log('*'.repeat(i));
        """, "WRONG_OUTPUT", min_score=0.01, max_score=0.99),
    case("js-no-newline-between-rows", "right-triangle", reads("""
        for (let i = 1; i <= n; i++) process.stdout.write('*'.repeat(i));
        """), "WRONG_OUTPUT", max_score=0.5),
    case("js-counts-up-instead-of-down", "inverted-right-triangle", reads("""
        for (let i = 1; i <= n; i++) console.log('*'.repeat(i));
        """), "WRONG_OUTPUT", max_score=0.99),
    case("js-leading-blank-line", "square-solid", reads("""
        console.log();
        for (let i = 0; i < n; i++) console.log('*'.repeat(n));
        """), "WRONG_OUTPUT", max_score=0.99),
    case("js-string-concatenation-of-n", "number-triangle", """
        const n = require('fs').readFileSync(0, 'utf8').trim();
        for (let i = 1; i <= n + 1; i++) {
          let row = '';
          for (let j = 1; j <= i; j++) row += j;
          console.log(row);
        }
        """, "WRONG_OUTPUT", max_score=0.99),
]

RUNTIME_ERROR_CASES = [
    case("js-prompt-from-the-browser", "right-triangle", """
        const n = parseInt(prompt('How many rows?'));
        for (let i = 1; i <= n; i++) console.log('*'.repeat(i));
        """, "RUNTIME_ERROR", max_score=0.0, error_contains="ReferenceError: prompt is not defined (line 1)"),
    case("js-negative-repeat", "isosceles-triangle", reads("""
        for (let i = 1; i <= n + 1; i++) console.log(' '.repeat(n - i) + '*'.repeat(2 * i - 1));
        """), "RUNTIME_ERROR", max_score=0.99, error_contains="RangeError: Invalid count value"),
    case("js-const-reassigned", "right-triangle", reads("""
        const row = '';
        for (let i = 1; i <= n; i++) {
          row = '*'.repeat(i);
          console.log(row);
        }
        """), "RUNTIME_ERROR", max_score=0.0, error_contains="TypeError: Assignment to constant variable."),
    case("js-property-of-undefined", "right-triangle", reads("""
        const rows = [];
        for (let i = 1; i <= n; i++) rows.push('*'.repeat(i));
        for (let i = 0; i <= n; i++) console.log(rows[i].trim());
        """), "RUNTIME_ERROR", min_score=0.01, max_score=0.99, error_contains="TypeError: Cannot read properties of undefined"),
    case("js-endless-recursion", "right-triangle", """
        function row(i) {
          return '*'.repeat(i) + row(i + 1);
        }
        console.log(row(1));
        """, "RUNTIME_ERROR", max_score=0.0, error_contains="RangeError: Maximum call stack size exceeded (line 2)"),
    case("js-throws-string", "square-solid", """
        throw 'not done yet';
        """, "RUNTIME_ERROR", max_score=0.0, error_contains="Uncaught not done yet (line 1)"),
    case("js-process-exit-code", "square-solid", """
        console.log('****');
        process.exit(3);
        """, "RUNTIME_ERROR", error_contains="Program exited with status 3"),
    case("js-child-process-denied", "square-solid", """
        const out = require('child_process').execSync('ls /').toString();
        console.log(out);
        """, "RUNTIME_ERROR", max_score=0.0),
]

SYNTAX_ERROR_CASES = [
    case("js-missing-parenthesis", "right-triangle", reads("""
        for (let i = 1; i <= n; i++ {
          console.log('*'.repeat(i));
        }
        """), "SYNTAX_ERROR", max_score=0.0, error_contains="SyntaxError on line 2, column 29: Unexpected token '{'"),
    case("js-unclosed-string", "square-solid", """
        console.log('****);
        """, "SYNTAX_ERROR", max_score=0.0, error_contains="line 1"),
    case("js-missing-brace", "right-triangle", reads("""
        for (let i = 1; i <= n; i++) {
          console.log('*'.repeat(i));
        """), "SYNTAX_ERROR", max_score=0.0, error_contains="Unexpected end of input"),
    case("js-python-syntax", "right-triangle", """
        n = int(input())
        for i in range(1, n + 1):
            print("*" * i)
        """, "SYNTAX_ERROR", max_score=0.0, error_contains="line 2"),
    # tree-sitter accepts it; V8's early errors refuse it: found from the runs themselves.
    case("js-duplicate-declaration", "square-solid", reads("""
        let n = 4;
        for (let i = 0; i < n; i++) console.log('*'.repeat(n));
        """), "SYNTAX_ERROR", max_score=0.0,
         error_contains="SyntaxError on line 2, column 5: Identifier 'n' has already been declared"),
]

LIMIT_CASES = [
    case("js-while-true", "square-solid", """
        while (true) {}
        """, "TIMEOUT", max_score=0.0, error_contains="Time limit exceeded"),
    case("js-forgot-increment", "right-triangle", reads("""
        let i = 1;
        while (i <= n) {
          const row = '*'.repeat(i);
        }
        """), "TIMEOUT", max_score=0.0, error_contains="Time limit exceeded"),
    case("js-waits-for-more-input", "square-solid", """
        process.stdin.on('data', () => {});
        setInterval(() => {}, 1000);
        """, "TIMEOUT", max_score=0.0, error_contains="still running"),
    case("js-floods", "right-triangle", """
        for (;;) console.log('*');
        """, "REJECTED", max_score=0.0, error_contains="Output limit"),
    case("js-memory-bomb-array", "square-solid", """
        const rows = [];
        while (true) rows.push('*'.repeat(100000) + rows.length);
        """, "REJECTED", max_score=0.0, error_contains="Memory limit"),
    case("js-memory-bomb-string", "square-solid", """
        let s = 'abcdefgh';
        for (;;) s += s + s.length;
        """, "REJECTED", max_score=0.0, error_contains="Memory limit"),
    case("js-writes-big-file", "square-solid", """
        require('fs').writeFileSync('out.txt', '*'.repeat(5000000));
        """, "REJECTED", max_score=0.0, error_contains="File size"),
    case("js-program-too-long", "square-solid", "let x = 1;\n" * 3000, "REJECTED", max_score=0.0,
         error_contains="too long"),
]

JS_CASES: list[Case] = [
    *PASSED_CASES, *WRONG_OUTPUT_CASES, *RUNTIME_ERROR_CASES, *SYNTAX_ERROR_CASES, *LIMIT_CASES,
]
