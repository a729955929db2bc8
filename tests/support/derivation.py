"""The invariant's check for tests: the drift `kpi-service verify` would report."""

from __future__ import annotations

from kpi_service.core.database import Database
from kpi_service.core.settings import Settings
from kpi_service.measurements.derivation import Drift, drift


async def no_drift(db: Database, settings: Settings) -> Drift:
    """The drift of the `default` tenant's stored measurements (`.clean` when none)."""
    found = Drift()
    async with db.sessions() as session:
        await drift(session, settings, "default", found)
    return found
