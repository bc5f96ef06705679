"""An independent yardstick for explanations shown to learners: which sentences contradict the facts.

The facts are the hand labels of a corpus program (``tests/feedback_corpus.py``: its constructs
and category, never computed from its code) and what the judge measured (``JudgedFacts``). The
checker reads an explanation sentence by sentence and reports, in words, each sentence that:

* claims a construct the program does not have ("a recursive function" for a plain loop), or
  denies one it has ("has no loops" for a loop program); negation ("no", "not", "without"...)
  is understood, advice and hypotheticals ("you could use a while loop") claim nothing, and
  text in quotes or backticks that quotes the program is not a claim;
* shows code that is not in the program: a ``` block, a backticked span or a call or identifier
  (``build_pyramid(``, ``max_rows``) that neither the program, the error, Python's builtins
  nor a small whitelist contain;
* contradicts the verdict: praise of a program that failed, blame of one that passed, a crash,
  an exception or a syntax error that did not happen, an exception other than the one raised;
* states a number found nowhere in the facts (source, error, sizes, wrong rows, score, metrics,
  line counts), or a count (loops, nesting depth, cyclomatic complexity) other than measured;
* calls a program that computes its rows hard-coded, or a loop over n constant time;
* names a character (stars, hashes) that no string of the program holds.

Runtime dependencies: the standard library only (the judge types are for type checking).
"""

from __future__ import annotations

import builtins
import keyword
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from judge.judge import Judgment
    from judge.metrics import CodeMetrics
    from tests.feedback_corpus import Program

Mismatch = tuple[int, int, str | None, str | None]  # (size, row 1-based, expected, actual)

@dataclass(frozen=True)
class JudgedFacts:
    """What the judge and the static metrics established about one run of a program."""

    verdict: str
    error: str | None = None
    score: float = 0.0  # 0..1
    sizes_tested: tuple[int, ...] = ()
    mismatches: tuple[Mismatch, ...] = ()
    loops: int = 0
    max_nesting_depth: int = 0
    cyclomatic: int = 1
    conditions: int = 0
    big_o: str = "O(1)"
    lines: int = 0  # source lines of code, as the metrics count them
    expected: tuple[str, ...] = ()  # expected rows at the default size
    output: tuple[str, ...] = ()  # the program's rows at the default size

    def __post_init__(self) -> None:
        object.__setattr__(self, "verdict", str(self.verdict))  # a Verdict (StrEnum) becomes its name

    @classmethod
    def from_judgment(cls, judgment: Judgment, metrics: CodeMetrics) -> JudgedFacts:
        return cls(
            verdict=str(judgment.verdict),
            error=judgment.error,
            score=judgment.score,
            sizes_tested=tuple(judgment.sizes_tested),
            mismatches=tuple((m.size, m.row, m.expected, m.actual) for m in judgment.mismatches),
            loops=metrics.loops,
            max_nesting_depth=metrics.max_nesting_depth,
            cyclomatic=metrics.cyclomatic,
            conditions=metrics.conditions,
            big_o=metrics.big_o,
            lines=metrics.lines,
            expected=tuple(judgment.expected),
            output=tuple(judgment.output),
        )


# --------------------------------------------------------------------------- vocabulary

_I = re.IGNORECASE
_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10,
    "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15, "sixteenth": 16,
    "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20,
}
_NUM = r"(\d+|" + "|".join(w for w in _NUMBER_WORDS if not w.endswith(("th", "rd"))) + ")"
_ALWAYS_SUPPORTED = frozenset({0, 1, 2})

# Names a sentence may use without the program containing them.
_WHITELIST = frozenset({
    "print", "range", "input", "int", "str", "len", "end", "sep", "join", "center", "rjust", "ljust", "zfill",
    "append", "format", "upper", "lower", "strip", "split", "replace", "chr", "ord", "abs",
    "get", "keys", "values", "items", "extend", "pop", "insert", "count", "index", "find", "startswith",
    "endswith", "isdigit", "title", "capitalize", "sort", "reverse", "copy",
    "n", "i", "j", "k", "row", "col", "rows", "cols", "O", "f", "r", "b", "self",
})
_KNOWN_NAMES = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | _WHITELIST
# Keywords that show a construct: shown in code the program lacks, they are invented code.
_KEYWORD_CONSTRUCTS: dict[str, frozenset[str]] = {
    "def": frozenset({"function"}), "return": frozenset({"function"}), "while": frozenset({"while"}),
    "for": frozenset({"for", "comprehension"}), "lambda": frozenset({"lambda"}), "class": frozenset({"class"}),
    "import": frozenset({"import"}), "from": frozenset({"import"}), "try": frozenset({"try"}),
    "except": frozenset({"try"}), "finally": frozenset({"try"}), "if": frozenset({"if"}),
    "elif": frozenset({"if"}), "else": frozenset({"if"}),
}
_BUILTIN_CALLS = frozenset({"print", "range", "input", "int", "str", "len", "chr", "ord", "abs", "max", "min",
                            "sum", "list", "enumerate", "reversed", "zip", "map", "sorted"})
_STRING_METHODS = frozenset({"string", "str", "join", "center", "rjust", "ljust", "zfill", "append", "format",
                             "upper", "lower", "strip", "split", "replace", "list", "repeat"})

