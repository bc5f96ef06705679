"""schema.graphql is what the code serves, and the code serves everything the contract lists."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import build_schema, find_breaking_changes, find_dangerous_changes

from resolvers.schema import schema

ROOT = Path(__file__).resolve().parents[2]
SHARED_CONTRACT = ROOT.parent / "shared" / "API_CONTRACT.md"
VENDORED_CONTRACT = ROOT / "docs" / "contract.graphql"
VENDORED_ADDITIONS = ROOT / "docs" / "contract-additions.graphql"


def contract_blocks() -> list[str] | None:
    """The contract's SDL blocks (the surface, then "Additions being built"), or None outside the
    workspace, where the vendored copies stand in."""
    if not SHARED_CONTRACT.exists():
        return None
    blocks = re.findall(r"```graphql\n(.*?)```", SHARED_CONTRACT.read_text(), re.S)
    assert len(blocks) >= 2, "the contract lost an SDL block"
    return blocks


def contract_sdl() -> str:
    blocks = contract_blocks()
    return blocks[0] if blocks else VENDORED_CONTRACT.read_text()


def additions_sdl() -> str:
    blocks = contract_blocks()
    return blocks[1] if blocks else VENDORED_ADDITIONS.read_text().split("\n", 1)[1]


def test_schema_file_is_not_stale() -> None:
    on_disk = (ROOT / "schema.graphql").read_text()
    assert on_disk.strip() == schema.as_str().strip(), "schema.graphql is stale: run `make schema`"


def test_vendored_contract_matches_shared_one() -> None:
    if not SHARED_CONTRACT.exists():
        return  # nothing to compare against outside the workspace; the next test uses the copy
    vendored = VENDORED_CONTRACT.read_text().split("\n", 1)[1]
    assert vendored.strip() == contract_sdl().strip(), "docs/contract.graphql differs from the shared contract"


def test_schema_keeps_every_contract_name_type_and_default() -> None:
    contract = build_schema(contract_sdl())
    ours = schema._schema
    breaking = find_breaking_changes(contract, ours)
    dangerous = [c for c in find_dangerous_changes(contract, ours) if "added" not in c.description.lower()]
    assert breaking == [], [c.description for c in breaking]
    assert dangerous == [], [c.description for c in dangerous]


def test_vendored_additions_match_the_shared_ones() -> None:
    blocks = contract_blocks()
    if blocks is None:
        return
    assert VENDORED_ADDITIONS.read_text().split("\n", 1)[1].strip() == blocks[1].strip(), (
        "docs/contract-additions.graphql differs from the shared contract")


def test_schema_serves_the_additions_exactly() -> None:
    # The additions restate Language with JAVASCRIPT and extend the surface's types.
    surface = re.sub(r"enum Language \{[^}]*\}", "", contract_sdl())
    contract = build_schema(surface + "\n" + additions_sdl())
    ours = schema._schema
    breaking = find_breaking_changes(contract, ours)
    dangerous = [c for c in find_dangerous_changes(contract, ours) if "added" not in c.description.lower()]
    assert breaking == [], [c.description for c in breaking]
    assert dangerous == [], [c.description for c in dangerous]
    assert set(ours.get_type("Language").values) == {"PYTHON", "JAVASCRIPT"}  # type: ignore[union-attr]
