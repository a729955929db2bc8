"""The `api` calculator's adapters: what each source is asked, through the fetcher
(`api_fetcher`), and how its JSON answer becomes values."""

from __future__ import annotations

import asyncio
import statistics
import string
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

from kpi_service.calculators.api_fetcher import Fetcher, SourceError
from kpi_service.calculators.base import CalculationFailed, CalculationRequest, Outcome

HTTP_JSON = "http_json"
INTERCOM = "intercom_median_first_response"
AIRCALL = "aircall_calls_per_user"

URL_PLACEHOLDERS = frozenset(
    {
        "subject_id",
        "period_start",
        "period_end",
        "period_start_date",
        "period_end_date",
        "tenant_id",
    }
)
INTERCOM_MAX_PAGES = 20
INTERCOM_PER_PAGE = 150  # the search API's largest page
AIRCALL_MAX_PAGES = 50
AIRCALL_PER_PAGE = 50  # the calls API's largest page
# Beyond this a value cannot be stored in a PostgreSQL numeric, so it is refused up front.
_MAX_EXPONENT = 1000


class UnexpectedShape(ValueError):
    """A JSON answer that is not shaped like the source's documented response."""


def as_number(value: Any) -> Decimal | None:
    """The finite number a JSON value stands for (a number or numeric string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    if not number.is_finite():
        return None
    if not number:
        return Decimal(0)
    return number if abs(number.adjusted()) <= _MAX_EXPONENT else None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Decimal) and not value.is_finite():
        return "not finite"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else "a number out of range"


def pointer_tokens(pointer: str) -> list[str]:
    """The reference tokens of an RFC 6901 JSON pointer; ValueError when it is not one."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError("a JSON pointer starts with '/' (or is empty for the whole document)")
    tokens = pointer[1:].split("/")
    for token in tokens:
        if token.replace("~0", "").replace("~1", "").count("~"):
            raise ValueError("in a JSON pointer '~' must be followed by 0 or 1")
    # ~1 first: "~01" means the literal "~1", not "/".
    return [token.replace("~1", "/").replace("~0", "~") for token in tokens]


def resolve_pointer(document: Any, tokens: Sequence[str]) -> Any:
    """The value the pointer tokens reach in document; LookupError when there is none."""
    current = document
    for step in tokens:
        if isinstance(current, dict):
            current = current[step]
        elif isinstance(current, list):
            # isascii: str.isdigit() also holds for "²", which int() refuses.
            if not (step.isascii() and step.isdigit()) or (step != "0" and step.startswith("0")):
                raise LookupError(step)
            current = current[int(step)]
        else:
            raise LookupError(step)
    return current


def url_placeholders(template: str) -> list[str]:
    """The placeholder names of a URL template; ValueError when one is unknown or malformed."""
    names = []
    for _literal, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if name not in URL_PLACEHOLDERS:
            raise ValueError(
                f"unknown placeholder {{{name}}}; known: " + ", ".join(sorted(URL_PLACEHOLDERS))
            )
        if spec or conversion:
            raise ValueError(f"placeholder {{{name}}} takes no format spec or conversion")
        names.append(name)
    return names


def render_url(template: str, values: Mapping[str, str]) -> str:
    """The URL template with every placeholder replaced by its percent-encoded value."""
    return template.format_map({name: quote(value, safe="") for name, value in values.items()})


def _utc(moment: datetime) -> str:
    # "Z" rather than "+00:00": a "+" in a query string reads as a space.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unix_bounds(request: CalculationRequest) -> tuple[int, int]:
    start, end = request.period.instants(request.tz)
    return int(start.timestamp()), int(end.timestamp())


async def _per_subject(
    subjects: Iterable[str],
    compute: Callable[[str], Coroutine[Any, Any, Outcome]],
) -> dict[str, Outcome]:
    tasks: dict[str, asyncio.Task[Outcome]]
    async with asyncio.TaskGroup() as group:
        tasks = {
            subject: group.create_task(compute(subject)) for subject in dict.fromkeys(subjects)
        }
    return {subject: task.result() for subject, task in tasks.items()}