_LOOPS = frozenset({"for", "while", "comprehension"})


@dataclass(frozen=True)
class _Claim:
    what: str  # in words, for the reason
    labels: frozenset[str]  # any of these labels makes the claim true
    pattern: re.Pattern[str]


def _claim(what: str, labels: Iterable[str], pattern: str) -> _Claim:
    return _Claim(what, frozenset(labels), re.compile(pattern, _I))


_CLAIMS: tuple[_Claim, ...] = (
    _claim("recursion", ["recursion"], r"\brecurs\w*|\bcall(?:s|ing)? itself\b|\bself[- ]calls?\b"),
    _claim("a function definition", ["function"],
           r"\bfunctions?\b|\bdef\b|\bmethods?\b|\bprocedures?\b"
           r"|\bdefin(?:es|ed|ing) (?:a |an |its own )?(?:\w+\(|⟨q⟩)"
           r"|\breturns? (?:a|an|the) (?:value|result|string|row|line|list|number)s?\b"),
    _claim("a while loop", ["while"], r"\bwhile[- ](?:loops?|statements?)\b"),
    _claim("a for loop", ["for", "comprehension"], r"\bfor[- ](?:loops?|statements?)\b"),
    _claim("a loop", _LOOPS, r"\bloops?\b|\blooping\b"),
    _claim("nested loops", ["nested_loops"],
           r"\bnested (?:for |while )?loops?\b|\bloops? (?:is |are )?nested\b|\binner loops?\b|\bouter loops?\b"
           r"|\bloops? inside (?:a |another |the )?loops?\b|\bnested\b|\bnesting\b"),
    _claim("a comprehension", ["comprehension"],
           r"\bcomprehensions?\b|\bgenerator expressions?\b|\bgenexps?\b"),
    _claim("a class", ["class"], r"\bclass(?:es)?\b|\bobject[- ]oriented\b|\bOOP\b"),
    _claim("a dictionary", ["dict"], r"\bdict(?:ionary|ionaries|s)?\b|\bkey[- ]value\b"),
    _claim("a lambda", ["lambda"], r"\blambdas?\b|\banonymous functions?\b"),
    _claim("an import", ["import"], r"\bimport(?:s|ed|ing)?\b|\bmodules?\b|\blibrar(?:y|ies)\b|\bpackages?\b"),
    _claim("exception handling (try/except)", ["try"],
           r"\btry[-/ ]?(?:except|block|statement|clause)s?\b|\bexcept (?:block|clause)s?\b|\bexception handl\w*"
           r"|\bhandl(?:es|ing) (?:the |an |any )?(?:exceptions?|errors?)\b"
           r"|\bcatch(?:es|ing)? (?:the |an |any )?(?:exceptions?|errors?|\w+Error)\b"),
    _claim("an if statement", ["if"],
           r"\bif[- /](?:statements?|else|elif|blocks?|branch(?:es)?|conditions?|checks?)\b|\bconditionals?\b"
           r"|\bternary\b|\belif\b"),
    _claim("join", ["join"], r"\bjoin(?:s|ed|ing)?\b"),
    _claim("an f-string", ["fstring"], r"\bf-?strings?\b|\bformatted string literals?\b"),
    _claim("reading the size from input", ["input"],
           r"\binput\b|\breads? (?:in )?(?:the |a |an )?(?:size|number|value|n|input|rows?|user|integer)\b"
           r"|\breading (?:in )?(?:the |a )?(?:size|number|value|n|input|integer)\b|\basks? (?:for|the user)\b"
           r"|\bstdin\b"),
    _claim("string multiplication", ["string_multiplication"],
           r"\bstring (?:multiplication|repetition)\b"
           r"|\bmultipl(?:y|ies|ying|ied) (?:a |the )?(?:strings?|characters?|stars?)\b"
           r"|\brepeat(?:s|ing|ed)? (?:a |the )?(?:strings?|characters?|stars?|symbols?)\b"),
    _claim("a list", ["list"], r"\blists?\b"),
)
_LOOP_QUALIFIERS = frozenset({"for", "while", "inner", "outer", "nested", "infinite", "endless"})

# "nested 2 deep", "nesting depth 1", "3 levels deep": 2 or more claims nesting, 0 or 1 denies it.
_NESTING_NUMBER = re.compile(
    rf"\bnest(?:ed|ing)(?: depth)?(?: of| is)? {_NUM}\b(?: (?:levels? )?deep)?|\b{_NUM} levels? (?:deep|of nesting)\b"
    rf"|\bdepth (?:of |is )?{_NUM}\b", _I)
_COUNT_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"\b{_NUM} (?:nested )?loops?\b", _I), "loops"),
    (re.compile(rf"\bcyclomatic complexity (?:of |is )?{_NUM}\b", _I), "cyclomatic"),
    (_NESTING_NUMBER, "max_nesting_depth"),
)

_HARD_CODED = re.compile(
    r"\bhard[- ]?coded\b|\b(?:written|typed|spelled) out by hand\b|\bby hand\b|\bcan(?:not|['’]t) grow with n\b"
    r"|\bdoes(?: not|n['’]t) (?:grow|change|scale) with n\b|\balways prints the same\b|\bfixed (?:number of )?rows\b"
    r"|\bignores? (?:the )?(?:size|n|input)\b", _I)
