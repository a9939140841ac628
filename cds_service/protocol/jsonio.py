"""JSON in and out of the hook view, cheaply (the hot path: docs/design-notes.md).

**In:** a hook request's body → Python values.

The prefetch holds the patient's whole record — 100 MedicationRequests are about 100 KiB, 5 000 about
5 MiB — and the service reads a few elements of each order. Building every object of it and freeing
them again was a third of a large request's time. So the body is decoded against a typed outline
(``msgspec``):

- the envelope (``hook``, ``context``, ``fhirAuthorization`` …) is decoded whole, and so is every
  prefetch value except the orders (Patient, Conditions, Flags, CarePlans, ServiceRequests: a few each);
- the Bundle of orders (the prefetch keys whose query asks for orders, ``services.PREFETCH``) is decoded
  to the elements the service reads of an order or Medication
  (:data:`cds_service.runtime.outline.RESOURCE_ELEMENTS`, each of them whole); the rest is skipped without
  building anything;
- the product and dosage of an order (:data:`cds_service.runtime.outline.SHARED_ELEMENTS`) are taken as raw
  JSON text and decoded once per distinct text (:func:`cds_service.runtime.outline.intern`): a record that
  renews the same prescription 200 times holds one dosage object, not 200.

An order Bundle holding another resource type (an OperationOutcome entry, say) is decoded whole, and any
body that does not fit the outline (``prefetch`` not an object, ``entry`` not a list of objects, a
number out of range …) is decoded whole with ``orjson``, as the outline decoder would have. What is skipped is never
read: ``tests/protocol/test_jsonio.py`` checks that the service decides the same either way and reads nothing
outside the outline. Invalid JSON is a :class:`RequestProblem` (400) either way.

**Out:** :func:`dump_response`.
"""
from __future__ import annotations

import gc
import json
from typing import Any, Optional, TypedDict

import msgspec
import orjson

from cds_service.runtime.outline import OUTLINED_TYPES, RESOURCE_ELEMENTS, SHARED_ELEMENTS, intern

from cds_service.protocol.errors import RequestProblem
from cds_service.protocol.services import PREFETCH

_Resource = TypedDict(  # type: ignore[misc]
    "_Resource",
    {**{name: Any for name in RESOURCE_ELEMENTS}, **{name: msgspec.Raw for name in SHARED_ELEMENTS}},
    total=False,
)


class _Entry(TypedDict, total=False):
    """A Bundle entry as the service reads it (``fhir_client.bundle_resources``, ``facts._flatten``)."""

    fullUrl: Any
    resource: Optional[_Resource]


class _OrderBundle(TypedDict, total=False):
    """A prefetch value of a query for orders: a Bundle (usually), its entries outlined."""

    resourceType: Any
    link: Any  # paging: gather follows ``next``
    entry: list[Optional[_Entry]]


class _Request(TypedDict, total=False):
    hook: Any
    hookInstance: Any
    fhirServer: Any
    fhirAuthorization: Any
    context: Any
    prefetch: dict[str, msgspec.Raw]  # each value decoded by its key (below); null is a Raw too
    extension: Any


#: Prefetch keys whose query asks for orders (``services.PREFETCH``): their Bundles are outlined.
_ORDER_KEYS = frozenset(key for key, query in PREFETCH.items() if query.split("?", 1)[0] in OUTLINED_TYPES)
_decoder = msgspec.json.Decoder(_Request)
_order_bundle_decoder = msgspec.json.Decoder(_OrderBundle)


class _DoesNotFit(Exception):
    """The body is JSON but not of the outline's shape: decode it the general way."""