def _failed(exc: SourceError, details: dict[str, Any]) -> Outcome:
    details.update(status=exc.status, attempts=details.get("attempts", 0) + exc.attempts)
    return Outcome(None, exc.reason, failed=True, details=details)


async def http_json(
    fetcher: Fetcher, request: CalculationRequest, url_template: str, pointer: str
) -> dict[str, Outcome]:
    """One GET per subject, reading the number at the JSON pointer of each answer."""
    tokens = pointer_tokens(pointer)
    start, end = request.period.instants(request.tz)
    shared = {
        "period_start": _utc(start),
        "period_end": _utc(end),
        "period_start_date": request.period.start.isoformat(),
        "period_end_date": request.period.end.isoformat(),
        "tenant_id": request.tenant_id,
    }
    where = pointer or "the document root"

    async def one(subject: str) -> Outcome:
        url = render_url(url_template, {**shared, "subject_id": subject})
        details: dict[str, Any] = {"adapter": HTTP_JSON, "path": urlsplit(url).path}
        try:
            answer = await fetcher.fetch("GET", url)
        except SourceError as exc:
            return _failed(exc, details)
        details.update(status=answer.status, attempts=answer.attempts)
        try:
            found = resolve_pointer(answer.body, tokens)
        except LookupError:
            return Outcome(None, f"no value at {where}", details=details)
        if found is None:
            return Outcome(None, f"no value at {where} (null)", details=details)
        number = as_number(found)
        if number is None:
            # The type only, never the value: a source could echo the credentials back.
            return Outcome(
                None,
                f"the value at {where} is not a usable number ({_json_type(found)})",
                failed=True,
                details=details,
            )
        return Outcome(number, details=details)

    return await _per_subject(request.subject_ids, one)


def _intercom_query(subject: str, start: int, end: int, cursor: str | None) -> dict[str, Any]:
    # Search offers only strict < and >; timestamps are whole seconds, so > start-1 is >= start.
    pagination: dict[str, Any] = {"per_page": INTERCOM_PER_PAGE}
    if cursor is not None:
        pagination["starting_after"] = cursor
    return {
        "query": {
            "operator": "AND",
            "value": [
                {"field": "admin_assignee_id", "operator": "=", "value": subject},
                {"field": "created_at", "operator": ">", "value": str(start - 1)},
                {"field": "created_at", "operator": "<", "value": str(end)},
            ],
        },
        "pagination": pagination,
    }


def _intercom_page(body: Any) -> tuple[list[Decimal], str | None]:
    conversations = body.get("conversations") if isinstance(body, dict) else None
    if not isinstance(conversations, list):
        raise UnexpectedShape("the response has no conversations list")
    reply_seconds = []
    for conversation in conversations:
        if not isinstance(conversation, dict):
            raise UnexpectedShape("a conversation is not an object")
        stats = conversation.get("statistics") or {}
        reply = stats.get("time_to_admin_reply") if isinstance(stats, dict) else None
        if reply is None:
            continue  # never answered by an admin: no reply time to count
        seconds = as_number(reply)
        if seconds is None:
            raise UnexpectedShape("a time_to_admin_reply is not a number")
        reply_seconds.append(seconds)
    pages = body.get("pages")
    following = pages.get("next") if isinstance(pages, dict) else None
    if following is None:
        return reply_seconds, None
    cursor = following.get("starting_after") if isinstance(following, dict) else None
    if not isinstance(cursor, str) or not cursor:
        raise UnexpectedShape("pages.next has no starting_after cursor")
    return reply_seconds, cursor


