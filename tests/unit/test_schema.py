"""schema.graphql is what the code serves, and the code serves everything the contract lists."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import build_schema, find_breaking_changes, find_dangerous_changes

from resolvers.schema import schema

ROOT = Path(__file__).resolve().parents[2]
SHARED_CONTRACT = ROOT.parent / "shared" / "API_CONTRACT.md"
VENDORED_CONTRACT = ROOT / "docs" / "contract.graphql"


def contract_sdl() -> str:
    if SHARED_CONTRACT.exists():
        match = re.search(r"```graphql\n(.*?)```", SHARED_CONTRACT.read_text(), re.S)
        assert match, "the contract lost its SDL block"
        return match.group(1)
    return VENDORED_CONTRACT.read_text()


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
