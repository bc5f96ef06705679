"""Every model sentence is checked against the program and the judge before a learner reads it.

A small model says false things with confidence ("a classic example of a recursive function",
an invented `def build_pyramid(...)`). `SentenceVerifier.check` drops a sentence that:

* claims a construct the program lacks (recursion, functions, while loops, comprehensions,
  classes, dictionaries, lists, imports...) or denies one it has ("it has no loops");
* says that line N does something line N does not (reads input, prints, loops, defines...), or
  names a line the program does not have, or gets a range's bounds wrong ("from 1 to n" for
  ``range(1, n)``);
* quotes code, strings or names that are not in the program (builtins aside), or shows a code
  block;
* uses a number the program and the facts do not contain ("a cycle of length 8");
* praises a wrong program or blames a passing one, names another exception than the one raised,
  or talks of crashes, syntax errors or endless loops the judge did not see;
* wanders off topic (Fibonacci, sorting, databases...) or is not a sentence at all (a heading, a
  fragment, a repeat, a question, the cut-off end of the reply).

`SentenceSplitter` cuts the streamed reply into sentences, so each is checked whole before any of
it is shown. Dropping a true sentence costs a little prose; showing a false one costs the
learner's trust: when in doubt, the verifier drops.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from core.domain import Verdict
from judge.languages import support

from .feedback import Facts
from .program import Construct, ProgramCensus, census

# --------------------------------------------------------------------------- sentences


@dataclass(frozen=True, slots=True)
class Sentence:
    text: str
    new_line: bool  # began on a line of its own in the reply (kept as the separator when shown)
    complete: bool = True  # False: the reply was cut off inside it


_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "approx.", "no.")
_FENCE = "```"


class SentenceSplitter:
    """Cuts streamed text into sentences: at . ! ? followed by white space, at line ends, and
    around fenced code blocks (one block is one "sentence", always dropped)."""

    def __init__(self) -> None:
        self._buffer = ""
        self._new_line = True
        self._in_fence = False

    def feed(self, delta: str) -> list[Sentence]:
        self._buffer += delta
        out: list[Sentence] = []
        while True:
            sentence = self._next()
            if sentence is None:
                return out
            if sentence.text.strip():
                out.append(sentence)

    def flush(self, complete: bool = True) -> list[Sentence]:
        """The rest at the end of the reply; ``complete`` False when the reply was cut off."""
        text, self._buffer = self._buffer, ""
        if not text.strip():
            return []
        ends_well = text.rstrip().endswith((".", "!", "?", _FENCE)) and not self._in_fence
        return [Sentence(text.strip(), self._new_line, complete or ends_well)]

    def _take(self, end: int, new_line_after: bool) -> Sentence:
        text = self._buffer[:end]
        self._buffer = self._buffer[end:]
        sentence = Sentence(text.strip(), self._new_line)
        self._new_line = new_line_after
        return sentence

    def _next(self) -> Sentence | None:
        buffer = self._buffer
        if self._in_fence:
            close = buffer.find(_FENCE, buffer.find("\n") + 1 if "\n" in buffer else len(buffer))
            if close < 0 or "\n" not in buffer:
                return None
            end = buffer.find("\n", close)
            if end < 0:
                return None
            self._in_fence = False
            return self._take(end + 1, True)
        stripped = buffer.lstrip()
        if stripped.startswith(_FENCE):
            # Everything up to the closing fence is one block.
            lead = len(buffer) - len(stripped)
            self._buffer = buffer[lead:]
            self._in_fence = True
            return self._next()
        fence = buffer.find(_FENCE)
        for index, char in enumerate(buffer):
            if fence >= 0 and index >= fence:
                if index == fence and buffer[:index].strip():
                    return self._take(index, False)
                break
            if char == "\n":
                return self._take(index + 1, True)
            if char in ".!?" and index + 1 < len(buffer) and buffer[index + 1] in " \t\n":
                head = buffer[: index + 1]
                if _is_abbreviation(head) or _is_list_number(head):
                    continue
                new_line = buffer[index + 1] == "\n"
                return self._take(index + 2 if new_line else index + 1, new_line)
        return None


def _is_abbreviation(head: str) -> bool:
    lowered = head.lower()
    return lowered.endswith(_ABBREVIATIONS) or bool(re.search(r"(^|\s)[a-z]\.$", lowered))


def _is_list_number(head: str) -> bool:
    return bool(re.fullmatch(r"\s*\d+\.", head.rsplit("\n", 1)[-1]))


# --------------------------------------------------------------------------- claims

# A word or phrase that claims the program contains a construct.
_CLAIMS: tuple[tuple[re.Pattern[str], Construct], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), construct) for pattern, construct in (
        (r"\brecurs\w*|\bcalls? itself\b|\bbase case\b", Construct.RECURSION),
        (r"\bfunctions?\b|\bdef\b|\bdefin(?:e|es|ed|ing)\b|\bparameters?\b|\bmethods?\b", Construct.FUNCTION),
        (r"\breturn(?:s|ed|ing)?\b", Construct.RETURN),
        (r"\bwhile[- ]loops?\b|\bwhile (?:statement|condition)s?\b", Construct.WHILE),
        (r"\bfor[- ]loops?\b|\bfor statements?\b", Construct.FOR),
        (r"\bloop\w*|\biterat\w*|\brepeats\b", Construct.LOOP),
        (r"\bnest\w*|\binner (?:for |while )?loops?\b|\bouter (?:for |while )?loops?\b|\bloops? inside\b",
         Construct.NESTED_LOOPS),
        (r"\bcomprehensions?\b|\bgenerator expressions?\b", Construct.COMPREHENSION),
        (r"\bclass(?:es)?\b|\bobject[- ]oriented\b|\binstances?\b|\binherit\w*", Construct.CLASS),
        (r"\bdictionar\w*|\bdicts?\b|\bkey[- ]value\b|\bhash ?maps?\b", Construct.DICT),
        (r"\blists?\b|\barrays?\b", Construct.LIST),
        (r"\blambdas?\b", Construct.LAMBDA),
        (r"\bimport\w*|\bmodules?\b|\blibrar\w*", Construct.IMPORT),
        (r"\btry\b|\bexcept\b|\bcatch\w*|\bexception handling\b", Construct.TRY),
        (r"\bif[- ](?:statement|condition|block|clause|else)s?\b|\bconditionals?\b|\bbranch\w*",
         Construct.IF),
        (r"\belse\b", Construct.ELSE),
        (r"\bbreak(?:s|ing)?\b", Construct.BREAK),
        (r"\bjoin(?:s|ed|ing)?\b", Construct.JOIN),
        (r"\bf-strings?\b|\bformatted strings?\b", Construct.FSTRING),
        (r"\binput\b|\breads?\b|\basks?\b|\benters?\b|\bprompts?\b", Construct.INPUT),
    )
)

# What "Line N ..." may say that line N must show.
_LINE_CLAIMS: tuple[tuple[re.Pattern[str], frozenset[Construct]], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), frozenset(constructs)) for pattern, constructs in (
        (r"\bprint(?:s|ed|ing)?\b|\bdisplays?\b|\boutputs?\b", (Construct.PRINT,)),
        (r"\bincrement\w*|\badds? (?:1|one) to\b|\bincreases?\b", (Construct.INCREMENT, Construct.ASSIGN)),
        (r"\bsets?\b|\bstarts? (?:the )?\w+ (?:counter )?at\b|\bassign\w*|\bstores?\b", (Construct.ASSIGN,)),
        (r"\bcheck\w*|\btests? whether\b|\bif\b", (Construct.IF, Construct.LOOP)),
    )
)

_NEGATION = re.compile(
    r"\b(?:no|not|without|never|nor|none|neither|instead of|rather than|doesn't|does not|don't|"
    r"do not|isn't|is not|aren't|are not|didn't|did not|cannot|can't|lacks?)\b", re.IGNORECASE)
_CLAUSE_BREAK = re.compile(r"[,;:]|\b(?:but|and|so|which|that|because|while)\b", re.IGNORECASE)

_OFF_TOPIC = re.compile(
    r"\b(?:fibonacci|factorial|primes?|pythagor\w*|square roots?|matri(?:x|ces)|grids?|dynamic programming|"
    r"memoi\w*|binary|sort\w*|databases?|files?|network\w*|threads?|stacks?|queues?|trees?|graphs?|"
    r"combinations?|permutations?|probabilit\w*|random\w*|games?|algorithms?|efficien\w*|optimi\w*|"
    r"memory|compilers?|interpreters?|cycl(?!omatic)\w*|multiples?|modul\w*|divisib\w*|sum|products?|"
    r"areas?|perimeters?|api|web|http|json|classic example|generators?|yield|tuples?|boolean)\b",
    re.IGNORECASE)

_BLAME = re.compile(
    r"\b(?:bugs?|buggy|errors?|wrong|incorrect\w*|mistakes?|fail\w*|crash\w*|fix\w*|off-by-one|broken|"
    r"missing|problems?|issues?|infinite|forever|indefinitely|should be)\b|does(?:n't| not) match",
    re.IGNORECASE)
_PRAISE = re.compile(
    r"\b(?:correct(?:ly)?|the right (?:pattern|output|rows?|shape|answer)|works|working|well done|perfect\w*|"
    # "prints the right triangle pattern": the pattern's name reads as a claim that it prints it.
    r"(?:prints?|draws?|produces?|outputs?|displays?|creates?|generates?|makes?) the (?:right|expected|desired|"
    r"required|target)|"
    r"great|good job|nice|excellent|as expected|success\w*|passe[sd]|no (?:errors?|bugs?|mistakes?))\b",
    re.IGNORECASE)
_CRASH = re.compile(r"\b(?:crash\w*|raises?|raised|throws?|exceptions?|traceback|stops? with)\b", re.IGNORECASE)
_SYNTAX = re.compile(r"\bsyntax\b|\bindentation\b|\bcould not (?:read|parse)\b", re.IGNORECASE)
_ENDLESS = re.compile(r"\binfinite\w*|\bforever\b|\bindefinitely\b|\bnever (?:stops|ends)\b|\btime limit\b",
                      re.IGNORECASE)
_EXCEPTION_NAME = re.compile(r"\b[A-Z][A-Za-z]*(?:Error|Exception)\b")

_LABEL = re.compile(r"^[\W_]*[A-Za-z][\w ()/-]{0,40}:\s*\S{0,40}$")
_LINE_REF = re.compile(r"^\W*(?:on |in )?lines? (\d+)(?:\s*(?:-|–|to|and)\s*(\d+))?\b", re.IGNORECASE)
_ANY_LINE_REF = re.compile(r"\blines? (\d+)\b", re.IGNORECASE)
_QUOTED = re.compile(r"`([^`]+)`|\"([^\"]+)\"|(?<![A-Za-z])'([^']+)'(?![A-Za-z])")
_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_CODE_WORD = re.compile(r"\b(?:[a-z]+_\w*|_\w+|[a-z]+[A-Z]\w*|[A-Za-z]+\d+\w*)\b")
_SINGLE_LETTER = re.compile(r"(?<![\w'.^-])([b-zB-HJ-NP-Z])(?![\w'(])")
_NUMBER = re.compile(r"(?<![\w.])(\d+)(?:\.\d+)?(%)?(?![\w])")
_WORD_NUMBERS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twice": 2, "thrice": 3, "single": 1, "double": 2,
    "triple": 3, "half": 2,
}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_WORD_NUMBERS) + r")\b", re.IGNORECASE)
_LOOP_COUNT = re.compile(r"\b(\d+|" + "|".join(_WORD_NUMBERS) + r")\s+(?:nested\s+)?(?:for\s+|while\s+)?loops?\b",
                         re.IGNORECASE)
_RANGE_WORDS = re.compile(r"\bfrom\s+(.+?)\s+(?:up\s+)?to\s+(.+?)(?=[,;.]|\s+and\b|\s+so\b|\s+then\b|\s+each\b|$)",
                          re.IGNORECASE)
_RANGE_CALL = re.compile(r"\brange\(([^()]*(?:\([^()]*\))?[^()]*)\)")
_COUNT_OF = re.compile(
    r"\bof ([\w()]+(?:\s*[-+*]\s*[\w()]+)*) (?:stars?|hash(?:es)?|spaces?|characters?|letters?|digits?|"
    r"numbers?|asterisks?|symbols?|marks?|x's?)\b", re.IGNORECASE)
_STRING_REPEAT = re.compile(
    r"""(?:'[^']*'|"[^"]*")\s*\*\s*(\([^()]*(?:\([^()]*\))?[^()]*\)|[\w.]+)"""
    r"""|(\([^()]*\)|[\w.]+)\s*\*\s*(?:'[^']*'|"[^"]*")""")
