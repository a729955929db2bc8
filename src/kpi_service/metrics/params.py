"""Query parameter types shared by the metrics views, so that one name means one thing."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field

# A day any report may name. Far enough from the calendar's ends that the periods, weeks and
# cohort months around it (and the instant after its last day) are valid dates.
Day = Annotated[dt.date, Field(ge=dt.date(1900, 1, 1), le=dt.date(2999, 12, 31))]
