"""The vocabulary of the access matrix: the callers, what each may get (`Outcome`), who may
see whose rows (`may_see`), whose the rows of an answer are, and a row of the matrix
(`Route`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from httpx import Response

from tests.support.auth import bearer

TENANT = "default"


class Outcome(StrEnum):
    """What a caller gets from a route, by class."""

    OK = "ok"  # 2xx: allowed
    OWN = "own"  # 200 with exactly the rows the caller may see (none of another tenant's)
    FORBIDDEN = "403"  # in sight, not theirs to do
    NOT_FOUND = "404"  # another tenant's, or out of the caller's sight
    CONFLICT = "409"  # needs what the caller's tenant has not set up (a pack not installed)
    UNKNOWN = "422"  # the body or query names a row the caller cannot see: unknown to them
    UNAUTHENTICATED = "401"  # no valid credentials


@dataclass(frozen=True)
class Caller:
    """A kind of caller the walk sends every route as."""

    name: str
    tenant: str = TENANT
    user: str | None = None
    role: str | None = None
    teams: frozenset[str] = frozenset()

    def headers(self) -> dict[str, str]:
        if self.user is None or self.role is None:
            return {}
        return bearer(self.user, self.role, tenant=self.tenant, teams=sorted(self.teams))


# The subject of the walk is user 42, of team t1; 43 is of team t2.
CALLERS = (
    Caller("admin", user="boss", role="admin"),
    Caller("manager", user="m1", role="manager", teams=frozenset({"t1"})),
    Caller("other manager", user="m2", role="manager", teams=frozenset({"t2"})),
    Caller("owner", user="42", role="member"),
    Caller("other member", user="43", role="member"),
    Caller("other tenant", tenant="acme", user="boss", role="admin"),
)
ANONYMOUS = Caller("anonymous")
PUBLIC = "public"


@dataclass(frozen=True)
class Subject:
    """Whose a row is: a user, a team or the organisation, and the teams it is held in."""

    type: str
    id: str
    teams: frozenset[str] = frozenset()


def may_see(caller: Caller, subject: Subject | None) -> bool:
    """DESIGN.md 8 in plain Python: whether a caller of the tenant sees a row of this subject
    (None: a row of the tenant as a whole, seen by whoever may use the route)."""
    if subject is None or caller.role == "admin":
        return True
    if subject.type == "user" and subject.id == caller.user:
        return True
    return caller.role == "manager" and bool(
        subject.teams & caller.teams or (subject.type == "team" and subject.id in caller.teams)
    )


@dataclass(frozen=True)
class Known:
    """The tenant's assignments as its admin sees them, to tell whose a row is."""

    assignments: Mapping[int, Mapping[str, Any]]

    def of_assignment(self, assignment_id: int) -> Subject | None:
        a = self.assignments.get(assignment_id)
        if a is None:
            return None
        return Subject(a["subject_type"], a["subject_id"], frozenset({a["team_id"]}) - {None})

    def of_user(self, user: str, definition_id: int | None = None) -> Subject:
        """A user, held in the teams of their assignments (of one KPI, if named)."""
        teams = {
            a["team_id"]
            for a in self.assignments.values()
            if a["subject_type"] == "user"
            and a["subject_id"] == user
            and definition_id in (None, a["definition_id"])
        }
        return Subject("user", user, frozenset(teams - {None}))


Rows = Callable[[Response, Known], dict[Any, Subject | None]]
Body = dict[str, Any] | Callable[[dict[str, Any]], Any] | None


def tenant_rows(r: Response, k: Known) -> dict[Any, Subject | None]:
    return {i["id"]: None for i in r.json()["items"]}


def assignment_rows(r: Response, k: Known) -> dict[Any, Subject | None]:
    return {
        i["id"]: Subject(i["subject_type"], i["subject_id"], frozenset({i["team_id"]}) - {None})
        for i in r.json()["items"]
    }


def measurement_rows(r: Response, k: Known) -> dict[Any, Subject | None]:
    return {i["id"]: k.of_assignment(i["assignment_id"]) for i in r.json()["items"]}


def goal_rows(r: Response, k: Known) -> dict[Any, Subject | None]:
    return {i["id"]: k.of_user(i["user_id"]) for i in r.json()["items"]}


def event_rows(r: Response, k: Known) -> dict[Any, Subject | None]:
    return {
        i["id"]: Subject("user", i["user_id"], frozenset({i["team_id"]}) - {None})
        for i in r.json()["items"]
    }


def alert_rows(r: Response, k: Known) -> dict[Any, Subject | None]:
    def whose(i: dict[str, Any]) -> Subject:
        teams = {
            a["team_id"]
            for a in k.assignments.values()
            if (a["definition_id"], a["subject_type"], a["subject_id"])
            == (i["definition_id"], i["subject_type"], i["subject_id"])
        }
        return Subject(i["subject_type"], i["subject_id"], frozenset(teams - {None}))

    return {i["id"]: whose(i) for i in r.json()["items"]}


def leaderboard_rows(r: Response, k: Known) -> dict[Any, Subject | None]:
    return {i["user_id"]: k.of_user(i["user_id"]) for i in r.json()["items"]}


def activity_rows(r: Response, k: Known) -> dict[Any, Subject | None]:
    """The items of the walk's timeline, user 42's (another tenant may hold events of a 42)."""
    return {i["id"]: k.of_user("42") for i in r.json()["activities"]}


def csv_rows(r: Response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(r.text)))


def exported_rows(r: Response, k: Known) -> dict[Any, Subject | None]:
    return {int(row["id"]): k.of_assignment(int(row["assignment_id"])) for row in csv_rows(r)}


def legacy_definition_rows(r: Response, k: Known) -> dict[Any, Subject | None]:
    return {d["id"]: None for d in r.json()["definitions"]}


def legacy_kpi_rows(r: Response, k: Known) -> dict[Any, Subject | None]:
    return {a["id"]: k.of_assignment(a["id"]) for a in r.json()["kpis"]}


@dataclass(frozen=True)
class Route:
    """A row of the matrix: a route, what each caller gets, and a request that shows it.

    The path's parameters are filled from `default_data` (and, per case, `n`: a number of
    its own, and `new_user`: a user nobody holds yet), by the same name unless `names` names
    another; `fresh` names the kind of row the walk makes anew
    for each case, for routes that use up what they act on; `rows` tells whose the rows of
    an `own` answer are, `shows` whether a view's answer shows any data.
    """

    method: str
    path: str
    expect: str
    body: Body = None
    params: dict[str, Any] = field(default_factory=dict)
    fresh: str | None = None
    names: dict[str, str] = field(default_factory=dict)
    rows: Rows | None = None
    shows: Callable[[Response], bool] | None = None

    def outcome(self, caller: Caller) -> Outcome | str:
        if self.expect == PUBLIC:
            return PUBLIC
        if caller.role is None:
            return Outcome.UNAUTHENTICATED
        column = [c.name for c in CALLERS].index(caller.name)
        return Outcome(self.expect.split()[column])

    def request(self, ids: dict[str, Any]) -> tuple[str, Any]:
        """The URL and JSON body of this route's request, for these ids."""
        body = self.body(ids) if callable(self.body) else self.body
        values = {**ids, **{param: ids[name] for param, name in self.names.items()}}
        return self.path.format(**values), body

    @property
    def legacy(self) -> bool:
        return self.path.startswith("/kpis/")

    @property
    def writes(self) -> bool:
        return self.method != "GET"
