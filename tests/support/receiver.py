"""A webhook receiver on 127.0.0.1 that checks every signature on its own, with `hmac`."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.http import LocalServer

SECRET = "receiver-secret-for-tests-0123456789"
SECRET_ENV = "KPI_WEBHOOK_SECRET_TESTS"


@dataclass(frozen=True)
class Received:
    """One request as the receiver got it, and whether its signature held."""

    path: str
    headers: dict[str, str]
    body: bytes
    signed: bool

    @property
    def payload(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded

    @property
    def delivery(self) -> str:
        return self.headers["x-kpi-delivery"]


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does: HMAC-SHA256 over `timestamp.body`, compared in constant time,
    with a timestamp no more than five minutes off."""
    timestamp = headers.get("x-kpi-timestamp", "")
    offered = headers.get("x-kpi-signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return False
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(offered, f"sha256={expected}")


@dataclass
class ReceiverState:
    """How to answer (per path, the n-th request gets the n-th behaviour, the last repeats)
    and what was received; replaced for every test."""

    plans: dict[str, list[str]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    hang_s: float = 30.0

    def plan(self, path: str, *behaviours: str) -> None:
        self.plans[path] = list(behaviours)

    def to(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


class Receiver:
    """Serves the receiver from a background thread on a free port."""

    def __init__(self) -> None:
        self.state = ReceiverState()
        self.port = 0
        self._local: LocalServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def reset(self) -> ReceiverState:
        self.state = ReceiverState()
        return self.state

    async def hook(self, request: Request) -> Response:
        state = self.state
        body = await request.body()
        headers = dict(request.headers)
        path = request.url.path
        seen = len(state.to(path))
        state.received.append(Received(path, headers, body, verify(SECRET, headers, body)))
        plan = state.plans.get(path, ["ok"])
        behaviour = plan[min(seen, len(plan) - 1)]
        if behaviour == "hang":
            await asyncio.sleep(state.hang_s)
        if behaviour.isdigit():
            return JSONResponse(
                {"error": behaviour},
                status_code=int(behaviour),
                headers={"Retry-After": "0"} if behaviour == "429" else None,
            )
        return JSONResponse({"ok": True})

    def start(self) -> None:
        app = Starlette(routes=[Route("/{path:path}", self.hook, methods=["POST"])])
        self._local = LocalServer(app, "the receiver")
        self.port = self._local.start()

    def stop(self) -> None:
        if self._local is not None:
            self._local.stop()
