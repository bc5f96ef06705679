"""The pattern catalog: required previews, reference programs, normalisation and thread safety."""

from __future__ import annotations

import re
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor

import pytest

import catalog
from catalog import (
    CATEGORIES,
    PATTERNS,
    PatternDef,
    expected_output,
    get_pattern,
    normalize_output,
    preview,
    run_reference,
)

# The previews other parts of the product (and learners' bookmarks) rely on, at the default size.
REQUIRED_PREVIEWS: dict[str, list[str]] = {
    "square-solid": ["****", "****", "****", "****"],
    "right-triangle": ["*", "**", "***", "****"],
    "left-triangle": ["   *", "  **", " ***", "****"],
    "inverted-right-triangle": ["****", "***", "**", "*"],
    "isosceles-triangle": ["  *", " ***", "*****"],
    "hollow-square": ["****", "*  *", "*  *", "****"],
    "hollow-rectangle": ["******", "*    *", "*    *", "******"],
    "hollow-right-triangle": ["*", "**", "* *", "****"],
    "diamond-solid": ["  *", " ***", "*****", " ***", "  *"],
    "hollow-diamond": ["  *", " * *", "*   *", " * *", "  *"],
    "number-triangle": ["1", "12", "123", "1234"],
    "floyds-triangle": ["1", "2 3", "4 5 6", "7 8 9 10"],
    "butterfly": ["*    *", "**  **", "******", "**  **", "*    *"],
    "x-pattern": ["*   *", " * *", "  *", " * *", "*   *"],
}
REQUIRED_CATEGORIES = {"basic-star", "hollow", "diamond", "number", "special"}
KEBAB = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
SMALL_SIZES = range(1, 13)


def small_sizes(p: PatternDef) -> list[int]:
    return [n for n in SMALL_SIZES if p.min_size <= n <= p.max_size]


def all_ids(patterns: tuple[PatternDef, ...] = PATTERNS) -> list[str]:
    return [p.slug for p in patterns]


# ------------------------------------------------------------------ required patterns


@pytest.mark.parametrize("slug", sorted(REQUIRED_PREVIEWS))
def test_required_preview(slug: str) -> None:
    expected = [row.rstrip() for row in REQUIRED_PREVIEWS[slug]]
    assert list(preview(get_pattern(slug))) == expected


@pytest.mark.parametrize("slug", sorted(REQUIRED_PREVIEWS))
def test_required_patterns_start_at_size_one(slug: str) -> None:
    p = get_pattern(slug)
    assert p.min_size == 1
    assert p.max_size >= 12


# ------------------------------------------------------------------ every pattern


@pytest.mark.parametrize("p", PATTERNS, ids=all_ids())
def test_preview_is_the_reference_at_default_size(p: PatternDef) -> None:
    shown = preview(p)
    assert len(shown) > 0
    assert list(shown) == run_reference(p.reference, p.rows)


@pytest.mark.parametrize("p", PATTERNS, ids=all_ids())
def test_reference_works_for_small_sizes(p: PatternDef) -> None:
    sizes = small_sizes(p)
    assert sizes, "a pattern must be defined for some size in 1..12"
    for n in sizes:
        lines = run_reference(p.reference, n)
        assert lines, f"{p.slug} printed nothing at n={n}"
        assert any(line.strip() for line in lines)


@pytest.mark.parametrize("p", PATTERNS, ids=all_ids())
def test_reference_is_sane_over_the_whole_size_range(p: PatternDef) -> None:
    for n in range(p.min_size, p.max_size + 1):
        lines = expected_output(p, n)
        assert lines and lines[0].strip(), f"{p.slug} at n={n} starts with a blank row"
        # Normalised: no trailing whitespace, no trailing blank row, no stray control characters.
        assert all(line == line.rstrip() for line in lines)
        assert all(line.isprintable() for line in lines)


@pytest.mark.parametrize("p", PATTERNS, ids=all_ids())
def test_reference_reads_n_and_looks_like_a_program(p: PatternDef) -> None:
    assert p.reference.startswith("n = int(input())\n")
    assert p.reference.endswith("\n") and not p.reference.endswith("\n\n")
    compile(p.reference, p.slug, "exec")