_CONSTANT_TIME = re.compile(r"\bO\(1\)|\bconstant(?: running)? time\b|\bdoes(?: not|n['’]t) depend on n\b", _I)

_BIG_O = re.compile(r"\bO\(\s*[n0-9][^()]*\)")
_GROWTH = re.compile(r"\b(constant|linear|quadratic|cubic|exponential) (?:running )?(?:time|complexity)\b", _I)

_PRAISE = re.compile(
    r"\bcorrect(?:ly)?\b|\bworks?\b|\bworking\b|\bprints? the right\b|\bright (?:pattern|output|answer|result)\b"
    r"|\bwell done\b|\bperfect(?:ly)?\b|\bno (?:errors?|bugs?|mistakes?|problems?|issues?)\b|\b(?:bug|error)[- ]free\b"
    r"|\bwithout (?:any )?(?:errors?|bugs?|mistakes?|problems?)\b|\bas expected\b|\bsuccessful(?:ly)?\b"
    r"|\bgreat job\b|\bnice work\b|\bflawless(?:ly)?\b|\bpasse[sd] (?:every|all)\b", _I)
_BLAME = re.compile(
    r"\bbugs?\b|\bbuggy\b|\berrors?\b|\bmistakes?\b|\bwrong\b|\bincorrect(?:ly)?\b|\bfail(?:s|ed|ing|ure)?\b"
    r"|\bcrash\w*|\bfix(?:es|ed|ing)?\b|\boff[- ]by[- ]one\b|\bdoes(?: not|n['’]t) match\b|\bdiffers?\b"
    r"|\bbroken\b|\bmissing\b|\bextra rows?\b", _I)
_CRASH = re.compile(
    r"\bcrash\w*|\braise[sd]?\b|\bthrows?\b|\bthrew\b|\btracebacks?\b|\bruntime errors?\b|\bstopped with an?\b"
    r"|\b(?:an|the) exception\b", _I)
_SYNTAX = re.compile(
    r"\bsyntax errors?\b|\binvalid syntax\b|\bindentation errors?\b|\bcould(?: not|n['’]t) (?:read|parse|compile)\b"
    r"|\bdoes(?: not|n['’]t) compile\b", _I)
_RAN = re.compile(r"\b(?:it|program|code|loop) (?:ran|printed|produced|output)\b", _I)
_EXCEPTION = re.compile(r"\b([A-Z][A-Za-z]*(?:Error|Exception|Warning|Interrupt|Exit|Iteration))\b")
_HYPOTHETICAL_ERROR = re.compile(r"\b(?:if|would|might|whether|unless)\b|\bcould\b(?!\s*not|n['’]t)", _I)
_DEFINITION = re.compile(r"^\s*(?:an?|the)\s+\w*(?:error|exception)\s+(?:means|happens|occurs|is raised|comes from)\b",
                         _I)

_NEGATORS = frozenset({"no", "not", "without", "never", "none", "nor", "neither", "lacks", "lacking", "zero",
                       "cannot", "nothing", "nowhere"})
_NEGATION_WINDOW = 6
_CONTRAST = re.compile(r"\b(?:instead of|rather than|unlike|apart from|except for)\s*$", _I)
# A clause with one of these claims nothing about the program as it is.
_TRY_BLOCK = r"[-/ ]?(?:except|block|statement|clause)"  # "try/except" is a construct, not advice
_ADVICE = re.compile(
    rf"\b(?:could|might|would|should|may)\b|\bcan\b(?!['’]t)|\bif you\b|\btry(?:ing)?\b(?!{_TRY_BLOCK})"
    r"|\bconsider\b|\bpracti[cs]e\b"
    r"|\bnext time\b|\bexercise\b|\balternatively\b|\bimagine\b|\bsuppose\b|\bfor example\b|\bfor instance\b"
    r"|\bsuch as\b|\be\.g\.|\binstead\b|\brather than\b|\b(?:no|don['’]t|doesn['’]t) need\b|\bneeds? to\b"
    r"|\bunlike\b|\bwhereas\b|\bchallenge\b|\bremember\b", _I)
_IMPERATIVE = re.compile(
    r"^\s*(?:(?:and|or|then|so|now)\s+)?(?:use|try|write|add|replace|change|check|make|remember|think|note"
    r"|compare|look|start|rewrite|turn|move"
    r"|put|keep|avoid|practi[cs]e|swap|call|count|give|test|run|print|read|name|rename|build|loop|work out|define"
    r"|include|set|assign|indent|remove|delete|declare|store|increase|decrease|reverse|convert|wrap|drop)\b", _I)
# A sentence about programming in general, not about this program: "String multiplication builds
# a run of characters in one step", "Recursion means...", "An IndexError means...".
_PROGRAM_REFERENCE = re.compile(r"\b(?:your|you|it|its|this|program|code|here|solution)\b", _I)
_GENERIC_DEFINITION = re.compile(
    r"(?:an?\s+)?[\w/-]+(?:\s+[\w/-]+){0,2}\s+(?:means|is when|lets you|allows|is a way|is used to|can)\b", _I)
