"""Alert rules, alerts, webhook channels and deliveries as the API shows and takes them."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, StringConstraints, TypeAdapter, field_validator, model_validator

from kpi_service.core.schemas import (
    Choice,
    Day,
    Id,
    Input,
    ListQuery,
    LongText,
    Name,
    Number,
    OutNumber,
    Output,
    SubjectRef,
    number_default,
    refuse_null,
)
from kpi_service.definitions.schemas import DefinitionReference
from kpi_service.engine.vocabulary import (
    AlertStatus,
    ChangeDirection,
    Direction,
    Notice,
    SubjectType,
)
from kpi_service.models import AlertRule, DeliveryStatus, Severity

# A percentage or an amount that widens a threshold before an alert clears.
Margin = Annotated[Number, Field(ge=0)]
# How many consecutive breaching periods open an alert as `firing` (1: the first does).
ForPeriods = Annotated[
    int,
    Field(
        ge=1,
        le=52,
        description=(
            "Consecutive breaching periods before the alert fires; until then it is pending."
        ),
    ),
]
# Whether a rule also judges the period in progress, projected on its pace.
OnProjection = Annotated[
    bool,
    Field(
        description=(
            "Also judge the period in progress on its pace (its value projected to the period's "
            "end): the alert then says the period is projected to miss. Default: only ended "
            "periods are judged."
        ),
    ),
]
SecretEnv = Annotated[str, StringConstraints(pattern=r"^KPI_WEBHOOK_SECRET_[A-Z0-9_]{1,64}$")]
MAX_CHANNELS = 20
MAX_EVALUATED_DAYS = 5 * 366


class AchievementBelow(Input):
    """Achievement (percent) below `threshold`; clears at `threshold + clear_margin` or more."""

    kind: Literal["achievement_below"]
    threshold: Annotated[Number, Field(gt=0, le=100_000)]
    clear_margin: Margin = number_default(5)
    for_periods: ForPeriods = 1
    on_projection: OnProjection = False


class ValueThreshold(Input):
    """The value above (or below) `threshold`; clears `clear_margin` back on the good side."""

    kind: Literal["value_threshold"]
    direction: Choice[Direction]
    threshold: Number
    clear_margin: Margin = number_default(0)
    for_periods: ForPeriods = 1
    on_projection: OnProjection = False


class ChangePct(Input):
    """The change versus the previous period beyond `limit` percent (up, down or either);
    clears within `limit - clear_margin`."""

    kind: Literal["change_pct"]
    direction: Choice[ChangeDirection] = ChangeDirection.EITHER
    limit: Annotated[Number, Field(gt=0, le=1_000_000)]
    clear_margin: Margin = number_default(0)
    for_periods: ForPeriods = 1

    @model_validator(mode="after")
    def _margin_within_limit(self) -> ChangePct:
        if self.clear_margin > self.limit:
            raise ValueError("clear_margin must not exceed limit")
        return self


class Anomaly(Input):
    """|z| >= `z` for the value against the subject's values of the previous `window`
    periods (sample standard deviation; at least 3 of them must have a value)."""

    kind: Literal["anomaly"]
    window: Annotated[int, Field(ge=3, le=104)] = 8
    z: Annotated[Number, Field(gt=0, le=100)] = number_default(3)
    for_periods: ForPeriods = 1


class ConsecutiveDeclines(Input):
    """The value worsened (trend `declining`) in each of the last `periods` periods."""

    kind: Literal["consecutive_declines"]
    periods: Annotated[int, Field(ge=2, le=52)] = 3


class MissingValue(Input):
    """A manual KPI's value not recorded more than `days` days after its period ended; the
    latest `lookback_periods` overdue periods are checked on demand."""

    kind: Literal["missing_value"]
    days: Annotated[int, Field(ge=0, le=366)] = 0
    lookback_periods: Annotated[int, Field(ge=1, le=52)] = 4


Condition = Annotated[
    AchievementBelow | ValueThreshold | ChangePct | Anomaly | ConsecutiveDeclines | MissingValue,
    Field(discriminator="kind"),
]

CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)


def condition_of(rule: AlertRule) -> Condition:
    """The rule's stored condition, as validated when it was saved."""
    return CONDITION.validate_python({"kind": rule.kind, **rule.params})


def stored_params(condition: Condition) -> dict[str, Any]:
    """A condition as stored: its parameters (decimals as exact text), without the kind."""
    return {
        k: str(v) if isinstance(v, Decimal) else v
        for k, v in condition.model_dump(exclude={"kind"}).items()
    }


ChannelIds = Annotated[list[Id], Field(max_length=MAX_CHANNELS)]


def _distinct(ids: list[int]) -> list[int]:
    if len(set(ids)) != len(ids):
        raise ValueError("channel ids must be distinct")
    return ids


class RuleQuery(ListQuery):
    """What the list of alert rules may be narrowed to."""

    definition_id: Id | None = None
    is_active: bool | None = None


class RuleCreate(DefinitionReference):
    """A new alert rule on a definition (named by `definition_id` or `definition_key`)."""

    name: Name
    condition: Condition
    subject_id: SubjectRef | None = Field(
        default=None, description="Watch this one subject only; omitted: every subject."
    )
    severity: Choice[Severity] = Severity.WARNING
    channel_ids: ChannelIds = Field(default_factory=list)
    is_active: bool = True

    @field_validator("channel_ids")
    @classmethod
    def _distinct_channels(cls, value: list[int]) -> list[int]:
        return _distinct(value)