# ------------------------------------------------------------------ catalog shape


def test_catalog_size_and_unique_kebab_slugs() -> None:
    slugs = [p.slug for p in PATTERNS]
    assert len(PATTERNS) >= 32
    assert len(set(slugs)) == len(slugs)
    assert all(KEBAB.fullmatch(s) for s in slugs)
    assert set(REQUIRED_PREVIEWS) <= set(slugs)


def test_categories_and_difficulties() -> None:
    assert {p.category for p in PATTERNS} >= REQUIRED_CATEGORIES
    assert {p.category for p in PATTERNS} <= set(CATEGORIES)
    assert all(KEBAB.fullmatch(p.category) for p in PATTERNS)
    assert {p.difficulty for p in PATTERNS} == {"EASY", "MEDIUM", "HARD"}
    assert sum(p.difficulty == "HARD" for p in PATTERNS) >= 4


def test_catalog_order_goes_from_easy_to_hard() -> None:
    rank = {"EASY": 0, "MEDIUM": 1, "HARD": 2}
    ranks = [rank[p.difficulty] for p in PATTERNS]
    assert ranks == sorted(ranks)


@pytest.mark.parametrize("p", PATTERNS, ids=all_ids())
def test_fields_are_consistent(p: PatternDef) -> None:
    assert 1 <= p.min_size <= p.rows <= p.max_size <= 50
    assert p.name.strip() and p.formula.strip()
    assert 20 <= len(p.description) <= 400
    assert p.loops >= 1 and p.conditions >= 0


def test_pattern_def_is_frozen_and_hashable() -> None:
    p = get_pattern("right-triangle")
    with pytest.raises(AttributeError):
        p.rows = 7  # type: ignore[misc]
    assert hash(p) == hash(get_pattern("right-triangle"))


def test_pattern_def_rejects_bad_data() -> None:
    base = get_pattern("right-triangle")
    fields = {name: getattr(base, name) for name in base.__slots__}
    for bad in ({"slug": "Right_Triangle"}, {"difficulty": "easy"}, {"category": "Not A Category"},
                {"rows": 0}, {"rows": 60}, {"min_size": 0, "rows": 1}):
        with pytest.raises(ValueError):
            PatternDef(**{**fields, **bad})
    # A category the catalog does not use is fine (patterns added in the database may bring one).
    assert PatternDef(**{**fields, "category": "zig-zags"}).category == "zig-zags"


def test_get_pattern() -> None:
    assert get_pattern("floyds-triangle").name == "Floyd's Triangle"
    with pytest.raises(KeyError):
        get_pattern("no-such-pattern")


def test_public_interface() -> None:
    for name in ("PatternDef", "PATTERNS", "get_pattern", "run_reference", "expected_output", "preview",
                 "normalize_output"):
        assert name in catalog.__all__
        assert hasattr(catalog, name)


# ------------------------------------------------------------------ expected_output


def test_expected_output_rejects_sizes_outside_the_range() -> None:
    for p in (get_pattern("right-triangle"), get_pattern("number-pyramid"), get_pattern("alphabet-triangle")):
        for n in (p.min_size - 1, p.max_size + 1, -5):
            with pytest.raises(ValueError):
                expected_output(p, n)
        expected_output(p, p.min_size)
        expected_output(p, p.max_size)


def test_expected_output_is_cached_tuple() -> None:
    p = get_pattern("hollow-square")
    first = expected_output(p, 7)
    assert isinstance(first, tuple)
    assert expected_output(p, 7) is first
    assert preview(p) == expected_output(p, p.rows)


# ------------------------------------------------------------------ normalize_output


def test_normalize_strips_trailing_whitespace_and_blank_lines() -> None:
    assert normalize_output("*  \n**\t\n***   \n\n  \n") == ["*", "**", "***"]


