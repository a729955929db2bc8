"""Domain errors, and their one mapping to RFC 9457 problem+json (or the seed's `{"error"}`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, TypeVar

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

from kpi_service.core.asgi import HttpMiddleware

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
LEGACY_PREFIX = "/kpis/"

T = TypeVar("T")


class DomainError(Exception):
    """A refusal the client can act on; subclasses say which kind."""

    status = 400
    code = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, errors: Sequence[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors or [])


class InvalidInput(DomainError):
    status, code, title = 422, "invalid-input", "Invalid input"


class NotFound(DomainError):
    status, code, title = 404, "not-found", "Not found"


class Conflict(DomainError):
    status, code, title = 409, "conflict", "Conflict"


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Forbidden"


class Unauthenticated(DomainError):
    status, code, title = 401, "unauthenticated", "Authentication required"


def found(row: T | None, message: str) -> T:
    """The row a lookup found, else `NotFound(message)`."""
    if row is None:
        raise NotFound(message)
    return row


def field_error(loc: Sequence[str | int], msg: str, kind: str = "value_error") -> dict[str, Any]:
    """One entry of a problem's `errors` list."""
    return {"loc": list(loc), "msg": msg, "type": kind}


def problem_response(
    request: Request,
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The one error shape: problem+json, or the seed's `{"error"}` on its routes."""
    if request.url.path.startswith(LEGACY_PREFIX):
        # The seed's BFF reads `error` from the body: keep its shape on its routes.
        return JSONResponse({"error": detail}, status_code=status, headers=headers)
    body: dict[str, Any] = {
        "type": f"urn:kpi-service:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if errors:
        body["errors"] = list(errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        msg = str(err.get("msg", "invalid value"))
        out.append(field_error(list(err.get("loc", ())), msg, str(err.get("type"))))
    return out


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return problem_response(request, exc.status, exc.code, exc.title, exc.detail, exc.errors)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    if any(e["type"] == "json_invalid" for e in errors):
        return problem_response(
            request,
            400,
            "malformed-json",
            "Malformed JSON",
            "The request body is not valid JSON.",
            errors,
        )
    summary = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:3])
    return problem_response(request, 422, "invalid-input", "Invalid input", summary, errors)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 401: "Authentication required"}
    title = titles.get(exc.status_code, "HTTP error")
    detail = exc.detail if isinstance(exc.detail, str) else title
    code = title.lower().replace(" ", "-")
    return problem_response(
        request, exc.status_code, code, title, detail, headers=dict(exc.headers or {}) or None
    )


# What the database (or asyncpg, for COPY through the raw connection) raises: every error of
# either kind is answered here, never as a bare 500 from the catch-all.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    DBAPIError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)
# asyncpg's words for a connection the server ended under it: the socket is gone, or the
# protocol still waits for the end of an operation the server will never finish (the
# server's farewell arrived while the connection was idle). The service never shares a
# connection between tasks, so "another operation is in progress" means the latter.
_BROKEN_CONNECTION = ("another operation", "connection is closed", "connection was closed")


def sqlstate(exc: BaseException) -> str:
    """The SQLSTATE of a database error (SQLAlchemy's or the driver's), or empty."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    return getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None) or ""


def _causes(exc: BaseException) -> list[BaseException]:
    """The error and what it was raised from (SQLAlchemy wraps asyncpg's errors twice)."""
    chain = [exc]
    while (cause := chain[-1].__cause__) is not None and len(chain) < 5:
        chain.append(cause)
    return chain


def database_unreachable(exc: BaseException) -> bool:
    """The database, or the way to it, is down or ended the connection (not the statement
    wrong): retry later, on another connection."""
    if isinstance(exc, OSError):  # refused, no such socket, timed out while connecting
        return True
    for link in _causes(exc):
        if isinstance(link, DBAPIError) and link.connection_invalidated:
            return True
        # 08: connection lost or refused; 57P: shutting down, restarting, not yet accepting.
        if sqlstate(link).startswith(("08", "57P")):
            return True
        if isinstance(link, asyncpg.InterfaceError | asyncpg.InternalClientError) and any(
            words in str(link) for words in _BROKEN_CONNECTION
        ):
            return True
    return False


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    # Input is validated before it reaches the database; this is the last line of defence.
    assert isinstance(exc, DATABASE_ERRORS)
    code = sqlstate(exc)
    if isinstance(exc, IntegrityError) or code.startswith("23"):
        return problem_response(
            request, 409, "conflict", "Conflict", "The request conflicts with data already stored."
        )
    if code.startswith("22"):
        return problem_response(
            request,
            422,
            "invalid-input",
            "Invalid input",
            "A value is out of the range that can be stored.",
        )
    if database_unreachable(exc):
        return unavailable(request, "The database is not reachable; retry shortly.", 5)
    log.exception("database error on %s %s", request.method, request.url.path)
    return _internal(request)


async def _on_pool_timeout(request: Request, exc: Exception) -> JSONResponse:
    # Every connection stayed busy for KPI_DB_POOL_TIMEOUT seconds: overloaded, not broken.
    log.warning("no database connection free for %s %s", request.method, request.url.path)
    return unavailable(request, "The service is busy; retry shortly.", 2)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, OSError):  # TimeoutError and ConnectionError included
        return unavailable(request, "A dependency is not reachable; retry shortly.", 5)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _internal(request)


def unavailable(request: Request, detail: str, retry_after: int, **headers: str) -> JSONResponse:
    """503: the client may retry after that many seconds (here, or on another replica)."""
    return problem_response(
        request,
        503,
        "unavailable",
        "Service unavailable",
        detail,
        headers={"Retry-After": str(retry_after), **headers},
    )


def _internal(request: Request) -> JSONResponse:
    return problem_response(
        request,
        500,
        "internal",
        "Internal server error",
        "The server could not complete the request.",
    )


class ShutdownCut(HttpMiddleware):
    """Answer 503 to a request the server cancels once its shutdown grace has run out,
    rather than the server's bare text 500: the client may retry it on another replica."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except asyncio.CancelledError:
            if not started:
                response = unavailable(
                    Request(scope),
                    "The service is shutting down; retry shortly.",
                    1,
                    Connection="close",
                )
                await response(scope, receive, send)
            raise


def install_error_handlers(app: FastAPI) -> None:
    """Map every error the app can raise to one response shape."""
    app.add_middleware(ShutdownCut)
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    for database_error in DATABASE_ERRORS:
        app.add_exception_handler(database_error, _on_database_error)
    app.add_exception_handler(PoolTimeout, _on_pool_timeout)
    # Handlers of specific classes run inside the middleware (which then logs the 503);
    # the catch-all one runs outside it.
    app.add_exception_handler(OSError, _on_unexpected)
    app.add_exception_handler(Exception, _on_unexpected)
