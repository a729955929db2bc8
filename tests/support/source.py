"""Fake external sources for the `api` calculator: a real Starlette app served by uvicorn,
and the KPI configs that read it."""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.http import LocalServer


@dataclass(frozen=True)
class Seen:
    """One request as the source received it."""

    path: str
    raw_path: bytes
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class SourceState:
    """What the source answers and what it observed; replaced for every test."""

    values: dict[str, Any] = field(default_factory=dict)
    plans: dict[str, list[str]] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)
    seen: list[Seen] = field(default_factory=list)
    delay_s: float = 0.0
    slow_s: float = 3.0
    in_flight: int = 0
    max_in_flight: int = 0
    conversations: list[dict[str, Any]] = field(default_factory=list)
    intercom_page_size: int = 2
    calls: list[dict[str, Any]] = field(default_factory=list)
    aircall_page_size: int = 50
    aircall_foreign_next: bool = False

    def plan(self, subject: str, *behaviours: str) -> None:
        """Answer subject's n-th request with the n-th behaviour (the last one repeats)."""
        self.plans[subject] = list(behaviours)

    def behaviour(self, subject: str) -> str:
        """Count one more request for subject and return how to answer it."""
        self.attempts[subject] += 1
        plan = self.plans.get(subject, ["ok"])
        return plan[min(self.attempts[subject], len(plan)) - 1]

    def requests_to(self, path: str) -> list[Seen]:
        """The requests the source received on path."""
        return [s for s in self.seen if s.path == path]


async def _chunks(size: int) -> AsyncIterator[bytes]:
    yield b'{"data": {"value": 1}, "padding": "'
    for _ in range(size // 65536):
        yield b"x" * 65536
    yield b'"}'


def _cursor(offset: int) -> str:
    return base64.b64encode(json.dumps([offset]).encode()).decode()


def _offset(cursor: str) -> int:
    return int(json.loads(base64.b64decode(cursor))[0])


class SourceServer:
    """Serves the fake source on a free 127.0.0.1 port from a background thread."""

    def __init__(self) -> None:
        self.state = SourceState()
        self.port = 0
        self._local: LocalServer | None = None

    @property
    def base_url(self) -> str:
        """The root URL of the running source."""
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> SourceState:
        """A fresh state; requests still running from an earlier test keep the old one."""
        self.state = SourceState()
        return self.state

    async def _record(self, request: Request) -> SourceState:
        state = self.state
        raw = await request.body()
        state.seen.append(
            Seen(
                request.url.path,
                request.scope["raw_path"],
                dict(request.query_params),
                dict(request.headers),
                json.loads(raw) if raw else None,
            )
        )
        return state

    async def kpi_value(self, request: Request) -> Response:
        """GET /kpi/{subject}: {"data": {"value": ...}} or the subject's planned failure."""
        state = await self._record(request)
        subject = request.path_params["subject_id"]
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            await asyncio.sleep(state.delay_s)
            return await self._answer(state, state.behaviour(subject), subject, request)
        finally:
            state.in_flight -= 1

    async def _answer(
        self, state: SourceState, behaviour: str, subject: str, request: Request
    ) -> Response:
        match behaviour:
            case "500" | "404":
                return JSONResponse({"error": behaviour}, status_code=int(behaviour))
            case "429":
                return JSONResponse(
                    {"error": "slow down"}, status_code=429, headers={"Retry-After": "0"}
                )
            case "slow":
                await asyncio.sleep(state.slow_s)
            case "malformed":
                return Response('{"data": {"value": 1', media_type="application/json")
            case "nan":
                return Response('{"data": {"value": NaN}}', media_type="application/json")
            case "huge":
                padding = "x" * (2 * 1024 * 1024)
                return JSONResponse({"data": {"value": 1}, "padding": padding})
            case "huge_stream":
                return StreamingResponse(_chunks(2 * 1024 * 1024), media_type="application/json")
            case "echo":
                return JSONResponse({"data": {"value": request.headers.get("authorization")}})
        data = {"value": state.values[subject]} if subject in state.values else {}
        return JSONResponse({"data": data})

    async def intercom_search(self, request: Request) -> Response:
        """POST /conversations/search, shaped after Intercom's search with cursor pages."""
        state = await self._record(request)
        body = await request.json()
        where = {(f["field"], f["operator"]): f["value"] for f in body["query"]["value"]}
        assignee = str(where[("admin_assignee_id", "=")])
        if state.behaviour(assignee) == "500":
            return JSONResponse({"type": "error.list"}, status_code=500)
        after, before = int(where[("created_at", ">")]), int(where[("created_at", "<")])
        matching = [
            c
            for c in state.conversations
            if str(c["admin_assignee_id"]) == assignee and after < c["created_at"] < before
        ]
        pagination = body.get("pagination", {})
        size = min(int(pagination.get("per_page", 20)), state.intercom_page_size)
        offset = _offset(pagination["starting_after"]) if "starting_after" in pagination else 0
        pages: dict[str, Any] = {
            "type": "pages",
            "page": offset // size + 1,
            "per_page": size,
            "total_pages": max(1, -(-len(matching) // size)),
        }
        if offset + size < len(matching):
            pages["next"] = {"page": offset // size + 2, "starting_after": _cursor(offset + size)}
        return JSONResponse(
            {
                "type": "conversation.list",
                "total_count": len(matching),
                "conversations": matching[offset : offset + size],
                "pages": pages,
            }
        )

    async def aircall_calls(self, request: Request) -> Response:
        """GET /v1/calls, shaped after Aircall's calls listing with numbered pages."""
        state = await self._record(request)
        query = request.query_params
        start, to = int(query["from"]), int(query["to"])  # both inclusive, as Aircall's
        size = min(int(query.get("per_page", 20)), 50, state.aircall_page_size)
        page = int(query.get("page", 1))
        matching = [c for c in state.calls if start <= c["started_at"] <= to]
        chunk = matching[(page - 1) * size : page * size]
        following = None
        if page * size < len(matching):
            following = str(request.url.include_query_params(page=page + 1))
            if state.aircall_foreign_next:
                following = f"https://elsewhere.example/v1/calls?page={page + 1}"
        return JSONResponse(
            {
                "calls": chunk,
                "meta": {
                    "count": len(chunk),
                    "total": len(matching),
                    "current_page": page,
                    "per_page": size,
                    "next_page_link": following,
                    "previous_page_link": None,
                },
            }
        )

    def start(self) -> None:
        """Bind a free port and serve until stop()."""
        app = Starlette(
            routes=[
                Route("/kpi/{subject_id:path}", self.kpi_value),
                Route("/conversations/search", self.intercom_search, methods=["POST"]),
                Route("/v1/calls", self.aircall_calls),
            ]
        )
        self._local = LocalServer(app, "the fake source")
        self.port = self._local.start()

    def stop(self) -> None:
        """Ask the server to exit and wait for its thread."""
        if self._local is not None:
            self._local.stop()


def value_config(source: SourceServer, **fields: Any) -> dict[str, Any]:
    """The `http_json` config of the tests: `/data/value` of the source's `/kpi/{subject_id}`,
    with these fields added or replaced (`timeout_s`, `retries`, `auth`, another `url`, ...)."""
    return {
        "adapter": "http_json",
        "url": source.base_url + "/kpi/{subject_id}",
        "value_pointer": "/data/value",
        **fields,
    }
