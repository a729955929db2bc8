"""Run statements: claiming, heartbeats, progress, occurrences."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Interval, Update, and_, func, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from kpi_service.core.repository import Repository
from kpi_service.models import CalculationRun, RunStatus

UNFINISHED = (RunStatus.QUEUED, RunStatus.RUNNING)


def _beaten_before(stale_after: timedelta) -> Any:
    """The instant before which a heartbeat is stale, on the database's clock: heartbeats
    are written with its `now()`, so replicas whose clocks differ still agree."""
    return func.now() - literal(stale_after, Interval())


class RunRepository(Repository[CalculationRun]):
    """Reads and writes of `kpi.calculation_runs` for one session; pages of them show the
    newest first."""

    model = CalculationRun
    newest_first = True

    async def claim(
        self, tenant_id: str, run_id: int, worker: str, stale_after: timedelta
    ) -> CalculationRun | None:
        """Take a run to execute: a queued one, or one whose owner stopped beating.

        One UPDATE decides: of two processes claiming at once, the second re-reads the
        row after the first commits, finds it running with a fresh heartbeat, and gets
        nothing.
        """
        run = CalculationRun
        resumed = run.status == RunStatus.RUNNING
        stmt = (
            update(run)
            .where(
                self.in_tenant(tenant_id),
                run.id == run_id,
                run.status.in_(UNFINISHED),
                or_(
                    and_(run.status == RunStatus.QUEUED, run.worker.is_(None)),
                    run.heartbeat_at < _beaten_before(stale_after),
                ),
            )
            .values(
                status=RunStatus.RUNNING,
                worker=worker,
                heartbeat_at=func.now(),
                started_at=func.coalesce(run.started_at, func.now()),
                resumed=run.resumed + resumed.cast(run.resumed.type),
            )
            .returning(run)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def stale(self, stale_after: timedelta, limit: int) -> list[tuple[str, int]]:
        """Unfinished runs of any tenant whose heartbeat stopped: (tenant, run id), oldest first.

        The one statement that crosses tenants: the process resumes work, it serves nobody.
        """
        stmt = (
            select(CalculationRun.tenant_id, CalculationRun.id)
            .where(
                CalculationRun.status.in_(UNFINISHED),
                CalculationRun.heartbeat_at < _beaten_before(stale_after),
            )
            .order_by(CalculationRun.heartbeat_at)
            .limit(limit)
        )
        return [(t, i) for t, i in (await self.session.execute(stmt)).all()]

    def _owned(self, tenant_id: str, run_id: int, worker: str) -> Update:
        """An UPDATE of the run, limited to while this worker owns it (running, in its name)."""
        return update(CalculationRun).where(
            self.in_tenant(tenant_id),
            CalculationRun.id == run_id,
            CalculationRun.worker == worker,
            CalculationRun.status == RunStatus.RUNNING,
        )

    async def beat(self, tenant_id: str, run_id: int, worker: str) -> bool:
        """Refresh the heartbeat of a run this worker owns; False if it owns it no longer."""
        return await self.record(tenant_id, run_id, worker)

    async def record(self, tenant_id: str, run_id: int, worker: str, **values: Any) -> bool:
        """Write a run's progress or outcome (and its heartbeat), if this worker still owns it."""
        stmt = (
            self._owned(tenant_id, run_id, worker)
            .values(heartbeat_at=func.now(), **values)
            .returning(CalculationRun.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def release(self, tenant_id: str, run_id: int, worker: str) -> None:
        """Give a run up on shutdown: its heartbeat is made stale so any process resumes it."""
        await self.session.execute(
            self._owned(tenant_id, run_id, worker).values(heartbeat_at=text("'epoch'::timestamptz"))
        )

    async def add_occurrence(self, values: dict[str, Any]) -> int | None:
        """Insert a scheduled occurrence's run unless one exists; its id, or None if taken.

        A transaction-level advisory lock on the occurrence serialises replicas that fire
        together; the unique index on (tenant, trigger, kind, start) is the guarantee.
        """
        key = (
            f"kpi-schedule:{values['tenant_id']}:{values['period_kind']}:"
            f"{values['period_start'].isoformat()}"
        )
        await self.session.execute(
            select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0)))
        )
        stmt = (
            pg_insert(CalculationRun)
            .values(**values)
            .on_conflict_do_nothing(
                index_elements=["tenant_id", "trigger", "period_kind", "period_start"],
                index_where=text("trigger = 'schedule'"),
            )
            .returning(CalculationRun.id)
        )
        row = (await self.session.execute(stmt)).first()
        return None if row is None else int(row[0])