async def intercom_median_first_response(
    fetcher: Fetcher, request: CalculationRequest, base_url: str
) -> dict[str, Outcome]:
    """Per admin, the median first admin reply time in minutes of conversations in the period."""
    start, end = _unix_bounds(request)
    url = f"{base_url}/conversations/search"

    async def one(subject: str) -> Outcome:
        details: dict[str, Any] = {"adapter": INTERCOM, "status": None, "attempts": 0, "pages": 0}
        reply_seconds: list[Decimal] = []
        cursors: set[str] = set()
        cursor: str | None = None
        try:
            for page in range(1, INTERCOM_MAX_PAGES + 1):
                answer = await fetcher.fetch(
                    "POST", url, json_body=_intercom_query(subject, start, end, cursor)
                )
                details.update(
                    status=answer.status, attempts=details["attempts"] + answer.attempts, pages=page
                )
                seconds, cursor = _intercom_page(answer.body)
                reply_seconds += seconds
                if cursor is None:
                    break
                if cursor in cursors:
                    raise UnexpectedShape("the source repeated a page cursor")
                cursors.add(cursor)
            else:
                # A median of the first pages only would be silently wrong.
                return Outcome(
                    None,
                    f"more than {INTERCOM_MAX_PAGES} pages of conversations",
                    failed=True,
                    details=details,
                )
        except SourceError as exc:
            return _failed(exc, details)
        except UnexpectedShape as exc:
            return Outcome(None, str(exc), failed=True, details=details)
        if not reply_seconds:
            return Outcome(
                None, "no conversation with an admin reply in the period", details=details
            )
        return Outcome(statistics.median(reply_seconds) / 60, details=details)

    return await _per_subject(request.subject_ids, one)


def _aircall_page(body: Any) -> tuple[list[str], str | None]:
    calls = body.get("calls") if isinstance(body, dict) else None
    meta = body.get("meta") if isinstance(body, dict) else None
    if not isinstance(calls, list) or not isinstance(meta, dict):
        raise UnexpectedShape("the response has no calls list and meta object")
    user_ids = []
    for call in calls:
        user = call.get("user") if isinstance(call, dict) else None
        user_id = user.get("id") if isinstance(user, dict) else None
        # Unanswered calls have no user; ids are numbers in Aircall, strings for subjects.
        if isinstance(user_id, int | str) and not isinstance(user_id, bool):
            user_ids.append(str(user_id))
    following = meta.get("next_page_link")
    if following is not None and not isinstance(following, str):
        raise UnexpectedShape("meta.next_page_link is not a URL")
    return user_ids, following or None


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return (
        parts.scheme.lower(),
        parts.hostname,
        parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower()),
    )


async def aircall_calls_per_user(
    fetcher: Fetcher, request: CalculationRequest, base_url: str
) -> dict[str, Outcome]:
    """Per user, the number of calls in the period, from one listing shared by all subjects."""
    start, end = _unix_bounds(request)
    # `to` is inclusive and call times are whole seconds, so end - 1 keeps the end exclusive.
    url = f"{base_url}/v1/calls?" + urlencode(
        {"from": start, "to": end - 1, "per_page": AIRCALL_PER_PAGE, "page": 1, "order": "asc"}
    )
    counts: Counter[str] = Counter()
    attempts = status = 0
    for page in range(1, AIRCALL_MAX_PAGES + 1):
        try:
            answer = await fetcher.fetch("GET", url)
            user_ids, following = _aircall_page(answer.body)
        except (SourceError, UnexpectedShape) as exc:
            raise CalculationFailed(f"the calls listing failed on page {page}: {exc}") from None
        attempts, status = attempts + answer.attempts, answer.status
        counts.update(user_ids)
        if following is None:
            break
        following = urljoin(url, following)
        if _origin(following) != _origin(base_url):
            # The auth header must never travel to a host the definition did not name.
            raise CalculationFailed("the calls listing links its next page to another host")
        url = following
    else:
        raise CalculationFailed(
            f"the calls listing has more than {AIRCALL_MAX_PAGES} pages "
            "for the period; counts would be incomplete"
        )
    details = {
        "adapter": AIRCALL,
        "status": status,
        "attempts": attempts,
        "pages": page,
        "calls": sum(counts.values()),
    }
    return {
        subject: Outcome(Decimal(counts[subject]), details=dict(details))
        for subject in dict.fromkeys(request.subject_ids)
    }
