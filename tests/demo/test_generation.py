"""The demo's generators without a database: fixed seeds, sizes that grow without changing
the first agents, nothing outside the window, and the size knob of the command line."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from kpi_service.demo.crm import agent_contacts, agent_leads
from kpi_service.demo.events import all_events, customer_events
from kpi_service.demo.ledger import ledger
from kpi_service.demo.people import DemoSize, Window, manager_of, team_of
from kpi_service.demo.product import operations_events
from tests.support.packs import CONTACT_STAGES

WINDOW = Window(date(2026, 3, 31), 6, ZoneInfo("Europe/Paris"))  # spans the DST change


def test_the_same_seed_gives_the_same_rows() -> None:
    assert list(agent_leads(3, WINDOW)) == list(agent_leads(3, WINDOW))
    assert list(agent_contacts(3, WINDOW)) == list(agent_contacts(3, WINDOW))
    assert ledger(DemoSize(), WINDOW) == ledger(DemoSize(), WINDOW)
    first = list(islice(all_events(DemoSize(), WINDOW), 500))
    assert first == list(islice(all_events(DemoSize(), WINDOW), 500))
    assert len({e["id"] for e in first}) == 500


def test_a_bigger_demo_keeps_the_first_agents_as_they_were() -> None:
    small = [e for e in islice(all_events(DemoSize(agents=12), WINDOW), 3000)]
    big = [e for e in islice(all_events(DemoSize(agents=30), WINDOW), 3000)]
    assert small == big
    assert DemoSize(agents=30).teams == ["sales-1", "sales-2", "sales-3"]
    assert (team_of(11), team_of(12), manager_of("sales-2")) == ("sales-1", "sales-2", "200")


def test_nothing_happens_outside_the_window() -> None:
    start, end = WINDOW.at(WINDOW.events_start, 0), WINDOW.end
    assert end.isoformat() == "2026-04-01T00:00:00+02:00"
    for lead in agent_leads(0, WINDOW):
        steps = [lead.created_at, lead.contacted_at, lead.interested_at, lead.converted_at]
        done = [s for s in steps if s is not None]
        assert done == sorted(done) and done[-1] < end
        assert (lead.revenue is not None) == (lead.disposition == "converted")
    for event in [*customer_events(50, WINDOW), *operations_events(WINDOW)]:
        assert start <= event["occurred_at"] < end
    changes = ledger(DemoSize(), WINDOW)
    first = min(c.at for c in changes).astimezone(WINDOW.tz).date()
    assert first.replace(day=1) == WINDOW.ledger_start == date(2025, 1, 1)
    assert all(WINDOW.at(WINDOW.ledger_start, 0) <= c.at < end for c in changes)


def test_contacts_stand_in_every_stage_of_seed_004() -> None:
    stages = {c.funnel_stage for i in range(4) for c in agent_contacts(i, WINDOW)}
    assert stages == set(CONTACT_STAGES)


@pytest.mark.parametrize("value", ["0", "-3", "x", "100001"])
def test_the_demo_size_must_be_a_sensible_number(value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kpi_service.cli", "serve", "--demo", "--demo-users", value],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--demo-users: must be a whole number from 1 to 100000" in done.stderr