def parse_json(raw: bytes, *, hook_request: bool = True):
    """The request body as JSON values, or RequestProblem(400). ``hook_request``: the body is a hook
    call (outlined as above); otherwise (feedback) it is decoded whole, the general way.

    The cyclic garbage collector is paused while the containers are built: none of them is garbage
    yet, and collecting through a large record while it is being built doubles the decoding time."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        if hook_request:
            try:
                return _outlined(raw)
            except _DoesNotFit:
                pass
        return orjson.loads(raw)
    except RecursionError:
        raise RequestProblem(400, "invalid", "request body JSON is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:  # orjson.JSONDecodeError is a ValueError
        raise RequestProblem(400, "invalid", f"request body is not valid JSON ({_kind(exc)})") from None
    finally:
        if collecting:
            gc.enable()


def _kind(exc: Exception) -> str:
    return "JSONDecodeError" if isinstance(exc, msgspec.DecodeError) else type(exc).__name__


def _outlined(raw: bytes):
    if not raw.lstrip()[:1] == b"{":
        raise _DoesNotFit  # not an object: the general decoder says what it is
    try:
        body = _decoder.decode(raw)
    except msgspec.ValidationError:  # JSON of another shape (or a number msgspec will not hold)
        raise _DoesNotFit from None
    except msgspec.DecodeError:
        raise _DoesNotFit from None  # not JSON: let orjson say so, with the message it gives for any malformed body
    prefetch = body.get("prefetch")
    if prefetch is not None:
        body["prefetch"] = {key: _prefetched(key, raw) for key, raw in prefetch.items()}
    return body


def _prefetched(key: str, raw: msgspec.Raw):
    if key in _ORDER_KEYS:
        try:
            bundle = _order_bundle_decoder.decode(raw)
        except msgspec.ValidationError:  # not a Bundle of the usual shape: read it whole
            bundle = None
        if bundle is not None and bundle.get("resourceType") == "Bundle":
            for entry in bundle.get("entry") or ():
                resource = entry.get("resource") if entry is not None else None
                if resource is None:
                    continue
                rtype = resource.get("resourceType")
                if type(rtype) is not str or rtype not in OUTLINED_TYPES:
                    break  # e.g. an OperationOutcome entry (or junk): this Bundle is read whole
                _share(resource)
            else:
                return bundle
    return orjson.loads(memoryview(raw))  # a Raw is a view of the body: no copy


def _share(resource: dict) -> None:
    """Replace the raw JSON of the shared elements by their (shared) decoded values."""
    for name in SHARED_ELEMENTS:
        raw = resource.get(name)
        if raw is not None:
            try:
                resource[name] = intern(bytes(raw))
            except ValueError:  # not JSON after all (the outline only skims it): the general way decides
                raise _DoesNotFit from None


class _RawEntry(TypedDict, total=False):
    resource: msgspec.Raw


class _RawBundle(TypedDict, total=False):
    entry: list[_RawEntry]


class _RawPrefetch(TypedDict, total=False):
    prefetch: dict[str, Optional[_RawBundle]]


_raw_prefetch_decoder = msgspec.json.Decoder(_RawPrefetch)


def prefetched_resource(raw: bytes, resource_type: str, resource_id: str) -> dict | None:
    """One prefetched resource whole, from the request body as received — for the rare suggestion that
    returns a record order amended (the hot path read it in outline only). The body is walked without
    building anything; only an entry whose text holds the id is decoded. None when not found."""
    try:
        body = _raw_prefetch_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None  # not of the usual shape: a suggestion without the update is the honest fallback
    needle = orjson.dumps(resource_id)
    for bundle in (body.get("prefetch") or {}).values():
        for entry in (bundle or {}).get("entry") or ():
            resource = entry.get("resource")
            if resource is None or needle not in bytes(resource):
                continue
            found = orjson.loads(bytes(resource))
            if isinstance(found, dict) and found.get("id") == resource_id and found.get("resourceType") == resource_type:
                return found
    return None


def dump_response(response: dict) -> bytes:
    """The CDS Hooks response as UTF-8 JSON (Swedish text as is, keys in the order built), with
    ``orjson``: a tenth of the standard library's time for a response with suggested resources.
    RecursionError for a value nested too deeply to write (a suggestion echoing a pathological draft)."""
    try:
        return orjson.dumps(response)
    except orjson.JSONEncodeError as exc:
        if "recursion" in str(exc).lower():
            raise RecursionError(str(exc)) from None
    # What orjson will not write but JSON can hold: an integer beyond 64 bits that a draft order carried
    # into a suggestion. The standard library writes it as it came.
    return json.dumps(response, ensure_ascii=False).encode()