_SENTENCE_ADVICE = re.compile(r"^\s*(?:if|for practice|next time|as an exercise|to practi[cs]e|try|consider"
                              r"|imagine|suppose|for example|for instance|e\.g\.)\b", _I)
# Praise and blame are not meant as facts in these.
_CONDITIONAL = re.compile(
    r"\b(?:if|would|could|might|whether|unless|usually|often|typically|common|commonly|avoid\w*|careful)\b"
    rf"|\bmake sure\b|\bwatch out\b|\btry\b(?!{_TRY_BLOCK})|\bcheck\b", _I)

_CLAUSE_SPLIT = re.compile(
    r"[,;:\[\]]|(?<!\w)\(|\)(?=[\s.,;:!?]|$)|\s[-–—]\s"
    r"|\b(?:but|so|which|whereas|although|though|however|yet|because|since)\b"
    r"|\band\b(?=\s+(?:it|then|the|this|that|your|each|every|its|uses?|has|is|are|prints?|calls?|builds?|defines?"
    r"|reads?|returns?|there)\b)", _I)
_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|etc|vs|approx|cf)\.", _I)
_SPANS = (
    ("code", re.compile(r"`([^`\n]+)`")),
    ("quote", re.compile(r"“([^”\n]*)”")),
    ("quote", re.compile(r"‘([^’\n]*)’")),
    ("quote", re.compile(r'(?<![\w"])"([^"\n]*)"(?![\w"])')),
    ("quote", re.compile(r"(?<![\w'])'([^'\n]*)'(?!\w)")),
)
_FENCE = re.compile(r"```[^\n`]*\n?(.*?)(?:```|\Z)", re.DOTALL)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STRING_LITERAL = re.compile(r"""(['"])(?:(?!\1).)*\1""")
_CALL = re.compile(r"(?<!\w)([A-Za-z_]\w*)\((?!s\))")
_SNAKE = re.compile(r"(?<!\w)([A-Za-z0-9]*_[A-Za-z0-9_]*)(?!\w)")
_CAMEL = re.compile(r"(?<!\w)([a-z]+[A-Z][A-Za-z0-9]*)(?!\w)")
_NUMBER = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)(?:st|nd|rd|th)?(\s*%|\s+percent\b)?(?![\w.]\d)"
    r"|\b(" + "|".join(_NUMBER_WORDS) + r")\b", _I)
_QUOTED = "⟨q⟩"
_ERROR = "⟨error⟩"
_PROTECT = {".": "\u2024", "!": "\ue001", "?": "\ue002"}


# --------------------------------------------------------------------------- facts, prepared


@dataclass(frozen=True)
class _Context:
    program: Program
    facts: JudgedFacts
    source_flat: str  # the code with no whitespace and one kind of quote
    names: frozenset[str]  # identifiers of the program and of the error
    numbers: frozenset[float]
    percents: frozenset[int]
    line_count: int
    max_row: int
    exceptions: frozenset[str]  # exception names the run raised (or the program names)
    rows: frozenset[str]  # rows the facts quote: expected and printed

    @property
    def constructs(self) -> frozenset[str]:
        return self.program.constructs

    def has(self, labels: frozenset[str]) -> bool:
        return bool(labels & self.program.constructs)

    def computes_rows(self) -> bool:
        """Not hard-coded: builds its rows with loops or recursion, or from the size it reads."""
        return self.program.category != "hard_coded" and (
            self.has(_LOOPS | {"recursion"}) or "input" in self.constructs)

    def in_source(self, text: str) -> bool:
        flat = _flat(text)
        return bool(flat) and flat in self.source_flat


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text).replace('"', "'")


def _row_numbers(row: str | None) -> set[float]:
    if row is None:
        return set()
    stripped = row.strip()
    values = {len(row), len(row.rstrip()), len(stripped), len(row) - len(row.lstrip(" ")),
              len(stripped.replace(" ", ""))}
    values |= {float(x) for x in re.findall(r"\d+", row)}
    return {float(v) for v in values}


def _context(program: Program, facts: JudgedFacts) -> _Context:
    code = program.code
    error = facts.error or ""
    numbers: set[float] = {float(x) for x in _ALWAYS_SUPPORTED}
    numbers |= {float(x) for x in re.findall(r"\d+(?:\.\d+)?", code)}
    numbers |= {float(x) for x in re.findall(r"\d+(?:\.\d+)?", error)}
    numbers |= {float(n) for n in facts.sizes_tested}
    rows: set[str] = set()
    for size, row, expected, actual in facts.mismatches:
        numbers |= {float(size), float(row)} | _row_numbers(expected) | _row_numbers(actual)
        rows |= {r for r in (expected, actual) if r is not None}
    for row_text in (*facts.expected, *facts.output):
        numbers |= _row_numbers(row_text)
        rows.add(row_text)
    numbers |= {float(len(facts.expected)), float(len(facts.output))}
    percent = facts.score * 100
    percents = {round(percent), math.floor(percent), math.ceil(percent)}
    numbers |= {float(p) for p in percents} | {facts.score}
    numbers |= {float(v) for v in (facts.loops, facts.max_nesting_depth, facts.cyclomatic, facts.conditions,
                                   facts.lines)}
    numbers |= {float(x) for x in re.findall(r"\d+", facts.big_o)}
    lines = code.splitlines()
    numbers |= {float(len(lines)), float(sum(1 for line in lines if line.strip()))}
    sizes = [*facts.sizes_tested, len(facts.expected), len(facts.output), *(m[1] for m in facts.mismatches)]
    max_row = max([2 * s + 1 for s in sizes] + [len(facts.expected), len(facts.output)] + [0])
    raised = set(_EXCEPTION.findall(error))
    if facts.verdict == "RUNTIME_ERROR":
        raised |= set(_EXCEPTION.findall(code))  # raise SystemExit(3): the error says "exited with status 3"
    return _Context(
        program=program,
        facts=facts,
        source_flat=_flat(code),
        names=frozenset(_IDENTIFIER.findall(code)) | frozenset(_IDENTIFIER.findall(error)),
        numbers=frozenset(numbers),
        percents=frozenset(percents),
        line_count=len(lines),
        max_row=max_row,
        exceptions=frozenset(raised),
        rows=frozenset(rows),
    )


