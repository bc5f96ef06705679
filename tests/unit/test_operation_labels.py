"""Operation names are client input: bounded before they become a metric label."""

from __future__ import annotations

import pytest

from resolvers import metrics


def test_names_become_labels_within_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "_names", set())
    assert metrics.operation_label("SubmitSolution") == "SubmitSolution"
    assert metrics.operation_label(None) == metrics.operation_label("") == "anonymous"
    # Not a GraphQL name, or not even a string (the JSON body may carry anything).
    for hostile in ("a b", "x" * 65, "name\n{", [None], {"a": 1}, 3):
        assert metrics.operation_label(hostile) == "other", hostile
    for i in range(metrics.MAX_OPERATION_NAMES):
        metrics.operation_label(f"Op{i}")
    assert metrics.operation_label("OneTooMany") == "other"
    assert metrics.operation_label("SubmitSolution") == "SubmitSolution"  # already known: kept
