"""The committed docs/openapi.json is the app's spec, whatever the configuration, and is fit for
client generators: unique operation ids, a tag and responses on every operation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kpi_service.app import create_app
from kpi_service.core.openapi import render
from kpi_service.core.settings import AuthMode
from tests.support.app import make_settings
from tests.support.spec import SPEC_FILE, committed, operations

REGENERATE = ".venv/bin/kpi-service openapi > docs/openapi.json"
UNUSED_DB = "postgresql://spec@127.0.0.1/unused"


def _compare(kind: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [
        f"  {kind} {name}: "
        + ("added" if name not in old else "removed" if name not in new else "changed")
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name)
    ]


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changed from the committed spec to the app's, by operation and by schema."""
    lines = _compare("operation", operations(old), operations(new))
    lines += _compare(
        "schema",
        old.get("components", {}).get("schemas", {}),
        new.get("components", {}).get("schemas", {}),
    )
    rest = (
        {k: v for k, v in spec.items() if k not in ("paths", "components")} for spec in (old, new)
    )
    return lines + _compare("top-level", *rest)


def mismatch(old: dict[str, Any], new: dict[str, Any]) -> str:
    return (
        "docs/openapi.json is not the app's OpenAPI spec. If the API change is intended, "
        f"regenerate it with `{REGENERATE}`, review the diff (a removed operation or "
        "field, or a new required one, breaks clients) and commit it.\nDiffering:\n"
        + "\n".join(differences(old, new))
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"auth_mode": AuthMode.JWT},
        {"auth_mode": AuthMode.TRUSTED_HEADERS, "root_path": "/behind/a/proxy"},
    ],
    ids=["none", "jwt", "trusted_headers+root_path"],
)
def test_the_committed_spec_is_the_apps(overrides: dict[str, Any]) -> None:
    app = create_app(make_settings(UNUSED_DB, **overrides))
    spec = json.loads(render(app.openapi()))
    assert spec == committed(), mismatch(committed(), spec)


def test_the_regenerate_command_prints_the_committed_file_byte_for_byte(tmp_path: Path) -> None:
    # Whatever the environment sets (an .env file included), the document is the default one.
    (tmp_path / ".env").write_text("KPI_LEGACY_ROUTES=false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_")}
    env.update(
        KPI_ROOT_PATH="/elsewhere",
        KPI_LEGACY_ROUTES="false",
        KPI_AUTH_MODE="jwt",
        KPI_JWT_SECRET="x" * 40,
        PYTHONHASHSEED="12345",
    )
    out = subprocess.run(
        [sys.executable, "-m", "kpi_service.cli", "openapi"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    if out != SPEC_FILE.read_bytes():
        pytest.fail(mismatch(committed(), json.loads(out)))
    assert out.endswith(b"}\n") and out.startswith(b'{\n  "openapi": "3.')


def test_differences_name_the_operations_and_schemas_that_changed() -> None:
    old = committed()
    new = json.loads(json.dumps(old))
    del new["paths"]["/healthz"]
    new["paths"]["/api/kpis/definitions"]["get"]["summary"] = "other"
    new["paths"]["/api/kpis/new"] = {"post": {"operationId": "createNew"}}
    new["components"]["schemas"]["RunRead"]["required"].append("extra")
    new["info"]["version"] = "9"
    assert differences(old, new) == [
        "  operation GET /api/kpis/definitions: changed",
        "  operation GET /healthz: removed",
        "  operation POST /api/kpis/new: added",
        "  schema RunRead: changed",
        "  top-level info: changed",
    ]
    assert REGENERATE in mismatch(old, new)


def test_every_operation_has_a_unique_id_a_tag_and_responses() -> None:
    ops = operations(committed())
    assert len(ops) >= 60
    ids = Counter(op.get("operationId", "") for op in ops.values())
    assert not [i for i, n in ids.items() if n > 1 or not i], ids
    assert all(i[0].islower() and i.isalnum() for i in ids), "operationIds are camelCase"
    assert [name for name, op in ops.items() if not op.get("tags")] == []
    assert [name for name, op in ops.items() if not op.get("responses")] == []
    # A success response is declared for each: clients type their results by it.
    assert [
        name
        for name, op in ops.items()
        if not any(code.startswith("2") for code in op["responses"])
    ] == []


def test_schemas_have_distinct_titles_and_every_reference_resolves() -> None:
    spec = committed()
    schemas = spec["components"]["schemas"]
    # Generators name classes by title: two schemas titled alike collide.
    titles = Counter(s.get("title", name) for name, s in schemas.items())
    assert [t for t, n in titles.items() if n > 1] == []
    refs = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.add(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    prefix = "#/components/schemas/"
    assert all(r.startswith(prefix) for r in refs), refs
    assert sorted(r for r in refs if r[len(prefix) :] not in schemas) == []
