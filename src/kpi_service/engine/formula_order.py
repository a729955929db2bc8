"""The order in which formula KPIs are computed: every KPI after the KPIs it uses."""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Mapping

from kpi_service.engine.formula import FormulaCycle


def evaluation_order(dependencies: Mapping[str, Iterable[str]]) -> list[str]:
    """Return every key after the keys it uses, ties alphabetical, or raise FormulaCycle."""
    uses = {key: set(used) for key, used in dependencies.items()}
    # Keys only ever used (manual, query, ... KPIs) wait for nothing, so they come first.
    order = sorted({key for used in uses.values() for key in used} - uses.keys())
    waiting = {key: used - set(order) for key, used in uses.items()}
    users: defaultdict[str, list[str]] = defaultdict(list)
    for key, used in waiting.items():
        for dependency in used:
            users[dependency].append(key)
    ready = [key for key, used in waiting.items() if not used]
    heapq.heapify(ready)
    while ready:
        key = heapq.heappop(ready)
        order.append(key)
        for user in users[key]:
            waiting[user].discard(key)
            if not waiting[user]:
                heapq.heappush(ready, user)
    stuck = {key: used for key, used in waiting.items() if used}
    if stuck:
        raise FormulaCycle(_cycle(stuck))
    return order


def _cycle(stuck: Mapping[str, set[str]]) -> list[str]:
    # Every stuck key waits for another stuck key, so following them must come back round.
    path: list[str] = []
    seen: dict[str, int] = {}
    key = min(stuck)
    while key not in seen:
        seen[key] = len(path)
        path.append(key)
        key = min(stuck[key])
    cycle = path[seen[key] :]
    start = cycle.index(min(cycle))
    return cycle[start:] + cycle[:start]
