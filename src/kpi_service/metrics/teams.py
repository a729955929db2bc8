"""The team a user's views rank them in when none is asked for."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


def main_team(team_ids: Iterable[str | None]) -> str | None:
    """The team most of a user's assignments are recorded under, ties going to the first by
    id (one id per assignment; None: recorded under no team); None when none records one."""
    counts = Counter(team for team in team_ids if team is not None)
    if not counts:
        return None
    return min(counts, key=lambda team: (-counts[team], team))
