"""The OpenAPI document as clients consume it: stable, one title per schema, and the error
bodies the API really sends."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from kpi_service.core.errors import LEGACY_PREFIX, PROBLEM_JSON

# FastAPI splits a model whose validation and serialization schemas differ into two
# components, "X-Input" and "X-Output", both titled "X"; client generators name classes by
# title (openapi-python-client refuses the second "X"), so each gets its component's name.
_SPLIT_SUFFIXES = ("-Input", "-Output")

_REF = "#/components/schemas/"
# FastAPI documents its own 422 body; the error handlers answer with these instead.
_FASTAPI_422 = {"HTTPValidationError", "ValidationError"}

PROBLEM_SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": {
        "title": "Problem",
        "type": "object",
        "description": "An error, as RFC 9457 problem details (application/problem+json).",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "description": "urn:kpi-service:problem:<code>"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string", "description": "The request's path."},
            "errors": {"type": "array", "items": {"$ref": _REF + "ProblemFieldError"},
                       "description": "One entry per refused field, when input is refused."},
        },
    },
    "ProblemFieldError": {
        "title": "ProblemFieldError",
        "type": "object",
        "required": ["loc", "msg", "type"],
        "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"},
                                                         {"type": "integer"}]}},
            "msg": {"type": "string"},
            "type": {"type": "string"},
        },
    },
    "LegacyError": {
        "title": "LegacyError",
        "type": "object",
        "description": "An error on the seed's /kpis/... routes, in the seed's shape.",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
    },
}


def _invalid_input(path: str) -> dict[str, Any]:
    if path.startswith(LEGACY_PREFIX):
        content = {"application/json": {"schema": {"$ref": _REF + "LegacyError"}}}
    else:
        content = {PROBLEM_JSON: {"schema": {"$ref": _REF + "Problem"}}}
    return {"description": "Invalid input", "content": content}


def _documents_fastapi_422(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref") == _REF + "HTTPValidationError")


def client_ready(spec: dict[str, Any]) -> dict[str, Any]:
    """The document with distinct titles and the real error bodies (idempotent)."""
    schemas: dict[str, dict[str, Any]] = spec.setdefault("components", {}).setdefault(
        "schemas", {})
    for name, schema in schemas.items():
        if name.endswith(_SPLIT_SUFFIXES):
            schema["title"] = name.replace("-", "")
    for path, item in spec.get("paths", {}).items():
        for operation in item.values():
            responses = operation.get("responses", {})
            if _documents_fastapi_422(responses.get("422", {})):
                responses["422"] = _invalid_input(path)
    for name in _FASTAPI_422:
        schemas.pop(name, None)
    schemas.update(PROBLEM_SCHEMAS)
    spec["components"]["schemas"] = dict(sorted(schemas.items()))
    return spec


def install(app: FastAPI) -> None:
    """Make the app's `/openapi.json` (and `app.openapi()`) the client-ready document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return client_ready(generate())

    app.openapi = openapi  # type: ignore[method-assign]


def render(spec: dict[str, Any]) -> str:
    """The document as committed in docs/openapi.json: indented, in the app's order."""
    return json.dumps(spec, indent=2, ensure_ascii=False) + "\n"
