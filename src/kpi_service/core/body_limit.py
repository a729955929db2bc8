"""Request bodies over `KPI_MAX_BODY_BYTES` are refused with 413 before anything buffers them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kpi_service.core.asgi import HttpMiddleware
from kpi_service.core.errors import problem_response


class _TooLarge(Exception):
    """The body streamed past the limit (raised into the app from `receive`)."""


class BodyLimit(HttpMiddleware):
    """Answer 413 at once to a declared Content-Length over the limit; count a body without
    one as it streams, and stop reading it once past the limit.

    A pure ASGI middleware: it sees the body before routing, authentication or parsing, and
    never holds more of it than the one chunk the server hands over.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return

        seen = 0
        over = False
        started = False

        async def counting_receive() -> Message:
            nonlocal seen, over
            if over:  # the app goes on reading after the refusal: the body has ended for it
                raise _TooLarge
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    over = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over and not started:
                return  # the app's answer to the cut body (a 400 or 500): ours replaces it
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not over:
                raise
            # the cut body surfaced as an error (ours, or the app's wrapping): answered below
        if over:
            if started:  # too late for a status: the connection is dropped
                raise RuntimeError("request body over the limit after the response started")
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            Request(scope),
            413,
            "payload-too-large",
            "Payload too large",
            f"The request body is larger than {self.max_bytes} bytes (KPI_MAX_BODY_BYTES).",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None