class RuleUpdate(Input):
    """A partial change; the definition and the condition's kind never change."""

    name: Name | None = None
    condition: Condition | None = None
    subject_id: SubjectRef | None = Field(default=None, description="null: every subject.")
    severity: Choice[Severity] | None = None
    channel_ids: ChannelIds | None = None
    is_active: bool | None = None

    _not_null = refuse_null("name", "condition", "severity", "channel_ids", "is_active")

    @field_validator("channel_ids")
    @classmethod
    def _distinct_channels(cls, value: list[int] | None) -> list[int] | None:
        return None if value is None else _distinct(value)


class RuleRead(Output):
    id: int
    definition_id: int
    definition_key: str
    name: str
    condition: Condition
    subject_id: str | None
    severity: Choice[Severity]
    channel_ids: list[int]
    is_active: bool
    last_evaluated_at: datetime | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime


_HEADER_SAFE = re.compile(r"^[\x21-\x7e]+$")


def _webhook_url(value: str) -> str:
    if not _HEADER_SAFE.match(value):
        raise ValueError("must be an absolute http(s) URL without spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http or https URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials; requests are signed instead")
    if parts.fragment:
        raise ValueError("must not have a fragment")
    try:
        parts.port  # noqa: B018 (an out-of-range port raises here)
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value


WebhookUrl = Annotated[str, StringConstraints(max_length=2000)]


class ChannelCreate(Input):
    """A webhook: its URL and the environment variable holding its signing secret."""

    name: Name
    url: WebhookUrl
    secret_env: SecretEnv = Field(
        description=(
            "Name of the environment variable (KPI_WEBHOOK_SECRET_*) holding the HMAC key; "
            "the secret itself is never stored or shown."
        )
    )

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        return _webhook_url(value)


class ChannelUpdate(Input):
    """A partial change of a webhook."""

    name: Name | None = None
    url: WebhookUrl | None = None
    secret_env: SecretEnv | None = None

    _not_null = refuse_null("name", "url", "secret_env")

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return None if value is None else _webhook_url(value)


class ChannelRead(Output):
    id: int
    name: str
    url: str
    secret_env: str
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class AlertRead(Output):
    """An alert: the period it opened in, the last period judged, and its life so far."""

    id: int
    rule_id: int
    rule_name: str
    kind: str
    definition_id: int
    definition_key: str
    subject_type: str
    subject_id: str
    period_start: date
    period_end: date
    last_period_start: date
    last_period_end: date
    status: Choice[AlertStatus]
    severity: Choice[Severity]
    streak: int
    value: OutNumber | None = Field(description="The actual value of the last judged period.")
    observed: OutNumber | None = Field(
        description="What the rule compared: achievement, value, change %, z-score, number "
        "of declines or days overdue."
    )
    threshold: OutNumber | None
    details: dict[str, OutNumber | None]
    opened_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledgement_note: str | None
    updated_at: datetime


class AlertQuery(ListQuery):
    """What the list of alerts may be narrowed to."""

    status: Choice[AlertStatus] | None = None
    rule_id: Id | None = None
    definition_id: Id | None = None
    subject_type: Choice[SubjectType] | None = None
    subject_id: SubjectRef | None = None


class Acknowledgement(Input):
    """Who looked at an alert is the caller; a note is optional."""

    note: LongText | None = None


class AttemptRead(Output):
    attempt: int
    url: str
    status_code: int | None
    error: str | None
    duration_ms: int
    next_retry_at: datetime | None
    attempted_at: datetime


class DeliveryQuery(ListQuery):
    """What the delivery log may be narrowed to."""

    alert_id: Id | None = None
    channel_id: Id | None = None
    status: Choice[DeliveryStatus] | None = None


class DeliveryRead(Output):
    id: int
    alert_id: int
    channel_id: int
    event: Choice[Notice]
    status: Choice[DeliveryStatus]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    log: list[AttemptRead] = Field(description="Every attempt, first first.")


class EvaluateRequest(Input):
    """Evaluate rules now: the periods overlapping the range, or by default each rule's
    latest final period, with the period in progress for `on_projection` rules (missing
    values: its latest overdue periods)."""

    rule_ids: Annotated[list[Id], Field(min_length=1, max_length=500)] | None = None
    period_start: Day | None = None
    period_end: Day | None = None

    @model_validator(mode="after")
    def _range(self) -> EvaluateRequest:
        if self.period_end is not None and self.period_start is None:
            raise ValueError("period_end needs period_start")
        if self.period_start is not None:
            end = self.period_end or self.period_start
            if end < self.period_start:
                raise ValueError("period_end is before period_start")
            if end - self.period_start > timedelta(days=MAX_EVALUATED_DAYS):
                raise ValueError("at most 5 years are evaluated at once")
        return self


class EvaluationRead(Output):
    rules: int
    opened: int
    fired: int
    resolved: int
    deliveries: int


class PayloadAlert(Output):
    id: int
    status: Choice[AlertStatus]
    severity: Choice[Severity]
    period_start: date
    period_end: date
    last_period_start: date
    last_period_end: date
    value: OutNumber | None
    observed: OutNumber | None
    threshold: OutNumber | None
    details: dict[str, OutNumber | None]
    opened_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None


class WebhookPayload(Output):
    """The JSON posted to a channel on a transition to firing or to resolved."""

    type: Literal["alert.firing", "alert.resolved"]
    tenant_id: str
    alert: PayloadAlert
    rule: dict[str, Any]
    definition: dict[str, Any]
    subject: dict[str, str]
