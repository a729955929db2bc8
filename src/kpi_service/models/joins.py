"""The composite joins between tables, written once.

Every key leads with `tenant_id`, so a join from a row to the row it refers to matches the
tenant and the id: `select(Measurement).join(Assignment, joins.assignment_of(Measurement))`.
Plain conditions rather than `relationship()`s: the repositories build set-based statements
and never load related rows lazily, so a relationship would only be a second way to spell
the same join. `of` is the table (or an alias of it) holding the reference.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_

from kpi_service.models.alert import AlertChannel, AlertRule
from kpi_service.models.definition import Assignment, Definition
from kpi_service.models.measurement import Measurement


def definition_of(of: Any) -> ColumnElement[bool]:
    """The definition `of.definition_id` names, in the same tenant."""
    return and_(Definition.tenant_id == of.tenant_id, Definition.id == of.definition_id)


def assignment_of(of: Any) -> ColumnElement[bool]:
    """The assignment `of.assignment_id` names, in the same tenant."""
    return and_(Assignment.tenant_id == of.tenant_id, Assignment.id == of.assignment_id)


def measurement_of(of: Any) -> ColumnElement[bool]:
    """The measurement `of.measurement_id` names, in the same tenant."""
    return and_(Measurement.tenant_id == of.tenant_id, Measurement.id == of.measurement_id)


def rule_of(of: Any) -> ColumnElement[bool]:
    """The alert rule `of.rule_id` names, in the same tenant."""
    return and_(AlertRule.tenant_id == of.tenant_id, AlertRule.id == of.rule_id)


def channel_of(of: Any) -> ColumnElement[bool]:
    """The alert channel `of.channel_id` names, in the same tenant."""
    return and_(AlertChannel.tenant_id == of.tenant_id, AlertChannel.id == of.channel_id)