# --------------------------------------------------------------------------- text, cut up


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: split at ``.``/``!``/``?`` followed by a space and at line ends, not
    inside quotes or backticks, abbreviations (e.g., i.e.) or numbers (0.5, range(1, n + 1).)."""
    sentences: list[str] = []
    for line in text.splitlines():
        line = _LIST_MARK.sub("", line).strip()
        if not line:
            continue
        protected = _ABBREVIATION.sub(lambda m: _protect(m.group(0)), line)
        for _, pattern in _SPANS:
            protected = pattern.sub(lambda m: _protect(m.group(0)), protected)
        for piece in re.split(r"(?<=[.!?])\s+", protected):
            piece = _unprotect(piece).strip()
            if piece:
                sentences.append(piece)
    return sentences


def _protect(text: str) -> str:
    return "".join(_PROTECT.get(c, c) for c in text)


def _unprotect(text: str) -> str:
    for original, stand_in in _PROTECT.items():
        text = text.replace(stand_in, original)
    return text


def _clauses(sentence: str) -> list[str]:
    return [c for c in _CLAUSE_SPLIT.split(sentence) if c and c.strip()]


_VERB = re.compile(r"\b(?:is|are|was|were|uses?|used|has|have|had|prints?|printed|calls?|builds?|reads?|runs?"
                   r"|makes?|goes|gives?|returns?|repeats?|creates?|stops?|starts?|does|do|did)\b", _I)


def _claim_clauses(sentence: str) -> list[str]:
    """Clauses, with a negation carried over a comma list: in "It does not use recursion, a while
    loop or a function" the last clause reads "not a while loop or a function"."""
    clauses: list[str] = []
    negated = False
    position = 0
    for clause in _clauses(sentence):
        start = sentence.find(clause, position)
        position = start + len(clause)
        comma = sentence[:start].rstrip().endswith(",")
        list_item = comma and len(_words(clause)) <= 6 and not _VERB.search(clause)
        if negated and list_item:
            clauses.append("not " + clause)
            continue
        negated = any(_is_negator(w) for w in _words(clause))
        clauses.append(clause)
    return clauses


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9'’]+", text)


def _is_negator(word: str) -> bool:
    word = word.lower()
    return word in _NEGATORS or word.endswith(("n't", "n’t"))


def _negated(clause: str, start: int) -> bool:
    return any(_is_negator(w) for w in _words(clause[:start])[-_NEGATION_WINDOW:])


def _contrasted(clause: str, start: int) -> bool:
    """``instead of a while loop``: neither claimed nor denied."""
    return bool(_CONTRAST.search(" ".join(_words(clause[:start])[-4:])))


def _advice(clause: str) -> bool:
    return bool(_ADVICE.search(clause) or _IMPERATIVE.match(clause))


def _generic(plain: str) -> bool:
    """About programming in general: a definition, or a sentence that opens with a construct (or
    "a"/"an") and never refers to the program."""
    if _DEFINITION.match(plain):
        return True
    if _PROGRAM_REFERENCE.search(plain):
        return False
    head = plain.lstrip()
    return bool(_GENERIC_DEFINITION.match(head)) or any(
        c.pattern.match(head) for c in _CLAIMS if c.what != "reading the size from input")


def _quote(sentence: str) -> str:
    return sentence if len(sentence) <= 160 else sentence[:157] + "..."


# --------------------------------------------------------------------------- checks


def _unknown_names(code: str, ctx: _Context, *, advice: bool) -> list[str]:
    """Names in a piece of code that the facts do not know; keywords of absent constructs too
    (unless the sentence is advice: "use a `for` loop" shows no code as the learner's)."""
    bare = _STRING_LITERAL.sub("''", code)

    def unknown(name: str) -> bool:
        if name in _KEYWORD_CONSTRUCTS:
            return not advice and not ctx.has(_KEYWORD_CONSTRUCTS[name])
        return name not in _KNOWN_NAMES and name not in ctx.names

    return list(dict.fromkeys(name for name in _IDENTIFIER.findall(bare) if unknown(name)))