# The characters a sentence can name, which the program must print. A model copies the
# examples' "a row of i hashes" onto a line that prints stars.
_CHARACTER_NAMES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), characters) for pattern, characters in (
        (r"\b(?:stars?|asterisks?)\b", "*"),
        (r"\bhash(?:es|tags?| signs?| marks?)?\b|\bpound signs?\b|\bnumber signs?\b", "#"),
        (r"\bat[- ]signs?\b", "@"),
        (r"\bx['’]s\b|\bletters? x\b", "xX"),
        (r"\b(?:dots|periods|full stops)\b", "."),
        (r"\b(?:dashes|hyphens)\b", "-"),
    ))
_ALWAYS_FINE_NUMBERS = frozenset({0, 1})
_MAX_WORDS = 45


@dataclass(frozen=True, slots=True)
class Check:
    sentence: str
    reason: str | None  # None: kept

    @property
    def kept(self) -> bool:
        return self.reason is None


@dataclass
class SentenceVerifier:
    """Checks the model's sentences about one program (`facts`), in the order they come."""

    facts: Facts
    program: ProgramCensus = field(init=False)
    _numbers: frozenset[int] = field(init=False)
    _texts: frozenset[str] = field(init=False)
    _builtins: frozenset[str] = field(init=False)
    _seen: set[str] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.program = census(self.facts.code, self.facts.language)
        self._builtins = support(self.facts.language).idioms.builtin_names
        self._numbers = frozenset(_fact_numbers(self.facts, self.program))
        rows = {r.strip() for r in self.facts.expected_preview if r.strip()}
        for _, _, expected, actual in self.facts.mismatches:
            rows.update(r.strip() for r in (expected, actual) if r and r.strip())
        self._texts = frozenset(rows | {s.strip() for s in self.program.strings if s.strip()})

    def check(self, sentence: Sentence) -> Check:
        reason = self._reason(sentence)
        if reason is None:
            self._seen.add(_normalise(sentence.text))
        return Check(sentence.text, reason)

    # ------------------------------------------------------------------ the rules, in order

    def _reason(self, sentence: Sentence) -> str | None:
        text = sentence.text.strip()
        if text.startswith(_FENCE):
            return "shows a code block"
        if not sentence.complete:
            return "cut off"
        text = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s+", "", text)  # a list item is checked as a sentence
        words = re.findall(r"[A-Za-z']+", text)
        if len(words) < 4:
            return "not a sentence"
        if len(words) > _MAX_WORDS:
            return "too long"
        if _LABEL.match(text) or text.rstrip().endswith(":"):
            return "a heading or an introduction to something not shown"
        if text.rstrip().endswith("?"):
            return "a question"
        if _normalise(text) in self._seen:
            return "repeats an earlier sentence"
        if re.search(r"\(\)\s*\(\)", text):
            return "garbled"
        plain = _unquoted(text)
        reason = (self._quoted(text) or self._line_claims(text) or self._verdict(text)
                  or self._constructs(plain) or self._names(plain) or self._numbers_in(plain)
                  or self._off_topic(plain))
        if reason is None and not _LINE_REF.match(text):
            # Measured over the corpus, a small model's sentences about the program as a whole
            # ("if i equals n, it calls itself twice") are mostly false in ways no rule sees;
            # about one line, what it says can be held to that line.
            return "not about one line of the program"
        return reason

    def _quoted(self, text: str) -> str | None:
        """Quoted code or text must be the program's own (or a row of the pattern)."""
        for match in _QUOTED.finditer(text):
            quoted = next(g for g in match.groups() if g is not None).strip()
            if not quoted or self._in_program(quoted):
                continue
            return f"quotes {quoted!r}, which is not in the program"
        return None

    def _in_program(self, quoted: str) -> bool:
        squeezed = _squeeze(quoted)
        if squeezed and squeezed in _squeeze(self.program.source):
            return True
        return quoted in self._texts or quoted in self.program.names or quoted.rstrip("()") in self._builtins

    def _line_claims(self, text: str) -> str | None:
        """"Line N does X": X must be what line N does, with that line's own names and numbers."""
        for match in _ANY_LINE_REF.finditer(text):
            if not 1 <= int(match.group(1)) <= self.program.line_count:
                return f"names line {match.group(1)}; the program has {self.program.line_count}"
        match = _LINE_REF.match(text)
        if match is None:
            return None
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if not first <= last <= self.program.line_count:
            return f"names lines {first}-{last}; the program has {self.program.line_count}"
        source_lines = self.program.source.splitlines()[first - 1:last]
        if not any(line.strip() for line in source_lines):
            return f"describes line {first}, which is empty"
        if not self.program.parsed:
            # Python cannot read it, so no line is known to do anything; and the line a model
            # misreads is the broken one it is explaining.
            return f"describes line {first} of a program Python cannot read"
        on_lines = set().union(*(self.program.lines.get(n, frozenset()) for n in range(first, last + 1)))
        rest = _unquoted(text[match.end():])
        verified = False
        for pattern, construct in _CLAIMS:
            if construct is Construct.ELSE:
                continue
            for found in pattern.finditer(rest):
                if _negated(rest, found.start()) or _builtin_use(rest, found):
                    continue
                if construct in on_lines or (construct is Construct.LOOP and Construct.COMPREHENSION in on_lines):
                    verified = True
                    continue
                return f"says line {first} has {construct.value}; it does not"
        calls = re.search(r"\bcall(?:s|ed|ing)?\b", rest)
        if calls and not _negated(rest, calls.start()):
            if not self._calls_own_function(source_lines):
                return f"says line {first} calls a function of the program; it does not"
            verified = True
        for pattern, needs in _LINE_CLAIMS:
            found = pattern.search(rest)
            if found is None or _negated(rest, found.start()):
                continue
            if needs & on_lines or (Construct.PRINT in needs and self._calls_own_function(source_lines)):
                verified = True
                continue
            return f"says line {first} does what it does not ({found.group(0)!r})"
        if not verified:
            return f"says nothing about line {first} that can be checked"
        code = "\n".join(source_lines)
        for name in _named_code(rest):
            if not re.search(rf"(?<!\w){re.escape(name)}(?!\w)", code):
                return f"names {name} on line {first}, which does not have it"
        for value in _numbers(rest):
            if value not in (0, 1) and not re.search(rf"(?<![\w.]){value}(?![\w.])", code):
                return f"says {value} about line {first}, which does not have it"
        return (self._range_bounds(rest, source_lines) or self._repeat_counts(rest, source_lines)
                or self._characters(rest) or _comparisons(rest, code))

    def _repeat_counts(self, text: str, lines: list[str]) -> str | None:
        """"a row of i stars" about a line with '*' * (i + 1): the count must be one the line
        repeats a string by."""
        counts = {_squeeze(c).strip("()") for line in lines for c in _repeat_operands(line)}
        if not counts:
            return None
        for said in _COUNT_OF.findall(text):
            said = _squeeze(said).strip("()")
            if said.isalpha() and said.lower() in _WORD_NUMBERS:
                said = str(_WORD_NUMBERS[said.lower()])
            if said not in counts:
                return f"says {said} characters; the line repeats by {' or '.join(sorted(counts))}"
        return None

    def _characters(self, text: str) -> str | None:
        """"a row of stars": the program's strings must hold that character (another line's
        will do, for `print(row)` or `" ".join(stars)`)."""
        printed = "".join(self.program.strings)
        for pattern, characters in _CHARACTER_NAMES:
            for found in pattern.finditer(text):
                if not _negated(text, found.start()) and not any(c in printed for c in characters):
                    shown = ", ".join(repr(c) for c in sorted(set(printed) - {" "})[:4]) or "no character"
                    return f"says {found.group(0)}; the program prints {shown}"
        return None

    def _calls_own_function(self, lines: list[str]) -> bool:
        return any(re.search(rf"\b{re.escape(name)}\s*\(", line) for name in self.program.functions for line in lines)

    def _range_bounds(self, text: str, lines: list[str]) -> str | None:
        """"from A to B" about a line with range(start, stop) must say B = stop - 1."""
        words = _RANGE_WORDS.search(text)
        calls = [c for line in lines for c in _RANGE_CALL.findall(line)]
        if words is None or len(calls) != 1:
            return None
        args = [a.strip() for a in _split_args(calls[0])]
        if len(args) == 1:
            start, stop = "0", args[0]
        elif len(args) == 2:
            start, stop = args
        else:
            return None  # a step: the words "from .. to .." are too loose to hold to it
        said_start, said_stop = _squeeze(words.group(1)), _squeeze(words.group(2))
        if said_start != _squeeze(start):
            return f"says the range starts at {words.group(1)!r}; it starts at {start!r}"
        last = _minus_one(stop)
        if last is not None and said_stop not in last:
            return f"says the range goes to {words.group(2)!r}; its last value is {_pretty(last)}"
        return None

    def _verdict(self, text: str) -> str | None:
        verdict = self.facts.verdict
        if verdict is None:
            return None
        error = self.facts.error or ""
        for name in _EXCEPTION_NAME.findall(text):
            if name not in error:
                return f"names {name}; the judge saw {_exception_in(error) or 'no exception'}"
        if verdict == Verdict.PASSED:
            found = _first_unnegated(_BLAME, text)
            if found:
                return f"blames a program that passed ({found!r})"
        else:
            found = _first_unnegated(_PRAISE, text)
            if found:
                return f"praises a program that did not pass ({found!r})"
        if verdict != Verdict.RUNTIME_ERROR and _first_unnegated(_CRASH, text):
            return "talks of a crash the judge did not see"
        if verdict != Verdict.SYNTAX_ERROR and _first_unnegated(_SYNTAX, text):
            return "talks of a syntax error the judge did not see"
        if verdict != Verdict.TIMEOUT and _first_unnegated(_ENDLESS, text):
            return "talks of an endless loop the judge did not see"
        return None

    def _constructs(self, text: str) -> str | None:
        present = self.program.constructs
        for pattern, construct in _CLAIMS:
            for found in pattern.finditer(text):
                if _builtin_use(text, found):
                    continue
                negated = _negated(text, found.start())
                if construct in present and negated:
                    return f"denies {construct.value}, which the program has"
                if construct not in present and not negated:
                    if construct is Construct.RETURN and Construct.INPUT in present and "input" in text.lower():
                        continue  # "input() returns the text typed"
                    return f"claims {construct.value}; the program has none"
        count = _LOOP_COUNT.search(text)
        if count is not None and _as_int(count.group(1)) != self.facts.loops:
            return f"counts {count.group(1)} loops; the program has {self.facts.loops}"
        return None

    def _names(self, text: str) -> str | None:
        known = self.program.names | self._builtins
        for name in _CALL.findall(text):
            if name not in known:
                return f"names {name}(), which is not in the program"
        for word in _CODE_WORD.findall(text):
            if word not in known and word.lower() not in ("f-string",):
                return f"names {word}, which is not in the program"
        for letter in _SINGLE_LETTER.findall(text):
            if letter not in self.program.names:
                return f"names {letter}, which is not in the program"
        return None

    def _numbers_in(self, text: str) -> str | None:
        text = _ANY_LINE_REF.sub(" ", text)  # line numbers were checked on their own
        for match in _NUMBER.finditer(text):
            value = int(match.group(1))
            if match.group(2):  # a percentage: the score's
                if self.facts.score is None or value != round(self.facts.score * 100):
                    return f"says {value}%, which no fact supports"
                continue
            if value not in self._numbers:
                return f"says {value}, which no fact supports"
        for match in _NUMBER_WORD.finditer(text):
            value = _WORD_NUMBERS[match.group(1).lower()]
            if value not in self._numbers and match.group(1).lower() not in ("single", "half", "double"):
                return f"says {match.group(1)!r}, which no fact supports"
        return None

    def _off_topic(self, text: str) -> str | None:
        source = (self.program.source + " " + (self.facts.error or "")).lower()
        for found in _OFF_TOPIC.finditer(text):
            word = found.group(0).lower()
            if word.rstrip("s") not in source:
                return f"off topic ({found.group(0)!r})"
        return None


