"""The error answers every operation declares: problem+json, or `{"error"}` on the seed's routes."""

from __future__ import annotations

from typing import Any, NotRequired

from fastapi import FastAPI
from pydantic import TypeAdapter
from typing_extensions import TypedDict  # pydantic reads typing.TypedDict only from 3.12

from kpi_service.core.errors import PROBLEM_JSON

_REF = "#/components/schemas/{model}"


class FieldProblem(TypedDict):
    """One refused field: where it is, what is wrong, which kind of error."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(TypedDict):
    """An RFC 9457 problem document, as every native error answer carries."""

    type: str
    title: str
    status: int
    detail: str
    instance: NotRequired[str]
    errors: NotRequired[list[FieldProblem]]


class LegacyError(TypedDict):
    """The seed's error body, kept on its `/kpis/...` routes."""

    error: str


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
}

_WHY = {
    400: "The body is not valid JSON.",
    401: "Credentials are missing or not valid for the configured auth mode.",
    403: "The resource is visible, the action is not allowed to the caller's role.",
    404: "No such resource, or one the caller cannot see (another tenant's included).",
    409: "The request conflicts with stored data (a duplicate, a closed period, a state).",
    413: "The request body is larger than KPI_MAX_BODY_BYTES; it was not read.",
    422: "A parameter or a field of the body is invalid; `errors` says which.",
    503: "The database is not reachable or every connection is busy; retry later.",
}


def _answers(schema: str, media_type: str) -> dict[int | str, dict[str, Any]]:
    answers: dict[int | str, dict[str, Any]] = {}
    for status, why in _WHY.items():
        answer: dict[str, Any] = {
            "description": why,
            "content": {media_type: {"schema": {"$ref": _REF.format(model=schema)}}},
        }
        if status == 503:
            answer["headers"] = _RETRY_AFTER
        answers[status] = answer
    return answers


# Declared on every native route (FastAPI then drops its own application/json 422).
PROBLEM_RESPONSES = _answers("Problem", PROBLEM_JSON)
LEGACY_RESPONSES = _answers("LegacyError", "application/json")


def _components() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (Problem, LegacyError):
        schema = TypeAdapter(model).json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def document_problems(app: FastAPI) -> None:
    """Put the error bodies the declared responses refer to among the document's schemas."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        spec = generate()
        spec.setdefault("components", {}).setdefault("schemas", {}).update(_components())
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
