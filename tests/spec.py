"""The OpenAPI spec (``tests/spec/mm-lite-openapi.json``) as validators for contract tests."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parent / "spec" / "mm-lite-openapi.json"
_URI = "urn:d360:mm-lite-openapi"


@cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())  # type: ignore[no-any-return]


@cache
def _registry() -> Registry:
    return Registry().with_resource(_URI, DRAFT202012.create_resource(spec()))


def _operation(operation_id: str) -> tuple[str, str, dict[str, Any]]:
    for path, ops in spec()["paths"].items():
        for method, op in ops.items():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return method.upper(), path, op
    raise KeyError(operation_id)


def operation_ids() -> list[str]:
    return sorted(
        op["operationId"]
        for ops in spec()["paths"].values()
        for op in ops.values()
        if isinstance(op, dict) and "operationId" in op
    )


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": f"{_URI}{schema['$ref']}"} if "$ref" in schema else schema,
        registry=_registry(),
    )


def response_validator(operation_id: str, status: int) -> Draft202012Validator:
    _, _, op = _operation(operation_id)
    schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
    return _validator(schema)


def request_validator(operation_id: str) -> Draft202012Validator:
    """The request body's schema: the typed ``$ref`` branch of the spec's ``oneOf``.

    The spec writes bodies as ``oneOf: [{type: object}, {$ref: ...}]``; every typed body also
    matches ``{type: object}``, so ``oneOf`` as written rejects every valid body. The
    meaningful branch is the ``$ref`` one, and that is what we validate against.
    """
    _, _, op = _operation(operation_id)
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    for branch in schema.get("oneOf", [schema]):
        if "$ref" in branch:
            return _validator(branch)
    return _validator(schema)


def schema_validator(name: str) -> Draft202012Validator:
    return _validator({"$ref": f"#/components/schemas/{name}"})
