"""What a resolver's selection asks for, so its SQL reads only the columns that answer it (the
way PostGraphile plans a query from its selection, on a small scale).

Strawberry's `info.selected_fields` gives the selection with its fragments; a directive anywhere
(`@skip`, `@include`) makes the answer "not known", and the caller then reads everything.
"""

from __future__ import annotations

from collections.abc import Iterable

from strawberry.types.nodes import SelectedField, Selection

from .context import Info


def _fields(selections: Iterable[Selection]) -> list[SelectedField] | None:
    """The fields of a selection set, its fragments' included; None where a directive decides."""
    found: list[SelectedField] = []
    for selection in selections:
        if selection.directives:
            return None
        if isinstance(selection, SelectedField):
            found.append(selection)
        else:
            inner = _fields(selection.selections)
            if inner is None:
                return None
            found.extend(inner)
    return found


def child_reads_only(info: Info, child: str, allowed: frozenset[str]) -> bool:
    """Whether every `child` field selected under this resolver's field (a list item's object,
    say `pattern` under `progress`) selects only fields named in `allowed`. False when a
    directive could change that: the caller then fetches everything, as before."""
    own = _fields(info.selected_fields)
    if own is None:
        return False
    for field in own:
        under = _fields(field.selections)
        if under is None:
            return False
        for candidate in under:
            if candidate.name != child:
                continue
            wanted = _fields(candidate.selections)
            if wanted is None or any(f.name not in allowed for f in wanted):
                return False
    return True