def test_normalize_keeps_leading_spaces_and_inner_blank_lines() -> None:
    assert normalize_output("  *\n\n *\n") == ["  *", "", " *"]
    assert normalize_output("\n*\n") == ["", "*"]


def test_normalize_handles_crlf_and_missing_final_newline() -> None:
    assert normalize_output("a \r\n b\r\n\r\n") == ["a", " b"]
    assert normalize_output("a\nb") == normalize_output("a\r\nb\r\n") == ["a", "b"]


def test_normalize_empty() -> None:
    assert normalize_output("") == []
    assert normalize_output(" \n\n\r\n") == []


# ------------------------------------------------------------------ run_reference


def test_run_reference_print_arguments_and_input() -> None:
    source = (
        "n = int(input())\n"
        "print('a', 'b', sep='-', end='|')\n"
        "print(n, input('size? '), sep='')\n"
        "print(*range(n), sep=', ')\n"
        "print()\n"
        "print('x', end='')\n"
        "print('y', sep=None, end=None)\n"
    )
    assert run_reference(source, 3) == ["a-b|33", "0, 1, 2", "", "xy"]


def test_run_reference_captures_stdout_but_not_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    source = "import sys\nprint('out', file=sys.stdout)\nprint('err', file=sys.stderr)\nprint('plain')\n"
    assert run_reference(source, 1) == ["out", "plain"]
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "err\n"


def test_run_reference_leaves_real_stdout_alone(capsys: pytest.CaptureFixture[str]) -> None:
    run_reference(get_pattern("square-solid").reference, 3)
    assert capsys.readouterr().out == ""


def test_run_reference_propagates_errors_with_a_named_file() -> None:
    with pytest.raises(ZeroDivisionError) as info:
        run_reference("n = int(input())\nprint(1 // (n - n))\n", 2, name="broken")
    frames = traceback.extract_tb(info.value.__traceback__)
    assert any(frame.filename == "<reference broken>" for frame in frames)


def test_run_reference_is_thread_safe() -> None:
    patterns = [get_pattern(s) for s in ("diamond-solid", "floyds-triangle", "spiral-number-square", "heart")]
    jobs = [(p, n) for p in patterns for n in range(1, 9)]
    sequential = {(p.slug, n): run_reference(p.reference, n) for p, n in jobs}
    start = threading.Barrier(8)

    def worker(offset: int) -> list[tuple[str, int, list[str]]]:
        start.wait()  # all 8 threads run their programs at the same time
        results = []
        for _ in range(5):
            for p, n in jobs[offset:] + jobs[:offset]:
                results.append((p.slug, n, run_reference(p.reference, n)))
        return results

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(worker, [i * 4 for i in range(8)]))
    for results in outcomes:
        for slug, n, lines in results:
            assert lines == sequential[(slug, n)], (slug, n)


# ------------------------------------------------------------------ structural properties


@pytest.mark.parametrize("n", SMALL_SIZES)
def test_right_triangle_row_i_has_i_stars(n: int) -> None:
    lines = expected_output(get_pattern("right-triangle"), n)
    assert list(lines) == ["*" * i for i in range(1, n + 1)]


