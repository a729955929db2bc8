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
from kpi_service.models import CalculationType, SubjectType

# A definition as `POST /definitions` takes it, and an alert rule as `POST /alerts/rules`
# takes it (naming its KPI by `definition_key`): whatever fields those bodies gain (a window,
# a calculation type), a pack can carry.
Spec = Mapping[str, Any]


class SourceKind(StrEnum):
    """Where a pack's data comes from."""

    TABLE = "table"  # a table of the tenant's source database, read by built-in queries
    EVENTS = "events"  # events ingested through `POST /events`, by type


@dataclass(frozen=True, slots=True)
class Assigned:
    """One of the pack's KPIs assigned with this target (None: tracked without one, once
    assignments may leave it out) and weight."""

    key: str
    target: Decimal | None
    weight: Decimal = Decimal(100)


@dataclass(frozen=True, slots=True)
class SourceRead:
    """A table (or an event type) the pack reads, the columns it needs, and the column that
    dates its rows (the earliest of which sets the default `from` of an install)."""

    kind: SourceKind
    name: str
    columns: tuple[str, ...]
    dated_by: str | None
    origin: str


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
    target and weight its user KPIs get when an install names users."""

    name: str
    version: int
    title: str
    summary: str
    definitions: tuple[Spec, ...]
    organisation: tuple[Assigned, ...]
    users: tuple[Assigned, ...]
    alerts: tuple[Spec, ...]
    reads: tuple[SourceRead, ...]

    def __post_init__(self) -> None:
        if self.version < 1:
            raise ValueError(f"pack {self.name}: the version starts at 1")
        scopes: dict[str, str] = {}
        listed = {r.name for r in self.reads if r.kind is SourceKind.EVENTS}
        for spec in self.definitions:
            body = DefinitionCreate.model_validate(spec)
            if body.key in scopes:
                raise ValueError(f"pack {self.name}: KPI {body.key} is defined twice")
            scopes[body.key] = body.scope
            # The default start of an install looks for the events of the types listed.
            read = event_type_read(body)
            if read is not None and read not in listed:
                raise ValueError(f"pack {self.name}: {body.key} reads {read} events, not listed")
        for wanted, assigned in (
            (SubjectType.ORGANIZATION, self.organisation),
            (SubjectType.USER, self.users),
        ):
            for each in assigned:
                if scopes.get(each.key) != wanted:
                    raise ValueError(f"pack {self.name}: {each.key} is not a {wanted} KPI of it")
        for spec in self.alerts:
            rule = RuleCreate.model_validate(spec)
            if rule.definition_key not in scopes:
                raise ValueError(f"pack {self.name}: rule {rule.name!r} watches no KPI of it")

    @property
    def keys(self) -> list[str]:
        """The keys of the pack's definitions, in creation order."""
        return [str(spec["key"]) for spec in self.definitions]

    def definition(self, key: str) -> Spec:
        """The pack's definition with that key."""
        return next(spec for spec in self.definitions if spec["key"] == key)