def _check_fences(text: str, ctx: _Context, reasons: list[str]) -> str:
    def replace(match: re.Match[str]) -> str:
        lines = [line for line in match.group(1).splitlines() if line.strip()]
        missing = [line.strip() for line in lines if not ctx.in_source(line)]
        if missing:
            reasons.append(f"shows a code block that is not the learner's program (e.g. {missing[0]!r})")
        return f" {_QUOTED} "

    return _FENCE.sub(replace, text)


def _mask_error(text: str, error: str | None) -> str:
    if not error:
        return text
    pieces = [error.strip(), *(line.strip() for line in error.splitlines())]
    for piece in sorted({p for p in pieces if len(p) >= 4}, key=len, reverse=True):
        text = text.replace(piece, _ERROR)
    return text


def _kept(content: str, ctx: _Context) -> str:
    """What a quoted span stands for in the sentence: a single known name stays (`while`, 'n',
    `.rjust()`) so that "a `while` loop" still claims a while loop; anything else is a quote."""
    name = content.strip().lstrip(".").removesuffix("()")
    if _IDENTIFIER.fullmatch(name) and (name in _KNOWN_NAMES or name in ctx.names):
        return name
    return _QUOTED


def _extract_spans(sentence: str, ctx: _Context, reasons: list[str]) -> str:
    advice = bool(_ADVICE.search(sentence) or _SENTENCE_ADVICE.match(sentence))
    text = sentence
    for kind, pattern in _SPANS:
        def replace(match: re.Match[str], kind: str = kind) -> str:
            content = match.group(1)
            if ctx.in_source(content) or content in ctx.rows or content.strip() in ctx.rows:
                return _kept(content, ctx)
            looks_like_code = kind == "code" or bool(re.search(r"[(=\[]|\bdef\b|\w_\w", content))
            if looks_like_code:
                unknown = _unknown_names(content, ctx, advice=advice)
                if unknown:
                    reasons.append(f"shows code that is not in the program ({', '.join(unknown)} in "
                                   f"{match.group(0)!r}): {_quote(sentence)!r}")
                    return _QUOTED
            return _kept(content, ctx)

        text = pattern.sub(replace, text)
    return text


def _invented_tokens(plain: str, sentence: str, ctx: _Context) -> list[str]:
    found = [m.group(1) for m in _CALL.finditer(plain)]
    found += [m.group(1) for m in _SNAKE.finditer(plain) if re.search(r"[A-Za-z]", m.group(1))]
    found += [m.group(1) for m in _CAMEL.finditer(plain)]
    unknown = [name for name in dict.fromkeys(found) if name not in _KNOWN_NAMES and name not in ctx.names]
    return [f"names code that is not in the program ({', '.join(unknown)}): {_quote(sentence)!r}"] if unknown else []


def _excluded(claim: _Claim, clause: str, match: re.Match[str]) -> bool:
    """Words that look like a claim but are not one here."""
    before = [w.lower() for w in _words(clause[: match.start()])[-2:]]
    word = match.group(0).lower()
    if claim.what == "a function definition" and word.startswith(("function", "method")):
        # print function, range() function, string method, the join method, anonymous function (a lambda)
        return bool(set(before) & (_BUILTIN_CALLS | _STRING_METHODS | {"built", "builtin", "in", "anonymous",
                                                                       "lambda"}))
    if claim.what == "a loop":
        return bool(before) and before[-1] in _LOOP_QUALIFIERS
    if claim.what == "nested loops" and word in ("nested", "nesting"):
        # "an if nested in the loop" is not about loops; nesting depths are read as numbers
        return not re.search(r"\bloops?\b", clause, _I) or bool(set(before) & {"if", "condition", "statement"})
    if claim.what == "reading the size from input" and word == "input":
        return bool(before) and before[-1] in ("any", "every", "some")  # "for any input"
    return False


def _construct_reasons(clause: str, sentence: str, ctx: _Context, neutral: bool) -> list[str]:
    reasons: list[str] = []
    rest = clause
    for match in _NESTING_NUMBER.finditer(clause):
        depth = _number_value(next(g for g in match.groups() if g))
        rest = rest.replace(match.group(0), " ")
        if neutral:
            continue
        nested = "nested_loops" in ctx.constructs
        if depth >= 2 and not nested:
            reasons.append(f"claims nested loops (depth {depth}), which the program does not have: "
                           f"{_quote(sentence)!r}")
        elif depth <= 1 and nested and not _negated(clause, match.start()):
            reasons.append(f"says nesting depth {depth}, but the program nests loops: {_quote(sentence)!r}")
    for claim in _CLAIMS:
        for match in claim.pattern.finditer(rest):
            if _excluded(claim, rest, match) or _contrasted(rest, match.start()):
                continue
            present = ctx.has(claim.labels)
            if _negated(rest, match.start()):
                if present and not neutral:
                    reasons.append(f"denies {claim.what}, which the program has: {_quote(sentence)!r}")
            elif not present and not neutral:
                reasons.append(f"claims {claim.what}, which the program does not have: {_quote(sentence)!r}")
            break  # one reason per claim and clause
    return reasons