# --------------------------------------------------------------------------- helpers


_COMPARISONS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p, re.IGNORECASE), op) for p, op in (
    (r"\b(?:greater|more|larger|bigger) than or equal to\b|\bat least\b", ">="),
    (r"\b(?:less|smaller|fewer) than or equal to\b|\bat most\b", "<="),
    (r"\b(?:greater|more|larger|bigger) than\b", ">"),
    (r"\b(?:less|smaller|fewer) than\b", "<"),
    (r"\b(?:is )?(?:equal to|equals)\b", "=="),
    (r"\bnot equal\b|\bdiffers? from\b", "!="),
))
_FLIPPED = {">=": "<=", "<=": ">=", ">": "<", "<": ">", "==": "==", "!=": "!="}


def _comparisons(text: str, code: str) -> str | None:
    """"greater than" about a line must match a comparison the line makes (either way round)."""
    found_ops = set(re.findall(r"<=|>=|==|!=|<|>", code))
    for pattern, op in _COMPARISONS:
        for found in pattern.finditer(text):
            if _negated(text, found.start()):
                continue
            if op not in found_ops and _FLIPPED[op] not in found_ops:
                return f"says {found.group(0)!r}; the line compares with {', '.join(sorted(found_ops)) or 'nothing'}"
            text = text[:found.start()] + " " * len(found.group(0)) + text[found.end():]
    return None


