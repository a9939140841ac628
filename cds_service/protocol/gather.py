"""Collect the patient's data for one hook call: prefetch first, then the FHIR server for what is missing.

Per CDS Hooks 2.0 a prefetch key may be absent (not fulfilled), ``null`` (no data), a Bundle (possibly
with a ``next`` page), a single resource, or an OperationOutcome (the EHR's fetch failed). Absent,
OperationOutcome and unfinished pages are fetched from ``fhirServer``; all fetches run in parallel in
one time budget (``TRAPPA_FHIR_BUDGET``), which the Medications fetched afterwards share. Required data
that cannot be had → 412. Optional data that cannot be had → a named gap that the cards show.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from cds_service.protocol.errors import RequestProblem
from cds_service.protocol.fhir_client import (
    FhirFetcher,
    FhirServerNotAllowed,
    bundle_resources,
    check_fhir_server,
    next_link,
)
from cds_service.web.config import Settings
from cds_service.protocol.services import PREFETCH, REQUIRED_KEYS

_MISSING = object()
_LEAST_USEFUL_S = 0.05  # less budget than this left: a request would only time out
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@dataclass
class Gathered:
    resources: list[dict] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)  # optional keys that could not be had
    fetched: list[str] = field(default_factory=list)  # keys fetched from the FHIR server
    fetch_seconds: dict[str, float] = field(default_factory=dict)
    fhir_base: str | None = None  # fhirServer once checked against the allow-list (checked once per call)
    deadline: float | None = None  # time.monotonic() by which all FHIR fetching of the call ends

    def remaining_budget(self, settings: Settings) -> float:
        """Seconds left of the call's FHIR budget; the clock starts at the first use."""
        if self.deadline is None:
            self.deadline = time.monotonic() + settings.fhir_budget_s
        return max(0.0, self.deadline - time.monotonic())


def render_query(template: str, context: dict) -> str:
    """Fill CDS Hooks 2.0 ``{{context.x}}`` tokens. Ids were validated (FHIR id charset) upstream."""
    out = template
    for name in ("patientId", "userId", "encounterId"):
        token = "{{context.%s}}" % name
        if token in out:
            out = out.replace(token, str(context.get(name, "")))
    return out


def _continuation_query(url: str, base: str) -> str:
    return url[len(base) + 1 :] if url.startswith(base + "/") else url


def gather(body: dict, settings: Settings, fetcher: FhirFetcher | None) -> Gathered:
    context = body["context"]
    prefetch = body.get("prefetch") if isinstance(body.get("prefetch"), dict) else {}
    out = Gathered()
    to_fetch: dict[str, str] = {}
    for key, template in PREFETCH.items():
        value = prefetch.get(key, _MISSING)
        if value is None:  # the EHR says: no data
            continue
        if value is _MISSING or not isinstance(value, dict) or value.get("resourceType") == "OperationOutcome":
            to_fetch[key] = render_query(template, context)
            continue
        if value.get("resourceType") == "Bundle":
            out.resources.extend(bundle_resources(value))
            more = next_link(value)
            if more:
                to_fetch[key] = more  # absolute; checked against fhirServer below
        else:
            out.resources.append(value)

    if to_fetch:
        base = body.get("fhirServer")
        reason = None
        results = {}
        if not base or fetcher is None:
            reason = "no fhirServer given"
        else:
            out.remaining_budget(settings)  # the budget covers resolving the host name too
            try:
                with fetcher.waiting():  # resolves the host name: network time
                    base = out.fhir_base = check_fhir_server(base, settings)
            except FhirServerNotAllowed as exc:
                raise RequestProblem(400, "security", str(exc), "fhirServer") from None
            auth = body.get("fhirAuthorization") or {}
            token = auth.get("access_token") if isinstance(auth, dict) else None
            queries = {k: _continuation_query(q, base) for k, q in to_fetch.items()}
            results = fetcher.fetch_many(base, token, queries, budget_s=out.remaining_budget(settings))
        for key in to_fetch:
            res = results.get(key)
            if res is not None:
                out.fetch_seconds[key] = res.seconds
                out.resources.extend(res.resources)
                if res.ok:
                    out.fetched.append(key)
                    continue
            why = res.error if res is not None else reason
            if key in REQUIRED_KEYS:
                raise RequestProblem(
                    412,
                    "incomplete",
                    f"required data '{key}' was not prefetched and could not be fetched: {why}",
                    f"prefetch.{key}",
                )
            out.gaps.append(key)
    return out


def _medication_refs(resources: list[dict]) -> set[str]:
    refs = set()
    for res in resources:
        ref = res.get("medicationReference")
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            # "Medication/1" or an absolute ".../Medication/1"; contained ("#m1") needs no fetch
            parts = ref["reference"].split("/")
            if len(parts) >= 2 and parts[-2] == "Medication" and _FHIR_ID.match(parts[-1]):
                refs.add(f"Medication/{parts[-1]}")
    return refs


def fetch_missing_medications(
    body: dict, gathered: Gathered, drafts: list[dict], settings: Settings, fetcher: FhirFetcher | None
) -> None:
    """Server-side Medications that orders (requests, dispenses, statements) or drafts refer to but
    nobody sent (no ``_include`` honoured): one ``Medication?_id=…`` query, in what is left of the
    call's FHIR budget. What still cannot be resolved shows up as an unidentified medication."""
    have = {f"Medication/{r.get('id')}" for r in gathered.resources if r.get("resourceType") == "Medication"}
    wanted = _medication_refs(gathered.resources) | _medication_refs(drafts)
    missing = sorted(wanted - have)
    base = body.get("fhirServer")
    if not missing or not base or fetcher is None:
        return
    if gathered.fhir_base is not None:
        base = gathered.fhir_base
    else:
        gathered.remaining_budget(settings)
        try:
            with fetcher.waiting():  # resolves the host name: network time
                base = check_fhir_server(base, settings)
        except FhirServerNotAllowed:
            return  # no fetch possible: the unresolved medications show up as unidentified
    auth = body.get("fhirAuthorization") or {}
    token = auth.get("access_token") if isinstance(auth, dict) else None
    budget = gathered.remaining_budget(settings)
    if budget < _LEAST_USEFUL_S:
        return  # the budget went to the record: these show up as unidentified
    ids = ",".join(m.split("/", 1)[1] for m in missing[:100])
    result = fetcher.fetch_many(base, token, {"medications": f"Medication?_id={ids}"}, budget_s=budget).get("medications")
    if result is not None:
        gathered.resources.extend(r for r in result.resources if r.get("resourceType") == "Medication")
        gathered.fetch_seconds["medications"] = result.seconds
