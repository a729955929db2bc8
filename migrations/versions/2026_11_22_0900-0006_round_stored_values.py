"""round stored values: measurement values kept with more than six decimal places (query and
api KPIs stored them unrounded) are rounded to six, half to even, as every other figure

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Six places, half to even (round() alone rounds half away from zero): an exact half with an
# even digit before it is truncated, anything else is what round() gives.
_STATEMENTS = (
    """UPDATE kpi.measurements SET actual_value =
         CASE WHEN abs(actual_value * 1000000 - trunc(actual_value * 1000000)) = 0.5
                   AND mod(trunc(actual_value * 1000000), 2) = 0
              THEN round(trunc(actual_value * 1000000) / 1000000, 6)
              ELSE round(actual_value, 6) END
       WHERE scale(actual_value) > 6""",
    """UPDATE kpi.measurements SET previous_value =
         CASE WHEN abs(previous_value * 1000000 - trunc(previous_value * 1000000)) = 0.5
                   AND mod(trunc(previous_value * 1000000), 2) = 0
              THEN round(trunc(previous_value * 1000000) / 1000000, 6)
              ELSE round(previous_value, 6) END
       WHERE scale(previous_value) > 6""",
    """UPDATE kpi.measurement_revisions SET actual_value =
         CASE WHEN abs(actual_value * 1000000 - trunc(actual_value * 1000000)) = 0.5
                   AND mod(trunc(actual_value * 1000000), 2) = 0
              THEN round(trunc(actual_value * 1000000) / 1000000, 6)
              ELSE round(actual_value, 6) END
       WHERE scale(actual_value) > 6""",
)


def upgrade() -> None:
    for statement in _STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    # The digits rounded away are not kept anywhere: nothing to restore.
    pass
