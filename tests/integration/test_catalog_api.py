"""The catalog through GraphQL: paging, filters, search, lookups, expected output, statistics."""

from __future__ import annotations

import pytest

import catalog

PAGE = """
query Page($first: Int, $after: String, $category: String, $difficulty: Difficulty, $search: String) {
  patterns(first: $first, after: $after, category: $category, difficulty: $difficulty, search: $search) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id slug name category difficulty rows preview formula loops conditions } }
  }
}
"""


async def test_paging_walks_the_whole_catalog_in_order(gql) -> None:
    slugs: list[str] = []
    after = None
    pages = 0
    while True:
        data = (await gql.data(PAGE, {"first": 7, "after": after}))["patterns"]
        assert data["totalCount"] == len(catalog.PATTERNS)
        slugs += [e["node"]["slug"] for e in data["edges"]]
        pages += 1
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
        assert after == data["edges"][-1]["cursor"]
    assert slugs == [p.slug for p in catalog.PATTERNS]
    assert pages == -(-len(catalog.PATTERNS) // 7)


async def test_default_page_size_is_20(gql) -> None:
    data = (await gql.data("{ patterns { edges { node { slug } } pageInfo { hasNextPage } } }"))["patterns"]
    assert len(data["edges"]) == 20
    assert data["pageInfo"]["hasNextPage"] is True


async def test_filters_by_category_and_difficulty(gql) -> None:
    data = (await gql.data(PAGE, {"first": 100, "category": "hollow"}))["patterns"]
    expected = [p.slug for p in catalog.PATTERNS if p.category == "hollow"]
    assert [e["node"]["slug"] for e in data["edges"]] == expected
    assert data["totalCount"] == len(expected) > 0

    data = (await gql.data(PAGE, {"first": 100, "difficulty": "HARD"}))["patterns"]
    expected = [p.slug for p in catalog.PATTERNS if p.difficulty == "HARD"]
    assert [e["node"]["slug"] for e in data["edges"]] == expected
    assert all(e["node"]["difficulty"] == "HARD" for e in data["edges"])


async def test_search_matches_name_words_and_fragments(gql) -> None:
    data = (await gql.data(PAGE, {"first": 100, "search": "diamond"}))["patterns"]
    slugs = {e["node"]["slug"] for e in data["edges"]}
    assert {"diamond-solid", "hollow-diamond"} <= slugs
    assert data["totalCount"] == len(slugs)

    # Stemming: "triangles" finds "triangle"; a fragment matches by substring.
    plural = {e["node"]["slug"] for e in (await gql.data(PAGE, {"first": 100, "search": "triangles"}))["patterns"]["edges"]}
    assert "right-triangle" in plural and "floyds-triangle" in plural
    fragment = {e["node"]["slug"] for e in (await gql.data(PAGE, {"first": 100, "search": "butterf"}))["patterns"]["edges"]}
    assert fragment == {p.slug for p in catalog.PATTERNS
                        if "butterf" in p.name.lower() or "butterf" in p.description.lower()}
    assert "butterfly" in fragment

    empty = (await gql.data(PAGE, {"first": 5, "search": "zzzz-nothing"}))["patterns"]
    assert empty == {"totalCount": 0, "pageInfo": {"hasNextPage": False, "endCursor": None}, "edges": []}


async def test_search_treats_like_wildcards_literally(gql) -> None:
    data = (await gql.data(PAGE, {"first": 100, "search": "%"}))["patterns"]
    assert data["totalCount"] == 0


async def test_pattern_by_slug_and_id_and_previews(gql) -> None:
    query = "query($id: ID, $slug: String) { pattern(id: $id, slug: $slug) { id slug preview rows expectedOutput } }"
    by_slug = (await gql.data(query, {"slug": "floyds-triangle"}))["pattern"]
    assert by_slug["preview"] == ["1", "2 3", "4 5 6", "7 8 9 10"]
    assert by_slug["expectedOutput"] == by_slug["preview"]
    by_id = (await gql.data(query, {"id": by_slug["id"]}))["pattern"]
    assert by_id == by_slug
    assert (await gql.data(query, {"slug": "no-such-pattern"}))["pattern"] is None
    assert (await gql.data(query, {"id": "999999"}))["pattern"] is None
    assert (await gql.data(query, {"id": "not-a-number"}))["pattern"] is None
    assert await gql.error_codes(query, {}) == ["BAD_USER_INPUT"]
    assert await gql.error_codes(query, {"id": "1", "slug": "x"}) == ["BAD_USER_INPUT"]


async def test_expected_output_at_other_sizes(gql) -> None:
    query = 'query($n: Int) { pattern(slug: "right-triangle") { expectedOutput(size: $n) } }'
    assert (await gql.data(query, {"n": 2}))["pattern"]["expectedOutput"] == ["*", "**"]
    assert (await gql.data(query, {"n": 6}))["pattern"]["expectedOutput"][-1] == "******"
    body = await gql(query, {"n": 0})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["path"] == ["pattern", "expectedOutput"]


async def test_every_seeded_preview_matches_the_reference(gql) -> None:
    data = (await gql.data(PAGE, {"first": 100}))["patterns"]
    for edge in data["edges"]:
        node = edge["node"]
        pattern = catalog.get_pattern(node["slug"])
        assert node["preview"] == list(catalog.run_reference(pattern.reference, node["rows"]))


async def test_new_pattern_stats_are_zero_and_unrated(gql) -> None:
    query = '{ pattern(slug: "diamond-solid") { stats { attempts learners completions successRate averageTimeSpentSeconds perceivedDifficulty } } }'
    stats = (await gql.data(query))["pattern"]["stats"]
    assert stats == {
        "attempts": 0, "learners": 0, "completions": 0, "successRate": 0.0,
        "averageTimeSpentSeconds": 0.0, "perceivedDifficulty": "UNRATED",
    }


@pytest.mark.parametrize("first", [0, -1, 101])
async def test_page_size_is_bounded(gql, first: int) -> None:
    assert await gql.error_codes(PAGE, {"first": first}) == ["BAD_USER_INPUT"]


async def test_bad_cursor_is_bad_input(gql) -> None:
    assert await gql.error_codes(PAGE, {"after": "garbage!"}) == ["BAD_USER_INPUT"]


async def test_null_first_means_the_default(gql) -> None:
    data = (await gql.data(PAGE, {"first": None}))["patterns"]
    assert len(data["edges"]) == 20


async def test_page_counters_for_a_pattern_without_a_stats_row(gql, services) -> None:
    # The page joins pattern_stats; a pattern that has no row there reads as untried.
    await services.db.execute("DELETE FROM pattern_stats WHERE pattern_id = (SELECT id FROM patterns WHERE slug = 'square-solid')")
    data = (await gql.data("{ patterns(first: 1) { edges { node { slug stats { attempts learners successRate } } } } }"))
    assert data["patterns"]["edges"][0]["node"] == {
        "slug": "square-solid", "stats": {"attempts": 0, "learners": 0, "successRate": 0.0}}


async def test_a_full_page_is_the_first_rows_in_catalog_order(gql, services) -> None:
    """The page query reads one row more than asked (is there a next page?); the joins may return
    rows in any order, so the page must still be the first `first` rows by position."""
    from tests.integration.test_round_trips import add_patterns

    await add_patterns(services, 40)
    expected = [r["slug"] for r in await services.db.fetch("SELECT slug FROM patterns ORDER BY position")]
    slugs: list[str] = []
    after = None
    while True:
        page = (await gql.data("query($a: String) { patterns(first: 50, after: $a) { pageInfo { hasNextPage endCursor }"
                               " edges { node { slug } } } }", {"a": after}))["patterns"]
        slugs += [e["node"]["slug"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert slugs == expected
