"""Credentials for test requests: valid bearer tokens, and JWTs assembled by hand."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt

from tests.support.app import JWT_SECRET


def bearer(
    user: str, role: str, tenant: str = "default", teams: list[str] | None = None, **claims: Any
) -> dict[str, str]:
    """An Authorization header with a valid HS256 token for that identity."""
    payload: dict[str, Any] = {
        "sub": user,
        "role": role,
        "tenant": tenant,
        "teams": teams or [],
        "exp": int(time.time()) + 3600,
    }
    payload.update(claims)
    return {"Authorization": "Bearer " + jwt.encode(payload, JWT_SECRET, algorithm="HS256")}


ADMIN = bearer("boss", "admin")
ACME_ADMIN = bearer("boss", "admin", tenant="acme")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**changes: Any) -> dict[str, Any]:
    """Valid claims for an admin of `default`; a change of None removes the claim."""
    values: dict[str, Any] = {
        "sub": "boss",
        "tenant": "default",
        "role": "admin",
        "teams": [],
        "exp": int(time.time()) + 600,
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def hand_made(
    header: dict[str, Any],
    payload: dict[str, Any],
    key: bytes | None,
    digest: Callable[..., Any] = hashlib.sha256,
) -> str:
    """A JWT assembled by hand: an HMAC (SHA-256 unless told) over header.payload with `key`,
    or no signature."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    if key is None:
        return signing_input + "."
    signature = hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def with_token(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
