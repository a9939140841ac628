"""CDS Hooks 2.0 request validation against the JSON Schemas in ``cds_service/protocol/schemas``.

The schemas are the contract (kept in the repo, readable by integrators); this module only loads them
once and turns the first violation into a :class:`RequestProblem` that names the field.

Two validators read the same schemas. ``jsonschema_rs`` (Rust) answers the hot-path question — is this
request valid? — in about 2 µs; ``jsonschema`` (the reference implementation) took about 0.45 ms, a
tenth of a typical evaluation. Only when the fast one says no does the reference one look, to find and
word the first violation, so a client gets the same 400 whichever validator runs. ``tests/protocol/test_protocol.py`` checks
that both agree on fixture, generated and mutated requests; where they would not, the reference one
decides (a request it accepts is accepted).

``context.patientId`` and ``context.encounterId`` may be a bare id, as CDS Hooks 2.0 names them, or a
reference to it (``Patient/123``, ``Encounter/45``), as the CDC opioid CDS's example requests and several
EHRs send (docs: real senders). :func:`with_bare_ids` turns the second into the first once, right after
validation, so that prefetch queries, references in suggestions and the record's Patient use the id.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources

import jsonschema_rs
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from cds_service.protocol.errors import RequestProblem

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
def _schemas() -> dict[str, dict]:
    out = {}
    for name in SCHEMA_FILES:
        text = resources.files("cds_service.protocol.schemas").joinpath(name).read_text(encoding="utf-8")
        out[name.removesuffix(".schema.json")] = json.loads(text)
    return out


@lru_cache(maxsize=1)
def _validators() -> dict[str, Draft202012Validator]:
    """The reference validators: they find and word a violation."""
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in _schemas().values()
    )
    return {name: Draft202012Validator(schema, registry=registry) for name, schema in _schemas().items()}


@lru_cache(maxsize=1)
def _fast_validators() -> dict[str, jsonschema_rs.Draft202012Validator]:
    """The hot-path validators: valid or not. ``format`` is an annotation only, as for the reference
    validators (they are given no format checker)."""
    registry = jsonschema_rs.Registry([(s["$id"], s) for s in _schemas().values()])
    return {
        name: jsonschema_rs.Draft202012Validator(schema, registry=registry, validate_formats=False)
        for name, schema in _schemas().items()
    }


def _path(error) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "(root)"


def _check(validator_name: str, instance, prefix: str = "") -> None:
    try:
        if _fast_validators()[validator_name].is_valid(instance):
            return
    except Exception:  # a value Rust cannot take (a lone surrogate in a string): the reference decides
        pass
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


#: A FHIR id (R4 datatypes: ``[A-Za-z0-9\-\.]{1,64}``), matched in full. The schemas say the same, but
#: Python's ``$`` also matches before a final newline, so the reference validator lets ``"123\n"`` through
#: when the fast one refuses it; here it is refused, before it can reach a query or a reference.
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
#: The context ids that may come as a reference, and the resource type that reference must name.
_REFERENCE_IDS = (("patientId", "Patient"), ("encounterId", "Encounter"))


def bare_id(value, resource_type: str) -> str | None:
    """``value`` as a bare id: ``"123"`` and ``"<resource_type>/123"`` both give ``"123"``; None for
    anything else (another type, an empty id, more path segments, characters outside the id syntax)."""
    if not isinstance(value, str):
        return None
    bare = value.removeprefix(resource_type + "/")
    return bare if _FHIR_ID.fullmatch(bare) else None


def with_bare_ids(body: dict) -> dict:
    """The validated request with its context's patientId and encounterId as bare ids: ``body`` itself
    when they are already bare, else a copy (envelope and context shallow; the caller's body is not
    changed). Raises RequestProblem(400) naming the field when one is not an id of its type."""
    context = body["context"]
    changed = {}
    for name, resource_type in _REFERENCE_IDS:
        if name not in context:  # encounterId is optional; the schema requires patientId
            continue
        value = context[name]
        bare = bare_id(value, resource_type)
        if bare is None:
            shown = repr(value)[:80]
            raise RequestProblem(
                400, "invalid", f"context.{name}: {shown} is not an id or {resource_type}/<id>", f"context.{name}"
            )
        if bare != value:
            changed[name] = bare
    return {**body, "context": {**context, **changed}} if changed else body
