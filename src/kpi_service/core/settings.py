"""Service settings, read from the environment (prefix `KPI_`) and an optional `.env` file."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kpi_service.core import outbound
from kpi_service.core.cron import cron_trigger
from kpi_service.engine.periods import local_today


class AuthMode(StrEnum):
    JWT = "jwt"
    TRUSTED_HEADERS = "trusted_headers"
    NONE = "none"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


_NAME = r"^[a-z_][a-z0-9_]{0,62}$"


class NamedSource(BaseModel):
    """A source database of `KPI_SOURCES`: its DSN (a secret) and the tenants that use it."""

    model_config = ConfigDict(extra="forbid")

    url: SecretStr
    tenants: list[str] = Field(min_length=1)


class Settings(BaseSettings):
    """Every knob of the service; `.env.example` and the README list them all."""

    model_config = SettingsConfigDict(env_prefix="KPI_", env_file=".env", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    database_url: SecretStr | None = None
    source_database_url: SecretStr | None = None
    data_dir: Path = Path(".kpi")
    db_pool_size: int = Field(default=20, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    # Seconds a request waits for a free connection before it is answered 503.
    db_pool_timeout: float = Field(default=30, gt=0, le=600)
    # Connections older than this many seconds are replaced when next taken (-1: never).
    db_pool_recycle: int = Field(default=1800, ge=-1, le=86_400)

    timezone: str = "UTC"
    root_path: str = ""
    log_level: str = "INFO"
    # json: one object per line (for log collectors); text: plain lines for a terminal.
    log_format: Literal["json", "text"] = "json"
    # If set, GET /metrics needs `Authorization: Bearer <token>`.
    metrics_token: SecretStr | None = None
    default_tenant: str = "default"
    # Larger request bodies are answered 413 before they are read: a batch of 10,000 events
    # weighs 2-6 MB as JSON (docs/security.md), 16 MiB leaves room above that.
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)

    auth_mode: AuthMode = AuthMode.NONE
    jwt_secret: SecretStr | None = None
    jwt_public_key: SecretStr | None = None
    jwt_audience: str | None = None
    service_token: SecretStr | None = None

    legacy_routes: bool = True
    legacy_trust_network: bool = False

    # Where admin SQL runs (docs/security.md). Unset: the `default` source is the service's own
    # database reached as `source_role`, which the service creates, allowed to SELECT the
    # tables of `source_schemas` and nothing of schema `kpi`.
    source_role: str = Field(default="kpi_source", pattern=_NAME)
    source_role_password: SecretStr | None = None
    source_schemas: str = "public"
    # The tenants that may use the `default` source (comma-separated; `*`: every tenant).
    source_tenants: str = "*"
    # More sources, as JSON: {"crm": {"url": "postgresql://...", "tenants": ["acme"]}}.
    sources: dict[str, NamedSource] = Field(default_factory=dict)

    query_timeout_ms: int = Field(default=10_000, ge=100, le=600_000)
    query_row_cap: int = Field(default=100_000, ge=1, le=10_000_000)

    # The scheduler: one cron line per period kind, in `timezone`.
    scheduler_enabled: bool = True
    schedule_daily: str = "0 1 * * *"
    schedule_weekly: str = "0 2 * * mon"
    schedule_monthly: str = "0 3 1 * *"
    schedule_quarterly: str = "0 4 1 jan,apr,jul,oct *"
    schedule_yearly: str = "0 5 1 jan *"
    # At start-up, this many past occurrences per period kind are caught up if missed.
    scheduler_catchup: int = Field(default=3, ge=0, le=400)
    # A run whose heartbeat is older than this is stale: another process may resume it.
    run_stale_seconds: int = Field(default=120, ge=2, le=86_400)
    run_heartbeat_seconds: float = Field(default=15, gt=0, le=3600)
    # On SIGTERM, requests in flight get this long to finish before they are cut; keep it
    # below the orchestrator's own grace (Kubernetes: 30 s) so runs are released cleanly.
    shutdown_grace_seconds: int = Field(default=20, ge=1, le=3600)
    # Event partitions are created this many months ahead.
    partitions_ahead_months: int = Field(default=3, ge=0, le=36)
    # Missing manual values are looked for daily at this time (no run notices an absence),
    # and webhook deliveries left pending or due for a retry are swept this often.
    schedule_overdue_values: str = "0 6 * * *"
    alert_sweep_seconds: int = Field(default=60, ge=1, le=3600)

    # Alert webhooks: each attempt is cut after the timeout; a 5xx, 429, timeout or
    # connection error is retried after backoff x 2^(attempt - 1) seconds (at most the max).
    webhook_timeout_seconds: float = Field(default=5, gt=0, le=60)
    webhook_attempts: int = Field(default=5, ge=1, le=20)
    webhook_backoff_seconds: float = Field(default=1, ge=0, le=600)
    webhook_backoff_max_seconds: float = Field(default=300, ge=0, le=86_400)
    webhook_concurrency: int = Field(default=8, ge=1, le=100)

    # Ranges that api sources and webhooks may reach although they are internal (loopback,
    # private, link-local...): comma-separated CIDRs, e.g. `10.0.0.0/8,::1/128`.
    outbound_allow: Annotated[tuple[outbound.Network, ...], NoDecode] = ()

    @field_validator("outbound_allow", mode="before")
    @classmethod
    def _cidr_list(cls, value: object) -> object:
        return outbound.parse_allow(value) if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _schedules_are_cron_lines(self) -> Settings:
        for kind in ("daily", "weekly", "monthly", "quarterly", "yearly", "overdue_values"):
            try:
                cron_trigger(self.schedule(kind), self.tz)
            except ValueError as exc:
                raise ValueError(f"KPI_SCHEDULE_{kind.upper()}: {exc}") from None
        if self.run_heartbeat_seconds * 2 > self.run_stale_seconds:
            raise ValueError(
                "KPI_RUN_HEARTBEAT_SECONDS must be at most half of "
                "KPI_RUN_STALE_SECONDS, or live runs would look stale"
            )
        return self

    @field_validator("source_schemas")
    @classmethod
    def _schema_names(cls, value: str) -> str:
        names = [name.strip() for name in value.split(",") if name.strip()]
        if not names or any(
            not re.match(_NAME, name) or name == "kpi" or name.startswith("pg_") for name in names
        ):
            raise ValueError(
                "a comma-separated list of plain schema names other than kpi and the system schemas"
            )
        return ",".join(names)

    @field_validator("sources")
    @classmethod
    def _source_names(cls, value: dict[str, NamedSource]) -> dict[str, NamedSource]:
        for name in value:
            if not re.match(_NAME, name) or name == "default":
                raise ValueError(
                    f"source name {name!r}: lower-case letters, digits and _, "
                    "not 'default' (that is KPI_SOURCE_DATABASE_URL)"
                )
        return value

    @model_validator(mode="after")
    def _auth_is_configured(self) -> Settings:
        if self.auth_mode is AuthMode.NONE and self.env is Environment.PRODUCTION:
            raise ValueError("KPI_AUTH_MODE=none is refused when KPI_ENV=production")
        if self.auth_mode is AuthMode.JWT and not (self.jwt_secret or self.jwt_public_key):
            raise ValueError("KPI_AUTH_MODE=jwt needs KPI_JWT_SECRET or KPI_JWT_PUBLIC_KEY")
        if self.auth_mode is AuthMode.TRUSTED_HEADERS and not self.service_token:
            raise ValueError("KPI_AUTH_MODE=trusted_headers needs KPI_SERVICE_TOKEN")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def today(self, now: datetime | None = None) -> date:
        """The date in the organisation's time zone at the aware instant `now` (None: now)."""
        return local_today(self.tz, datetime.now(UTC) if now is None else now)

    @property
    def source_schema_list(self) -> list[str]:
        return self.source_schemas.split(",")

    def schedule(self, kind: str) -> str:
        """The cron line of a period kind (daily, weekly, monthly, quarterly, yearly)."""
        line: str = getattr(self, f"schedule_{kind}")
        return line


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