@pytest.mark.parametrize("n", SMALL_SIZES)
def test_floyds_triangle_counts_in_order(n: int) -> None:
    lines = expected_output(get_pattern("floyds-triangle"), n)
    assert [len(line.split()) for line in lines] == list(range(1, n + 1))
    numbers = [int(x) for line in lines for x in line.split()]
    assert numbers == list(range(1, n * (n + 1) // 2 + 1))


@pytest.mark.parametrize("n", SMALL_SIZES)
def test_diamonds_are_symmetric(n: int) -> None:
    for slug in ("diamond-solid", "hollow-diamond"):
        lines = expected_output(get_pattern(slug), n)
        assert len(lines) == 2 * n - 1
        assert lines == lines[::-1]  # top to bottom
        width = 2 * n - 1
        assert all(line.ljust(width) == line.ljust(width)[::-1] for line in lines)  # left to right
        assert max(len(line) for line in lines) == width


@pytest.mark.parametrize("n", SMALL_SIZES)
def test_hollow_diamond_is_the_outline_of_the_solid_one(n: int) -> None:
    solid = expected_output(get_pattern("diamond-solid"), n)
    hollow = expected_output(get_pattern("hollow-diamond"), n)
    for full, outline in zip(solid, hollow, strict=True):
        first, last = full.index("*"), len(full) - 1
        assert outline[: first + 1] == full[: first + 1]
        assert outline[-1] == "*" and len(outline) == len(full)
        assert set(outline[first + 1 : last]) <= {" "}


@pytest.mark.parametrize("n", SMALL_SIZES)
def test_hollow_square_and_rectangle_borders(n: int) -> None:
    for slug, width in (("hollow-square", n), ("hollow-rectangle", n + 2)):
        lines = expected_output(get_pattern(slug), n)
        assert len(lines) == n
        assert lines[0] == lines[-1] == "*" * width
        assert all(line == "*" + " " * (width - 2) + "*" for line in lines[1:-1])


@pytest.mark.parametrize("n", SMALL_SIZES)
def test_x_pattern_has_both_diagonals(n: int) -> None:
    lines = expected_output(get_pattern("x-pattern"), n)
    assert len(lines) == n
    for i, line in enumerate(lines):
        stars = {j for j, ch in enumerate(line) if ch == "*"}
        assert stars == {i, n - 1 - i}


@pytest.mark.parametrize("n", SMALL_SIZES)
def test_butterfly_is_mirrored(n: int) -> None:
    lines = expected_output(get_pattern("butterfly"), n)
    assert len(lines) == 2 * n - 1
    assert lines == lines[::-1]
    assert all(line == line[::-1] for line in lines)
    assert lines[n - 1] == "*" * (2 * n)


@pytest.mark.parametrize("n", range(1, 21))
def test_pascal_rows_sum_to_powers_of_two(n: int) -> None:
    lines = expected_output(get_pattern("pascal-triangle"), n)
    rows = [[int(x) for x in line.split()] for line in lines]
    assert [sum(row) for row in rows] == [2**i for i in range(n)]
    assert all(row == row[::-1] for row in rows)


@pytest.mark.parametrize("n", range(1, 21))
def test_spiral_is_a_walk_through_every_cell(n: int) -> None:
    lines = expected_output(get_pattern("spiral-number-square"), n)
    grid = [[int(x) for x in line.split()] for line in lines]
    where = {value: (i, j) for i, row in enumerate(grid) for j, value in enumerate(row)}
    assert sorted(where) == list(range(1, n * n + 1))
    assert where[1] == (0, 0)
    for k in range(1, n * n):
        (a, b), (c, d) = where[k], where[k + 1]
        assert abs(a - c) + abs(b - d) == 1  # consecutive numbers are neighbours
    assert grid[0] == list(range(1, n + 1))  # starts along the top row, clockwise


@pytest.mark.parametrize("n", range(1, 10))
def test_palindromic_pyramids(n: int) -> None:
    for slug in ("number-pyramid", "alphabet-pyramid"):
        lines = expected_output(get_pattern(slug), n)
        assert len(lines) == n
        assert all(line.strip() == line.strip()[::-1] for line in lines)
        assert [len(line) for line in lines] == [n + i - 1 for i in range(1, n + 1)]


@pytest.mark.parametrize("n", range(1, 10))
def test_concentric_square_rings(n: int) -> None:
    lines = expected_output(get_pattern("concentric-number-square"), n)
    size = 2 * n - 1
    assert len(lines) == size and all(len(line) == size for line in lines)
    assert lines[0] == str(n) * size
    assert lines[n - 1][n - 1] == "1"
    assert list(lines) == list(lines[::-1])


def test_the_catalog_fits_the_cost_rules_bound_on_a_members_progress() -> None:
    """The teacher's dashboard counts PATTERNS_BOUND progress rows per member; a catalog grown past
    it would be under-counted: raise the bound with it."""
    from resolvers.groups import PATTERNS_BOUND

    assert len(PATTERNS) <= PATTERNS_BOUND