def _repeat_operands(line: str) -> list[str]:
    return [a or b for a, b in _STRING_REPEAT.findall(line)]


def _named_code(text: str) -> set[str]:
    """Code names a sentence uses: calls, snake_case and camelCase words, single letters, and the
    builtins a pattern program uses, by name."""
    names = set(_CALL.findall(text)) | set(_CODE_WORD.findall(text)) | set(_SINGLE_LETTER.findall(text))
    names.update(re.findall(r"\b(?:" + "|".join(_COMMON_BUILTINS) + r")\b", text))
    return names


def _numbers(text: str) -> set[int]:
    values = {int(m.group(1)) for m in _NUMBER.finditer(text)}
    values.update(_WORD_NUMBERS[w.lower()] for w in _NUMBER_WORD.findall(text)
                  if w.lower() not in ("single", "half", "double"))
    return values


def _fact_numbers(facts: Facts, program: ProgramCensus) -> set[int]:
    numbers = set(_ALWAYS_FINE_NUMBERS) | set(program.numbers)
    numbers.update(facts.sizes_tested)
    numbers.update({facts.loops, facts.max_nesting_depth, facts.cyclomatic, facts.conditions})
    numbers.update(int(d) for d in re.findall(r"\d+", facts.big_o))
    numbers.update(int(d) for d in re.findall(r"\d+", facts.error or ""))
    numbers.add(len(facts.expected_preview))
    numbers.update(len(row.replace(" ", "")) for row in facts.expected_preview)
    for size, row, expected, actual in facts.mismatches:
        numbers.update({size, row})
        numbers.update(len(r.replace(" ", "")) for r in (expected, actual) if r)
        numbers.update(len(r) - len(r.lstrip(" ")) for r in (expected, actual) if r)
    # "n - 1", "n + 1": one off what the code says is still the code's own arithmetic.
    numbers.update(n + d for n in program.numbers for d in (-1, 1) if n + d >= 0)
    return numbers