def _category_reasons(clause: str, sentence: str, ctx: _Context, neutral: bool) -> list[str]:
    if neutral:
        return []
    reasons: list[str] = []
    for match in _HARD_CODED.finditer(clause):
        if _negated(clause, match.start()):
            if ctx.program.category == "hard_coded":
                reasons.append(f"denies that the rows are hard-coded, but they are: {_quote(sentence)!r}")
        elif ctx.computes_rows():
            reasons.append(f"calls the program hard-coded, but it computes its rows: {_quote(sentence)!r}")
        break
    return reasons


def _constant_time_reasons(plain: str, sentence: str, ctx: _Context) -> list[str]:
    """O(1) for a program that loops (or recurses) over the size it reads. Read on the sentence:
    clauses are cut at brackets."""
    match = _CONSTANT_TIME.search(plain)
    if (match and not _negated(plain, match.start()) and not _advice(plain)
            and ctx.program.category in ("passing", "wrong")
            and "input" in ctx.constructs and ctx.has(_LOOPS | {"recursion"})):
        return [f"claims constant time, but the program loops over the size it reads: {_quote(sentence)!r}"]
    return []


def _matches(pattern: re.Pattern[str], clause: str) -> list[re.Match[str]]:
    return [m for m in pattern.finditer(clause) if not _negated(clause, m.start())]


def _normal_big_o(text: str) -> str:
    text = re.sub(r"\s+", "", text.lower()).replace("²", "^2").replace("³", "^3").replace("**", "^")
    text = re.sub(r"\bn\*n\*n\b", "n^3", re.sub(r"\bn\*n\b", "n^2", text))
    return text.removeprefix("o(").removesuffix(")")


_GROWTH_WORDS = {"constant": "1", "linear": "n", "quadratic": "n^2", "cubic": "n^3", "exponential": "2^n"}


def _big_o_reasons(plain: str, sentence: str, ctx: _Context) -> list[str]:
    """A running time other than the measured one ("O(n^3)" where the metrics say O(n^2))."""
    if _advice(plain) or _SENTENCE_ADVICE.match(plain):
        return []
    measured = _normal_big_o(ctx.facts.big_o)
    claimed = [(m.group(0), _normal_big_o(m.group(0))) for m in _BIG_O.finditer(plain)
               if not _negated(plain, m.start())]
    claimed += [(m.group(0), _GROWTH_WORDS[m.group(1).lower()]) for m in _GROWTH.finditer(plain)
                if not _negated(plain, m.start())]
    return [f"says {said!r}, but the measured running time is {ctx.facts.big_o}: {_quote(sentence)!r}"
            for said, value in claimed if value != measured]


def _verdict_reasons(plain: str, sentence: str, ctx: _Context) -> list[str]:
    verdict = ctx.facts.verdict
    reasons: list[str] = []
    praise: list[str] = []
    blame: list[str] = []
    for clause in _clauses(plain):
        if _CONDITIONAL.search(clause):
            continue
        praised = _matches(_PRAISE, clause)
        spans = [(m.start(), m.end()) for m in _PRAISE.finditer(clause)]
        for m in [] if _IMPERATIVE.match(clause) else praised:
            if m.group(0).lower() == "correct" and [w.lower() for w in _words(clause[: m.start()])[-1:]] in (
                    ["the"], ["a"], ["an"]):
                continue  # "the correct number of spaces" names the target, it praises nothing
            praise.append(m.group(0))
        blame += [m.group(0) for m in _matches(_BLAME, clause)
                  if not any(s <= m.start() < e for s, e in spans)]
    if verdict == "PASSED" and blame:
        reasons.append(f"blames a program that passed ({blame[0]!r}): {_quote(sentence)!r}")
    elif verdict not in ("PASSED", "REJECTED") and praise and not blame:
        reasons.append(f"praises a program whose verdict is {verdict} ({praise[0]!r}): {_quote(sentence)!r}")
    return reasons


def _is_subclass(claimed: str, raised: str) -> bool:
    a, b = getattr(builtins, claimed, None), getattr(builtins, raised, None)
    return isinstance(a, type) and isinstance(b, type) and issubclass(b, a)


def _error_reasons(plain: str, sentence: str, ctx: _Context) -> list[str]:
    verdict = ctx.facts.verdict
    reasons: list[str] = []
    for clause in _clauses(plain):
        if _HYPOTHETICAL_ERROR.search(clause) or _DEFINITION.match(clause):
            continue
        handled = re.search(r"\bhandl|\bcatch|\bexcept\b", clause, _I)
        if verdict in ("PASSED", "WRONG_OUTPUT") and not handled and _matches(_CRASH, clause):
            reasons.append(f"says the program crashed, but it ran to the end ({verdict}): {_quote(sentence)!r}")
        if verdict != "SYNTAX_ERROR" and _matches(_SYNTAX, clause):
            reasons.append(f"claims a syntax error, but the verdict is {verdict}: {_quote(sentence)!r}")
        if verdict == "SYNTAX_ERROR" and _matches(_RAN, clause):
            reasons.append(f"says the program ran or printed, but it has a syntax error: {_quote(sentence)!r}")
        for match in _EXCEPTION.finditer(clause):
            name = match.group(1)
            if _negated(clause, match.start()):
                continue
            if verdict == "SYNTAX_ERROR" and name == "SyntaxError":
                continue
            if verdict == "REJECTED" and name == "MemoryError" and "memory" in (ctx.facts.error or "").lower():
                continue
            if any(name == raised or _is_subclass(name, raised) for raised in ctx.exceptions):
                continue
            actual = ", ".join(sorted(ctx.exceptions)) or f"none (verdict {verdict})"
            reasons.append(f"names {name}, but the program raised {actual}: {_quote(sentence)!r}")
    return reasons


