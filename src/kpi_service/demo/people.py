"""Who and when the demo is about: its teams, agents and customers, and its time window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SUPPORT_USERS = ("1", "2", "3", "4", "5")
SUPPORT_TEAM = "support"
TEAM_SIZE = 12
FIRST_AGENT = 101
DEFAULT_AGENTS = TEAM_SIZE
DEFAULT_MONTHS = 6
MIN_CUSTOMERS = 600
SUPPORT_WEEKS = 13  # the support team's weeks of cases, ending with the last full week
SOURCES = ("Referrals", "Web Forms", "Cold Calls", "Partners")


def month_start(day: date, months_back: int = 0) -> date:
    """The first day of the month `months_back` months before the month holding `day`."""
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class DemoSize:
    """How big the demo is: sales agents (in teams of 12) and months of events."""

    agents: int = DEFAULT_AGENTS
    months: int = DEFAULT_MONTHS

    def __post_init__(self) -> None:
        if not 1 <= self.agents <= 100_000:
            raise ValueError("the demo takes 1 to 100,000 agents")
        if not 1 <= self.months <= 24:
            raise ValueError("the demo takes 1 to 24 months of events")

    @property
    def agent_ids(self) -> list[str]:
        """Numeric text ids, so the seed's `/kpis/users/<int:id>` route reaches them too."""
        return [str(FIRST_AGENT + i) for i in range(self.agents)]

    @property
    def teams(self) -> list[str]:
        """The sales teams, `sales-1` first; every team but the last has 12 agents."""
        return [team_of(i) for i in range(0, self.agents, TEAM_SIZE)]

    @property
    def customers(self) -> int:
        """How many customers sign up over the window (for cohorts and active users)."""
        return max(MIN_CUSTOMERS, self.agents)


def team_of(agent_index: int) -> str:
    """The team of the agent at this position (0-based)."""
    return f"sales-{agent_index // TEAM_SIZE + 1}"


def manager_of(team: str) -> str:
    """The user id of a sales team's manager: `sales-1` is managed by `100`, `sales-2` by
    `200`, and so on (a JWT with role manager and teams [team])."""
    return str(int(team.removeprefix("sales-")) * 100)


@dataclass(frozen=True, slots=True)
class Window:
    """The demo's days, all in the organisation's time zone, fixed at the first load."""

    last_day: date  # yesterday, the day of the first load
    months: int
    tz: ZoneInfo

    @property
    def events_start(self) -> date:
        """The first day of events: the first of the month `months` months back."""
        return month_start(self.last_day, self.months)

    @property
    def leads_start(self) -> date:
        """The CRM is older than the event tracking: leads go back twice as far (a year by
        default), so the daily revenue KPI has a year of history."""
        return month_start(self.last_day, 2 * self.months)

    @property
    def ledger_start(self) -> date:
        """Billing is older still: the subscription ledger starts two months before the leads
        (14 months back by default), so the last ended months have a year-over-year growth
        (none in the ledger's first year, and none at all with fewer than 6 months)."""
        return month_start(self.last_day, 2 * self.months + 2)

    @property
    def support_start(self) -> date:
        """The Monday the support team's cases start on: `SUPPORT_WEEKS` weeks before the
        week holding the last day."""
        return self.last_day - timedelta(days=self.last_day.weekday(), weeks=SUPPORT_WEEKS)

    @property
    def first_monday(self) -> date:
        """The first Monday of the events (weekly KPIs start on a whole week)."""
        return self.events_start + timedelta(days=-self.events_start.weekday() % 7)

    def at(self, day: date, hours: float) -> datetime:
        """The instant `hours` after local midnight of `day`."""
        return datetime.combine(day, time(0), self.tz) + timedelta(hours=hours)

    @property
    def end(self) -> datetime:
        """The instant the window ends: midnight after its last day (exclusive)."""
        return self.at(self.last_day + timedelta(days=1), 0)


def days(first: date, last: date) -> list[date]:
    """Every day from `first` to `last`, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def workdays(first: date, last: date) -> list[date]:
    """Monday to Friday from `first` to `last`."""
    return [d for d in days(first, last) if d.weekday() < 5]
