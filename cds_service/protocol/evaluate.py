"""One hook call, start to end, without HTTP: request JSON in, CDS Hooks response out.

validate → gather data (prefetch, FHIR fallback) → facts (``fhir_mappings``) → rules → cards.
The Flask view and the ``evaluate`` command both call :func:`evaluate_request`; neither adds logic.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date


from fhir_mappings.read.facts import build_patient_facts

from cds_service.cards import render as card_renderer
from cds_service import rules
from cds_service.web.config import Settings
from cds_service.protocol.errors import RequestProblem
from cds_service.protocol.fhir_client import FhirFetcher, bundle_resources
from cds_service.protocol.gather import fetch_missing_medications, gather
from cds_service.protocol.jsonio import prefetched_resource
from cds_service.protocol.validate import validate_request, with_bare_ids
from cds_service.domain.hooks import MEDICATION_PRESCRIBE, ORDER_SELECT
from cds_service.rules.finding import RuleContext
from cds_service.protocol.services import Service


@dataclass
class Evaluation:
    response: dict
    topics: list[str]
    gaps: list[str]


def today_for(body: dict, settings: Settings) -> date:
    """The evaluation date: the real date, unless a fixed or per-request date is allowed (demos, tests)."""
    if settings.allow_clock_override:
        ext = body.get("extension")
        wanted = ext.get("trappa", {}).get("today") if isinstance(ext, dict) and isinstance(ext.get("trappa"), dict) else None
        if isinstance(wanted, str):
            try:
                return date.fromisoformat(wanted)
            except ValueError:
                raise RequestProblem(400, "invalid", "extension.trappa.today: not an ISO date", "extension.trappa.today") from None
    if settings.today:
        return date.fromisoformat(settings.today)
    return date.today()


def draft_orders(body: dict, hook: str) -> list[dict]:
    """The draft orders this call is about: for order-select only the selected ones."""
    ctx = body["context"]
    bundle = ctx.get("medications") if hook == MEDICATION_PRESCRIBE else ctx.get("draftOrders")
    drafts = bundle_resources(bundle) if isinstance(bundle, dict) else []
    if hook == ORDER_SELECT:
        selected = set(ctx.get("selections") or [])
        picked = [d for d in drafts if f"{d.get('resourceType')}/{d.get('id')}" in selected]
        if picked:
            drafts = picked
    return drafts


def evaluate_request(
    service: Service,
    body,
    settings: Settings,
    fetcher: FhirFetcher | None = None,
    lang: str = "sv",
    raw: bytes | None = None,
    links=None,
) -> Evaluation:
    """The CDS Hooks response to ``body``; the rules' thresholds are ``settings.clinical`` (loaded once
    at start-up). Raises RequestProblem for a 4xx. ``raw``: the request body as received, when ``body``
    was decoded from it in outline (``jsonio.parse_json``): a suggestion that updates a record order
    returns that order whole. ``links``: called with (finding, facts, context, lang) for each card, its
    answer (a list of CDS Hooks links, or None) becomes the card's ``links`` (the planner's, web/planner)."""
    if not isinstance(body, dict):
        raise RequestProblem(400, "invalid", "request body must be a JSON object")
    try:
        return _evaluate(service, body, settings, fetcher, lang, raw, links)
    except RecursionError:
        # JSON that parses can still be nested deeper than validation and rendering can walk.
        raise RequestProblem(400, "invalid", "request JSON is nested too deeply") from None


class _WholeRecord:
    """The record's resources whole, for the rare suggestion that returns one amended (ending an old
    prescription): looked up by type and id in the request body as received (``jsonio``: only the
    matching entry is decoded), else among what was fetched (decoded whole already). The hot path
    reads the prefetched orders in outline only. Each one is looked up once: every pace's suggestion
    ends the same prescriptions."""

    def __init__(self, raw: bytes | None, gathered: list[dict]):
        self._raw, self._gathered = raw, gathered
        self._found: dict[tuple[str, str], dict | None] = {}

    def find(self, resource_type: str, resource_id: str) -> dict | None:
        key = (resource_type, resource_id)
        if key not in self._found:
            self._found[key] = self._find(resource_type, resource_id)
        return self._found[key]

    def _find(self, resource_type: str, resource_id: str) -> dict | None:
        if self._raw is not None:
            found = prefetched_resource(self._raw, resource_type, resource_id)
            if found is not None:
                return found
        for r in self._gathered:
            if isinstance(r, dict) and r.get("id") == resource_id and r.get("resourceType") == resource_type:
                return r
        return None


def _evaluate(service, body, settings, fetcher, lang, raw, links=None) -> Evaluation:
    validate_request(body, service.hook)
    body = with_bare_ids(body)  # "Patient/123" → "123", before anything reads an id
    today = today_for(body, settings)
    data = gather(body, settings, fetcher)
    context = body["context"]
    drafts = draft_orders(body, service.hook)
    fetch_missing_medications(body, data, drafts, settings, fetcher)
    facts = build_patient_facts(context["patientId"], data.resources, drafts, today, gaps=data.gaps)
    ctx = RuleContext(
        hook=service.hook,
        today=today,
        user_ref=context.get("userId"),
        patient_ref=f"Patient/{context['patientId']}",
        settings=settings.clinical,
    )
    findings = rules.evaluate(facts, ctx)
    shared = card_renderer.base_facts(facts)
    # A suggestion that amends a draft, or ends a record order, returns it as the EHR sent it (cards.proposals).
    sent = {d["id"]: d for d in drafts if isinstance(d.get("id"), str)}
    record = _WholeRecord(raw, data.resources)
    cards = [card_renderer.render(f, facts, lang, shared, sent, record) for f in findings]
    if links is not None:
        for finding, card in zip(findings, cards):
            found = links(finding, facts, ctx, lang)
            if found:
                card["links"] = found
    return Evaluation(response={"cards": cards}, topics=[f.topic for f in findings], gaps=data.gaps)