def _number_value(token: str) -> int:
    token = token.lower()
    return _NUMBER_WORDS[token] if token in _NUMBER_WORDS else int(token)


def _count_reasons(clause: str, sentence: str, ctx: _Context) -> list[str]:
    reasons: list[str] = []
    for pattern, metric in _COUNT_RULES:
        for match in pattern.finditer(clause):
            value = _number_value(next(g for g in match.groups() if g))
            measured = getattr(ctx.facts, metric)
            if value != measured and not _negated(clause, match.start()):
                reasons.append(f"says {match.group(0)!r}, but the measured {metric.replace('_', ' ')} is "
                               f"{measured}: {_quote(sentence)!r}")
    return reasons


def _number_reasons(clause: str, sentence: str, ctx: _Context) -> list[str]:
    reasons: list[str] = []
    for match in _NUMBER.finditer(clause):
        digits, percent, word = match.group(1), match.group(2), match.group(3)
        value = float(digits) if digits else float(_NUMBER_WORDS[word.lower()])
        before = [w.lower() for w in _words(clause[: match.start()])[-3:]]
        if percent:
            if value not in {float(p) for p in ctx.percents}:
                reasons.append(f"states {match.group(0).strip()!r}, but the score is "
                               f"{round(ctx.facts.score * 100)}%: {_quote(sentence)!r}")
            continue
        if value in ctx.numbers or (value.is_integer() and int(value) in _ALWAYS_SUPPORTED):
            continue
        if digits and "." in digits and abs(value - ctx.facts.score) < 0.006:
            continue
        if {"line", "lines"} & set(before) and value.is_integer() and 1 <= value <= ctx.line_count:
            continue
        if {"row", "rows"} & set(before) and value.is_integer() and 1 <= value <= ctx.max_row:
            continue
        reasons.append(f"states the number {match.group(0).strip()!r}, which no fact supports: {_quote(sentence)!r}")
    return reasons


# Names of the characters a pattern is drawn with, and the character each stands for.
_CHARACTER_WORDS = (
    (re.compile(r"\b(?:stars?|asterisks?)\b", _I), "*"),
    (re.compile(r"\bhash(?:es)?\b|\bhash (?:signs?|marks?)\b|\bpound signs?\b", _I), "#"),
    (re.compile(r"\bat signs?\b", _I), "@"),
)


def _character_reasons(plain: str, sentence: str, ctx: _Context) -> list[str]:
    """Names a character (stars, hashes) that no string of the program holds."""
    code = ctx.program.code
    if "chr(" in code or "fromCharCode" in code:
        return []  # the characters are computed: nothing to hold the sentence to
    literals = "".join(m.group(0)[1:-1] for m in _STRING_LITERAL.finditer(code))
    # The pattern's own name ("the Spaced Star Pyramid") names the exercise, not what is printed.
    plain = re.sub(re.escape(ctx.program.slug.replace("-", " ")), "the pattern", plain, flags=_I)
    return [f"says {match.group(0)!r}, but the program prints no {char!r}: {_quote(sentence)!r}"
            for pattern, char in _CHARACTER_WORDS
            for match in pattern.finditer(plain)
            if char not in literals and not _negated(plain, match.start()) and not _advice(plain)][:1]


def _check_sentence(sentence: str, ctx: _Context) -> list[str]:
    reasons: list[str] = []
    plain = _extract_spans(sentence, ctx, reasons)
    reasons += _invented_tokens(plain, sentence, ctx)
    sentence_advice = bool(_SENTENCE_ADVICE.match(plain) or _IMPERATIVE.match(plain)) or _generic(plain)
    for clause in _claim_clauses(plain):
        neutral = sentence_advice or _advice(clause)
        reasons += _construct_reasons(clause, sentence, ctx, neutral)
        reasons += _category_reasons(clause, sentence, ctx, neutral)
        if not neutral:
            reasons += _count_reasons(clause, sentence, ctx)
            reasons += _number_reasons(clause, sentence, ctx)
    reasons += _constant_time_reasons(plain, sentence, ctx)
    reasons += _big_o_reasons(plain, sentence, ctx)
    reasons += _verdict_reasons(plain, sentence, ctx)
    reasons += _error_reasons(plain, sentence, ctx)
    reasons += _character_reasons(plain, sentence, ctx)
    return reasons


def contradictions(program: Program, text: str, facts: JudgedFacts) -> list[str]:
    """One human-readable reason per contradiction between ``text`` (an explanation a learner
    reads) and the facts: ``program``'s hand labels and what the judge measured. Empty: none found."""
    ctx = _context(program, facts)
    reasons: list[str] = []
    text = _check_fences(text, ctx, reasons)
    text = _mask_error(text, facts.error)
    for sentence in split_sentences(text):
        reasons += _check_sentence(sentence, ctx)
    return list(dict.fromkeys(reasons))

