"""Assemble :class:`~cds_service.domain.model.PatientFacts` from the FHIR resources of one hook call.

One pass over ``resources`` sorts them by type (Bundles — e.g. a draftOrders Bundle or a prefetch
searchset passed whole — are flattened; duplicates by type and id keep the first copy). Then:

- Medication references resolve, per order, to its ``contained`` Medications ("#id"), then to the
  Medications of ``resources`` (and those sent among the drafts) by "Medication/<id>", by a full URL ending in "Medication/<id>"
  (``_history`` stripped), by ``urn:uuid:`` fullUrl of a Bundle entry, or by bare id.
- ``orders``: record MedicationRequests / Dispenses / Statements that count as history
  (:func:`cds_service.domain.episodes.counts_for_history`), of the drug classes the rules read
  (all but ``cds_service.domain.model.NOT_READ_BY_RULES``, OTHER — simvastatin, metformin …). The
  others are identified and left out before their doses and dates are worked out.
  ``drafts``: the hook's draft orders (anything but entered-in-error, any class), mapped with
  ``is_draft=True``.
- ``episode``, ``is_renewal``: :mod:`.episodes`.
- ``regimen``: :func:`cds_service.domain.regimen.current_regimen` — what the patient takes now, drafts
  applied, with its MEDD. A draft that names no medication at all (the CDS Hooks sandbox sends one
  when its prescribing screen opens) is not a medication: left out, not an "unnamed medication".
- taper plans, restriction flag, conditions, exclusions, age: :mod:`.record`.
- ``unidentified``: displays of record and draft medications of class UNKNOWN, first-seen order.
- ``referrals``: the ServiceRequests except entered-in-error, read: :mod:`.referrals`.

No I/O; ``today`` is a parameter. Never raises on malformed resources.
"""
from __future__ import annotations

from datetime import date
from typing import Any, Iterable

from cds_service.domain.episodes import DEFAULT_GAP_DAYS, counts_for_history, current_episode, is_renewal
from cds_service.domain.medd import load_medd_table
from fhir_mappings.read.medication import identify_drug
from cds_service.domain.model import DrugClass, MedicationOrder, PatientFacts, NOT_READ_BY_RULES
from fhir_mappings.read.orders import (
    MEDICATION_DISPENSE,
    MEDICATION_REQUEST,
    MEDICATION_STATEMENT,
    ORDER_TYPES,
    arr,
    map_order,
    obj,
    split_reference,
    text,
)
from cds_service.domain.regimen import REGIMEN_CLASSES, current_regimen
from fhir_mappings.read.referrals import read_referrals
from fhir_mappings.read.record import (
    age_on,
    exclusions,
    patient_resource,
    read_conditions,
    restriction_flag,
    taper_plans,
)

_DRAFT_TYPES = ORDER_TYPES | {"MedicationOrder"}  # DSTU2 name of a MedicationRequest
_MAX_BUNDLE_DEPTH = 3


def _flatten(items: Any, fullurls: dict[str, dict] | None, depth: int = 0) -> Iterable[dict]:
    """Resources of ``items``, Bundles opened (their fullUrls recorded for reference resolution)."""
    if isinstance(items, (dict, str, bytes)):
        items = [items]
    try:
        iterator = iter(items)
    except TypeError:
        return
    for item in iterator:
        if not isinstance(item, dict):
            continue
        if item.get("resourceType") == "Bundle" and depth < _MAX_BUNDLE_DEPTH:
            for entry in arr(item.get("entry")):
                resource = obj(entry).get("resource")
                if isinstance(resource, dict):
                    url = text(obj(entry).get("fullUrl"))
                    if url and fullurls is not None:
                        fullurls.setdefault(url, resource)
                    yield from _flatten([resource], fullurls, depth + 1)
            continue
        yield item


_MEDICATION_KEYS = ("medicationCodeableConcept", "medicationReference", "medication")


def _names_a_medication(resource: dict) -> bool:
    """Whether a draft names any medication (a code, a text or a reference)."""
    return any(resource.get(k) not in (None, {}, [], "") for k in _MEDICATION_KEYS)


def _refers_to_medication(resource: dict) -> bool:
    """Whether the order may refer to a Medication (else there is nothing for a resolver to do)."""
    return "medicationReference" in resource or "medication" in resource


class _MedicationIndex:
    """Medication resources by id and by fullUrl."""

    def __init__(self, medications: list[dict], fullurls: dict[str, dict]):
        self.by_id: dict[str, dict] = {}
        for m in medications:
            mid = text(m.get("id"))
            if mid:
                self.by_id.setdefault(mid, m)
        self.by_url = {url: r for url, r in fullurls.items() if r.get("resourceType") == "Medication"}

    def resolver(self, resource: dict):
        contained = arr(resource.get("contained"))

        def resolve(reference: str) -> dict | None:
            if reference in self.by_url:
                return self.by_url[reference]
            rtype, rid = split_reference(reference)
            if rid is None:
                return None
            if rtype == "#":
                for c in contained:
                    if isinstance(c, dict) and c.get("id") == rid:
                        return c
                return None
            if rtype in ("Medication", None):
                return self.by_id.get(rid)
            return None

        return resolve