def _unquoted(text: str) -> str:
    text = re.sub(r"\b(?:e\.g|i\.e)\.", " ", text, flags=re.IGNORECASE)
    return _QUOTED.sub(" QUOTE ", text)


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text).replace('"', "'")


def _normalise(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def _negated(text: str, position: int) -> bool:
    """A negation earlier in the same clause ("it has no loops", "without nesting")."""
    clause = text[:position]
    breaks = list(_CLAUSE_BREAK.finditer(clause))
    if breaks:
        clause = clause[breaks[-1].end():]
    return bool(_NEGATION.search(clause[-40:]))


def _first_unnegated(pattern: re.Pattern[str], text: str) -> str | None:
    for found in pattern.finditer(text):
        if not _negated(text, found.start()):
            return found.group(0)
    return None


def _builtin_use(text: str, found: re.Match[str]) -> bool:
    """"the built-in print function", "range() returns", "input() function": not a claim of a def."""
    before = text[max(0, found.start() - 24):found.start()].lower()
    if "built-in" in before or "builtin" in before:
        return True
    if found.group(0).lower().startswith("function") and re.search(r"\b(?:lambda|anonymous)\s*$", before):
        return True  # "the lambda function": a lambda, checked as one
    word = found.group(0).lower()
    if word.startswith(("function", "method", "return", "parameter")):
        return bool(re.search(r"\b(?:" + "|".join(_COMMON_BUILTINS) + r")\b(?:\(\))?\s*(?:'s\s*)?$", before))
    return False


_COMMON_BUILTINS = ("print", "range", "input", "int", "str", "len", "join", "center", "rjust", "ljust")


def _as_int(word: str) -> int:
    return int(word) if word.isdigit() else _WORD_NUMBERS[word.lower()]


def _exception_in(error: str) -> str | None:
    found = _EXCEPTION_NAME.findall(error)
    return found[-1] if found else None


def _split_args(args: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in args:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += char in "([{"
        depth -= char in ")]}"
        current += char
    parts.append(current)
    return parts


def _minus_one(stop: str) -> set[str] | None:
    """The ways to write stop - 1 (squeezed), or None when it is not plain arithmetic."""
    squeezed = _squeeze(stop)
    if squeezed.isdigit():
        return {str(int(squeezed) - 1)}
    if match := re.fullmatch(r"(.+)\+1", squeezed):
        return {match.group(1), f"({match.group(1)})"}
    if re.fullmatch(r"[A-Za-z_]\w*", squeezed):
        return {f"{squeezed}-1"}
    if match := re.fullmatch(r"(.+)\+(\d+)", squeezed):
        return {f"{match.group(1)}+{int(match.group(2)) - 1}"}
    return None


def _pretty(options: Iterable[str]) -> str:
    return min(options, key=len)
