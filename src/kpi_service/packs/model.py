"""What a pack is: a versioned catalogue of KPI definitions, with the assignments, alert rules
and source tables that go with them, all as plain data the services take."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from kpi_service.alerts.schemas import RuleCreate
from kpi_service.calculators.subscription import DEFAULT_EVENT_TYPE
from kpi_service.definitions.schemas import DefinitionCreate
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.models import CalculationType

# A definition as `POST /definitions` takes it, and an alert rule as `POST /alerts/rules`
# takes it (naming its KPI by `definition_key`): whatever fields those bodies gain (a window,
# a calculation type), a pack can carry.
Spec = Mapping[str, Any]


class SourceKind(StrEnum):
    """Where a pack's data comes from."""

    TABLE = "table"  # a table of the tenant's source database, read by built-in queries
    EVENTS = "events"  # events ingested through `POST /events`, by type


class ActivityFilter(StrEnum):
    """The filters of seed 003's activity timeline: every activity, or one kind of them."""

    ALL = "all"
    CALLS = "calls"
    EMAILS = "emails"
    CONVERSIONS = "conversions"


# Between the property values a timeline item's description is made of.
DESCRIPTION_SEPARATOR = " - "


@dataclass(frozen=True, slots=True)
class Assigned:
    """One of the pack's KPIs assigned with this target (None: tracked without one) and
    weight."""

    key: str
    target: Decimal | None
    weight: Decimal = Decimal(100)


@dataclass(frozen=True, slots=True)
class SourceRead:
    """A table (or an event type) the pack reads, the columns it needs, the column that
    dates its rows (the earliest of which sets the default `from` of an install), and the
    column naming the user its per-user KPIs measure (read when an install follows sources)."""

    kind: SourceKind
    name: str
    columns: tuple[str, ...]
    dated_by: str | None
    origin: str
    user_column: str | None = None


@dataclass(frozen=True, slots=True)
class Activity:
    """How the events of one type show in seed 003's activity timeline: the item's `type` and
    `title`, the filter it falls under (None: only `all`), and the event properties whose
    values, those present, make its description."""

    event_type: str
    type: str
    title: str
    filter: ActivityFilter | None
    description: tuple[str, ...] = ()

    def describe(self, properties: Mapping[str, Any]) -> str | None:
        """The description of an event with these properties: the values of the description's
        properties that are present (text or numbers, not empty), joined; None without any."""
        present = [
            str(value)
            for key in self.description
            if isinstance(value := properties.get(key), str | int | float)
            and not isinstance(value, bool)
            and str(value).strip()
        ]
        return DESCRIPTION_SEPARATOR.join(present) or None


def event_type_read(body: DefinitionCreate) -> str | None:
    """The type of the events a definition reads, if it reads events."""
    if body.calculation_type == CalculationType.EVENT:
        return str(body.config.get("event_type"))
    if body.calculation_type == CalculationType.SUBSCRIPTION:
        return str(body.config.get("event_type", DEFAULT_EVENT_TYPE))
    return None


@dataclass(frozen=True, slots=True)
class Pack:
    """One version of a pack. Its definitions are created in order (a formula after the KPIs
    it uses); `organisation` assigns its organisation KPIs to the tenant, `users` says the
    target and weight its user KPIs get when an install names users; `activities` say how
    its events show in seed 003's activity timeline."""

    name: str
    version: int
    title: str
    summary: str
    definitions: tuple[Spec, ...]
    organisation: tuple[Assigned, ...]
    users: tuple[Assigned, ...]
    alerts: tuple[Spec, ...]
    reads: tuple[SourceRead, ...]
    activities: tuple[Activity, ...] = ()

    def __post_init__(self) -> None:
        if self.version < 1:
            raise ValueError(f"pack {self.name}: the version starts at 1")
        scopes: dict[str, SubjectType] = {}
        listed = {r.name for r in self.reads if r.kind is SourceKind.EVENTS}
        for spec in self.definitions:
            body = DefinitionCreate.model_validate(spec)
            if body.key in scopes:
                raise ValueError(f"pack {self.name}: KPI {body.key} is defined twice")
            scopes[body.key] = body.scope
            # The default start of an install looks for the events of the types listed.
            event_type = event_type_read(body)
            if event_type is not None and event_type not in listed:
                raise ValueError(
                    f"pack {self.name}: {body.key} reads {event_type} events, not listed"
                )
        for wanted, assigned in (
            (SubjectType.ORGANIZATION, self.organisation),
            (SubjectType.USER, self.users),
        ):
            for each in assigned:
                if scopes.get(each.key) != wanted:
                    raise ValueError(f"pack {self.name}: {each.key} is not a {wanted} KPI of it")
        for read in self.reads:
            if read.user_column is not None and read.user_column not in read.columns:
                raise ValueError(
                    f"pack {self.name}: {read.user_column} is not read from {read.name}"
                )
        for spec in self.alerts:
            rule = RuleCreate.model_validate(spec)
            if rule.definition_key not in scopes:
                raise ValueError(f"pack {self.name}: rule {rule.name!r} watches no KPI of it")
        mapped = [a.event_type for a in self.activities]
        if len(mapped) != len(set(mapped)):
            raise ValueError(f"pack {self.name}: an event type is mapped to two activities")
        if any(a.filter is ActivityFilter.ALL for a in self.activities):
            raise ValueError(
                f"pack {self.name}: every activity is under `all`; name another filter"
            )

    @property
    def keys(self) -> list[str]:
        """The keys of the pack's definitions, in creation order."""
        return [str(spec["key"]) for spec in self.definitions]

    def definition(self, key: str) -> Spec:
        """The pack's definition with that key."""
        return next(spec for spec in self.definitions if spec["key"] == key)
