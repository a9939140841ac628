"""What the mapping reads of a resource, and the parts of a record that repeat.

A patient's record is mostly the same few prescriptions renewed again and again: hundreds of
MedicationRequests whose product (``medicationCodeableConcept``) and dosage (``dosageInstruction``)
are word for word the same, and whose dates and ids differ. Two facts follow, and the fast request
decoder (``cds_service.protocol.jsonio``) uses both:

1. **Only the elements the mapping reads need building.** :data:`RESOURCE_ELEMENTS` lists every
   top-level element of a medication order or Medication (:data:`OUTLINED_TYPES`) that anything in
   ``fhir_mappings`` or the rules reads; the rest (narrative, identifiers, extensions …) can be skipped
   while decoding. The list is
   checked by ``tests/protocol/test_jsonio.py``, which records every element the service reads while it
   evaluates every fixture and the benchmark corpus: an element read but not listed fails that test.
   Nested values are kept whole.
2. **A repeated sub-document is decoded once and shared.** :func:`intern` turns the exact JSON text of
   one of :data:`SHARED_ELEMENTS` into a Python value, the same object for the same text (bounded
   cache), and :func:`content_key` gives that text back for the object: the product and dose caches
   of :mod:`.medication` and :mod:`.dosage` then key on text the decoder already has, instead of
   re-serialising the dosage of every order to build a key.

Shared values are read-only by contract: the mapping never mutates its input (tests check that the
shared values of a request are unchanged after evaluating it).
"""
from __future__ import annotations

import threading

import orjson

#: Elements whose JSON repeats across a record and is decoded once per distinct text.
SHARED_ELEMENTS: tuple[str, ...] = ("medicationCodeableConcept", "dosageInstruction", "dosage")

#: The resource types a record holds by the hundred — medication orders, and the Medications an
#: ``_include`` brings along — which the request decoder reads in outline.
OUTLINED_TYPES: frozenset[str] = frozenset({
    "MedicationRequest", "MedicationDispense", "MedicationStatement", "MedicationOrder", "Medication",
})

#: Every top-level element of an :data:`OUTLINED_TYPES` resource that anything in the service reads
#: (``fhir_mappings.read.orders``, ``.medication``, ``.dosage``, ``.episodes``, ``.record``, the rules).
#: Listing one too many costs a little decoding; one too few would hide data, hence the test named
#: above. Other resource types (Patient, Condition, Flag, CarePlan, ServiceRequest: a few each, and a
#: ServiceRequest is searched whole for Trappa's referral coding) are always decoded whole.
RESOURCE_ELEMENTS: frozenset[str] = frozenset({
    "resourceType", "id", "meta", "status", "intent", "contained",
    # the product (R4, STU3 and R5 spellings)
    "medication", "medicationCodeableConcept", "medicationReference",
    # dosage and supply
    "dosageInstruction", "dosage", "dispenseRequest", "quantity", "daysSupply",
    # dates, people, reasons
    "authoredOn", "dateWritten", "statusChanged", "requester", "reasonCode", "reasonReference",
    "basedOn", "category", "note",
    "whenHandedOver", "whenPrepared", "effectivePeriod", "effectiveDateTime", "dateAsserted", "taken",
    # Medication
    "code", "form", "ingredient",
})

_CACHE_MAX = 4096  # distinct sub-documents kept (a region's products × dosages, with room to spare)
_TEXT_MAX = 4096  # bytes: a longer sub-document is decoded for its order alone, not kept
_lock = threading.Lock()
_by_text: dict[bytes, object] = {}
_text_of: dict[int, tuple[object, bytes]] = {}  # id(value) → (value, text); holds the value, so ids stay unique


def intern(text: bytes) -> object:
    """The JSON ``text`` decoded, the same object for the same text while it is cached.

    Raises ``orjson.JSONDecodeError`` (a ``ValueError``) for text that is not JSON."""
    if len(text) > _TEXT_MAX:
        return orjson.loads(text)
    value = _by_text.get(text)
    if value is not None:
        return value
    value = orjson.loads(text)
    if not isinstance(value, (dict, list)):
        return value  # scalars where an object belongs: nothing to share, nothing to key
    with _lock:
        if len(_by_text) >= _CACHE_MAX:
            # Bounded: start afresh. Values handed out stay valid; they are no longer recognised as
            # shared, so their readers work them out uncached until the next request.
            _by_text.clear()
            _text_of.clear()
        kept = _by_text.setdefault(text, value)
        if kept is value:
            _text_of[id(value)] = (value, text)
    return kept


def content_key(value: object) -> bytes | None:
    """The JSON text ``value`` was interned from, or None when it is not a shared value."""
    entry = _text_of.get(id(value))
    if entry is not None and entry[0] is value:
        return entry[1]
    return None
