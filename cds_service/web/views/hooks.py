"""POST /cds-services/{id} (a hook call) and POST /cds-services/{id}/feedback."""
from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, Response, current_app, g, request

from cds_service.web.auth import refusal
from cds_service.web.logs import safe
from cds_service.web.storage import JtiReplayed

from cds_service.runtime.cycles import collect_call_cycles
from cds_service.web.audit import JournalUnavailable
from cds_service.protocol.errors import RequestProblem, problem_response, storage_unavailable_response
from cds_service.protocol.evaluate import evaluate_request
from cds_service.protocol.validate import validate_feedback
from cds_service.protocol.jsonio import dump_response, parse_json
from cds_service.protocol.services import SERVICES
from cds_service.cards.render import SUPPORTED_LANGUAGES
from cds_service.web.planner.proposals import PlannerLinks

bp = Blueprint("hooks", __name__)
log = logging.getLogger(__name__)


def _service(service_id: str):
    service = SERVICES.get(service_id)
    if service is None:
        raise RequestProblem(404, "not-found", f"unknown service '{service_id[:100]}'")
    return service


def read_body() -> bytes:
    """The request body's bytes (network time: read before the evaluation takes its turn), or a
    RequestProblem: 415 when it is not declared JSON, 413 past MAX_CONTENT_LENGTH."""
    if request.mimetype not in ("application/json", "application/fhir+json"):
        raise RequestProblem(415, "not-supported", "Content-Type must be application/json")
    return request.get_data(cache=False)


def _language(settings) -> str:
    default = settings.default_language if settings.default_language in SUPPORTED_LANGUAGES else "sv"
    if not request.headers.get("Accept-Language"):
        return default
    best = request.accept_languages.best_match(SUPPORTED_LANGUAGES, default=default)
    return best


@bp.post("/cds-services/<service_id>")
def call_service(service_id: str):
    started = time.perf_counter()
    settings = current_app.extensions["trappa.settings"]
    hook_instance = "?"
    try:
        service = _service(service_id)
        raw = read_body()
        lang = _language(settings)
        with current_app.extensions["trappa.turns"].turn():
            body = parse_json(raw)
            if isinstance(body, dict) and isinstance(body.get("hookInstance"), str):
                hook_instance = body["hookInstance"]
                g.trappa_hook_instance = safe(hook_instance, 100)  # on this request's log lines
            # The planner links of the taper cards; their proposals are stored before the answer leaves.
            links = PlannerLinks(settings.public_base_url or request.host_url, settings.proposal_ttl_hours,
                                 smart=bool(settings.smart_client_id))
            result = evaluate_request(service, body, settings, current_app.extensions["trappa.fetcher"], lang, raw=raw,
                                      links=links)
            try:
                payload = dump_response(result.response)
            except RecursionError:  # a suggestion that echoes a pathologically nested draft order
                raise RequestProblem(400, "invalid", "request JSON is nested too deeply") from None
            # The audit record is on disk before the answer leaves (audit.py): no record, no 200.
            if not _audit(service.id, hook_instance, 200, result.response["cards"], started, body):
                return storage_unavailable_response()
            current_app.extensions["trappa.metrics"].cards(result.response["cards"])
            if log.isEnabledFor(logging.DEBUG):  # counts only: the cards' content is clinical
                log.debug("%s answered 200 in %.1f ms: %d cards", service.id, (time.perf_counter() - started) * 1000,
                          len(result.response["cards"]))
            # The record's and the cards' objects are freed within the turn too (6 ms for 5 000 orders),
            # and then what the call left in reference cycles (cycles.py).
            del body, result
            collect_call_cycles()
        # Outside the turn (a database write); a link whose proposal could not be stored is taken off.
        payload = links.store(current_app.extensions["trappa.store"], payload)
    except RequestProblem as problem:
        if problem.status != 404:
            _audit(service_id, hook_instance, problem.status, [], started, None)
        log.debug("%s answered %d (%s)", safe(service_id, 100), problem.status, problem.code)
        return problem_response(problem)
    return Response(payload, status=200, mimetype="application/json")


def _context_id(body, key: str) -> str | None:
    context = body.get("context") if isinstance(body, dict) else None
    value = context.get(key) if isinstance(context, dict) else None
    return value if isinstance(value, str) else None


def _audit(service_id: str, hook_instance: str, status: int, cards: list, started: float, body) -> bool:
    """Record the call in the audit journal; False when that failed (the journal's disk), said in the log."""
    try:
        current_app.extensions["trappa.store"].record_audit(
            service=service_id[:100],
            hook_instance=hook_instance,
            status=status,
            cards=cards,
            millis=(time.perf_counter() - started) * 1000,
            caller=g.get("trappa_caller"),
            user_id=_context_id(body, "userId"),
            patient_id=_context_id(body, "patientId"),
        )
        return True
    except JournalUnavailable as exc:
        log.error("audit journal write failed: %s", exc)
        current_app.extensions["trappa.metrics"].audit_failed()
        return False


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str):
    try:
        service = _service(service_id)
        body = parse_json(read_body(), hook_request=False)
        validate_feedback(body)
    except RequestProblem as problem:
        return problem_response(problem)
    # The token's jti (when authentication is on) is stored with the rows, in one transaction: a write
    # that fails (StorageUnavailable: 503, app.py) has spent nothing, and the EHR can send it again.
    try:
        count = current_app.extensions["trappa.store"].record_feedback(
            service.id, body["feedback"], jti=g.get("trappa_jti"))
    except JtiReplayed:  # the same token twice at once: the first one stored its feedback
        log.warning("EHR authentication refused for POST %s: jti replayed", safe(request.path))
        current_app.extensions["trappa.metrics"].refused("replay")
        return refusal()
    return Response(json.dumps({"stored": count}), status=200, mimetype="application/json")
