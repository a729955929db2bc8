"""The OpenAPI document as clients consume it: stable, with one title per schema."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

# FastAPI splits a model whose validation and serialization schemas differ into two
# components, "X-Input" and "X-Output", both titled "X"; client generators name classes by
# title (openapi-python-client refuses the second "X"), so each gets its component's name.
_SPLIT_SUFFIXES = ("-Input", "-Output")


def distinct_titles(spec: dict[str, Any]) -> dict[str, Any]:
    """The document with every split component titled after its own name (idempotent)."""
    schemas: dict[str, dict[str, Any]] = spec.get("components", {}).get("schemas", {})
    for name, schema in schemas.items():
        if name.endswith(_SPLIT_SUFFIXES):
            schema["title"] = name.replace("-", "")
    return spec


def install(app: FastAPI) -> None:
    """Make the app's `/openapi.json` (and `app.openapi()`) the client-ready document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return distinct_titles(generate())

    app.openapi = openapi  # type: ignore[method-assign]


def render(spec: dict[str, Any]) -> str:
    """The document as committed in docs/openapi.json: indented, in the app's order."""
    return json.dumps(spec, indent=2, ensure_ascii=False) + "\n"