def build_patient_facts(
    patient_id: str,
    resources: Iterable[dict],
    drafts: Iterable[dict],
    today: date,
    *,
    gaps: Iterable[str] = (),
    gap_days: int = DEFAULT_GAP_DAYS,
) -> PatientFacts:
    """Facts about one patient.

    ``resources``: every FHIR resource the service has for the patient (prefetch and fetched
    Bundles flattened: Patient, MedicationRequest, Medication, MedicationDispense,
    MedicationStatement, Condition, Flag, CarePlan, ServiceRequest, in any order; anything else is
    ignored). ``drafts``: the draft orders of the hook context (MedicationRequests, possibly
    STU3-shaped). ``gaps``: names of optional data that could not be had (carried into facts).
    ``gap_days``: allowed gap when merging coverage intervals into an episode. Never raises on
    malformed resources: what cannot be read is reported as unknown / unidentified.
    """
    fullurls: dict[str, dict] = {}
    buckets: dict[str, list[dict]] = {}
    seen: set[tuple[str, str]] = set()
    for r in _flatten(resources, fullurls):
        rtype = r.get("resourceType")
        if not isinstance(rtype, str):
            continue
        rid = r.get("id")
        if isinstance(rid, str):
            if (rtype, rid) in seen:
                continue  # the same resource from prefetch and from a fetch
            seen.add((rtype, rid))
        buckets.setdefault(rtype, []).append(r)

    # Draft-order Bundles may carry the Medications their drafts refer to: index those too.
    draft_resources = list(_flatten(drafts, fullurls))
    draft_meds = [r for r in draft_resources if r.get("resourceType") == "Medication"]
    meds = _MedicationIndex(buckets.get("Medication", []) + draft_meds, fullurls)
    medd_table = load_medd_table()  # once per record, not once per opioid order

    # One pass over the record's orders also sorts out the few that the episode, MEDD and exclusion
    # steps look at (opioids, LARO) and the unidentified ones, so those steps need not scan them all.
    orders: list[MedicationOrder] = []
    opioid_orders: list[MedicationOrder] = []
    regimen_orders: list[MedicationOrder] = []
    laro_orders: list[MedicationOrder] = []
    unidentified: dict[str, None] = {}
    request_pairs: list[tuple[dict, MedicationOrder]] = []
    for rtype in (MEDICATION_REQUEST, MEDICATION_DISPENSE, MEDICATION_STATEMENT):
        for raw in buckets.get(rtype, ()):
            resolve = meds.resolver(raw) if _refers_to_medication(raw) else None
            drug = identify_drug(raw, resolve)
            if drug.drug_class is NOT_READ_BY_RULES:
                continue
            order = map_order(raw, today, resolve, drug=drug, medd_table=medd_table)
            if order is None or not counts_for_history(order):
                continue
            orders.append(order)
            drug_class = order.drug.drug_class
            if drug_class in REGIMEN_CLASSES:
                regimen_orders.append(order)
            if drug_class is DrugClass.OPIOID:
                opioid_orders.append(order)
            elif drug_class is DrugClass.LARO:
                laro_orders.append(order)
            elif drug_class is DrugClass.UNKNOWN:
                unidentified.setdefault(order.drug.display or "unnamed medication", None)
            if rtype == MEDICATION_REQUEST:
                request_pairs.append((raw, order))

    draft_orders: list[MedicationOrder] = []
    for raw in draft_resources:
        if text(raw.get("resourceType")) not in _DRAFT_TYPES or raw.get("status") == "entered-in-error":
            continue
        if not _names_a_medication(raw):
            continue  # an empty prescribing screen, not a medication (module docstring)
        order = map_order(raw, today, meds.resolver(raw), is_draft=True, medd_table=medd_table)
        if order is not None:
            draft_orders.append(order)
            if order.drug.drug_class is DrugClass.UNKNOWN:
                unidentified.setdefault(order.drug.display or "unnamed medication", None)

    # These read only the opioid (or LARO) orders of what they are given: the subsets, in record order.
    episode = current_episode(opioid_orders, today, drafts=draft_orders, gap_days=gap_days)
    conditions = read_conditions(buckets.get("Condition", ()), today)
    active_plan, previous = taper_plans(buckets.get("CarePlan", ()), request_pairs, today, meds.resolver({}))
    patient = patient_resource(buckets.get("Patient", ()), patient_id)
    age = age_on(patient.get("birthDate"), today)

    return PatientFacts(
        patient_id=patient_id,
        today=today,
        age=age,
        orders=tuple(orders),
        drafts=tuple(draft_orders),
        regimen=current_regimen(regimen_orders, draft_orders, episode, today, gap_days),
        episode=episode,
        conditions=conditions,
        taper_plan=active_plan,
        previous_tapers=previous,
        restriction_flag=restriction_flag(buckets.get("Flag", ()), today),
        is_renewal=is_renewal(episode, draft_orders),
        exclusions=exclusions(conditions, laro_orders, draft_orders, age, today),
        data_gaps=tuple(g for g in gaps if isinstance(g, str)),
        unidentified=tuple(unidentified),
        referrals=read_referrals(buckets.get("ServiceRequest", ())),
    )
