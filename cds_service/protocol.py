"""CDS Hooks 2.0 request validation against the JSON Schemas in ``cds_service/schemas``.

The schemas are the contract (kept in the repo, readable by integrators); this module only loads them
once and turns the first violation into a :class:`RequestProblem` that names the field.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from .errors import RequestProblem

SCHEMA_FILES = (
    "definitions.schema.json",
    "request.schema.json",
    "feedback.schema.json",
    "context.patient-view.schema.json",
    "context.order-select.schema.json",
    "context.order-sign.schema.json",
    "context.medication-prescribe.schema.json",
)


@lru_cache(maxsize=1)
def _validators() -> dict[str, Draft202012Validator]:
    schemas = {}
    for name in SCHEMA_FILES:
        text = resources.files("cds_service.schemas").joinpath(name).read_text(encoding="utf-8")
        schemas[name] = json.loads(text)
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values()
    )
    return {
        name.removesuffix(".schema.json"): Draft202012Validator(schema, registry=registry)
        for name, schema in schemas.items()
    }


def _path(error) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "(root)"


def _check(validator_name: str, instance, prefix: str = "") -> None:
    validator = _validators()[validator_name]
    error = next(iter(sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))), None)
    if error is None:
        return
    where = _path(error)
    where = f"{prefix}{where}" if prefix and where != "(root)" else (prefix.rstrip(".") or where)
    message = error.message
    if len(message) > 300:  # jsonschema quotes the offending value; keep the answer short
        message = message[:300] + "…"
    raise RequestProblem(400, "invalid", f"{where}: {message}", expression=where)


def validate_request(body, hook: str) -> None:
    """Envelope, then the hook's context. Raises RequestProblem(400) naming the first problem."""
    _check("request", body)
    if body["hook"] != hook:
        raise RequestProblem(
            400, "invalid", f"hook: this service handles '{hook}', the request says '{body['hook']}'", "hook"
        )
    _check(f"context.{hook}", body["context"], prefix="context.")


def validate_feedback(body) -> None:
    _check("feedback", body)
