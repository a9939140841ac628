"""The planner's HTTP side: the page, its JSON API, the PDF and the FHIR Bundle.

| method | path | what |
|---|---|---|
| GET | ``/planner/<id>`` | the page, opened from a card's link (404 page: unknown or expired) |
| POST | ``/taper/schedule`` | the schedule as JSON (:mod:`.api`) |
| POST | ``/taper/schedule/pdf`` | the patient's print-out as an A4 PDF (:mod:`.printout`) |
| POST | ``/taper/schedule/bundle`` | CarePlan + MedicationRequest + Flag as a FHIR Bundle (:mod:`.bundle`) |
| GET | ``/planner/launch`` | SMART App Launch (EHR launch): to the EHR's authorization endpoint (:mod:`.smart`) |
| GET | ``/planner/callback`` | the EHR's redirect: code for token, a session kept server-side, to the page |
| POST | ``/planner/<session>/save`` | CarePlan + MedicationRequest + Flag saved through the EHR's FHIR server |
| GET | ``/planner/static/…`` | the page's script and stylesheets (no build step) |

The three POSTs take the same body and the page's authority (:mod:`.authority`): 401 without one,
400 OperationOutcome naming the first problem otherwise. The CDS Hooks JWT does not apply here (the
page is opened by the physician's browser, not the EHR's back end); the proposal id is the credential.
"""
from __future__ import annotations

import logging
import time
from datetime import date
from pathlib import Path

import orjson
from flask import Blueprint, Response, current_app, render_template, request

from cds_service.protocol.errors import RequestProblem, problem_response
from cds_service.protocol.fhir_client import FhirServerNotAllowed

from cds_service.web.planner import api, authority, printout, proposals, smart, texts
from cds_service.web.planner.bundle import taper_bundle, taper_transaction
from cds_service.web.planner.chart import chart_svg

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
bp = Blueprint("planner", __name__, template_folder="templates", static_folder="static",
               static_url_path="/planner/static")

#: The page's own scripts, styles and API only: no inline script or style, nothing from elsewhere.
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
MAX_BODY = 64 * 1024  # a planner request is a few hundred bytes


def _settings():
    return current_app.extensions["trappa.settings"]


def _store():
    return current_app.extensions["trappa.store"]


def language() -> str:
    """The cards' rule: Accept-Language's best of sv/en, else TRAPPA_LANGUAGE, else Swedish."""
    settings = _settings()
    default = settings.default_language if settings.default_language in texts.LANGS else "sv"
    if not request.headers.get("Accept-Language"):
        return default
    return request.accept_languages.best_match(texts.LANGS, default=default)


def today_for(proposal: dict) -> date:
    """The service's date; in development mode (clock override) the day the card was made, so a
    fixture's card opens on its own day."""
    settings = _settings()
    if settings.today:
        return date.fromisoformat(settings.today)
    if settings.allow_clock_override and proposal.get("today"):
        return date.fromisoformat(proposal["today"])
    return date.today()


def page_config(auth: authority.Authority, token: str | None, lang: str) -> dict:
    """What the page's script starts from: the proposal, how to call the API, whether it may save."""
    proposal = auth.proposal
    return {
        "lang": lang,
        "proposal": {k: proposal.get(k) for k in ("drug", "startDailyDose", "unit", "startDate", "pace",
                                                   "maxStartDailyDose", "exposure", "topic")},
        "authorization": f"Bearer {token}" if token else None,
        "canSave": auth.can_save,
        "paces": [{"value": v, "label": texts.t(texts.PACES[v], lang)} for v in _paces(proposal)],
        "api": {"schedule": "/taper/schedule", "pdf": "/taper/schedule/pdf", "bundle": "/taper/schedule/bundle"},
        "texts": texts.PAGE[lang],
    }


def _paces(proposal: dict) -> tuple[str, ...]:
    """The cards' three paces (tramadol's own beside them for tramadol), and a custom one."""
    tramadol = ("tramadol",) if (proposal.get("drug") or {}).get("ingredient") == "tramadol" else ()
    return ("fast", "weekly", "slow", *tramadol, "custom")


def _not_found(lang: str) -> Response:
    hours = f"{_settings().proposal_ttl_hours:g}"
    title, text = texts.NOT_FOUND[lang]
    other_lang = "en" if lang == "sv" else "sv"
    other_title, other_text = texts.NOT_FOUND[other_lang]
    html = render_template("planner/not_found.html", lang=lang, title=title, text=text.format(hours=hours),
                           other={"lang": other_lang, "title": other_title, "text": other_text.format(hours=hours)})
    return _html(html, 404)


def _html(html: str, status: int = 200) -> Response:
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


def _refused(lang: str, status: int, reason: str) -> Response:
    title, text = texts.LAUNCH_REFUSED[lang]
    other_lang = "en" if lang == "sv" else "sv"
    other_title, other_text = texts.LAUNCH_REFUSED[other_lang]
    html = render_template("planner/not_found.html", lang=lang, title=title, text=text, reason=reason,
                           other={"lang": other_lang, "title": other_title, "text": other_text})
    return _html(html, status)


@bp.get("/planner/launch")
def launch():
    """SMART App Launch 2.0, EHR launch: check ``iss``, read its smart-configuration, keep the state and
    PKCE verifier server-side, and send the browser to the EHR's authorization endpoint (smart.py)."""
    lang = language()
    settings = _settings()
    if not settings.smart_client_id:
        return _refused(lang, 404, "SMART launch is not configured on this service (TRAPPA_SMART_CLIENT_ID)")
    iss, launch_id = request.args.get("iss", ""), request.args.get("launch", "")
    if not iss or not launch_id or len(launch_id) > 2000 or len(request.args.getlist("iss")) > 1:
        return _refused(lang, 400, "a SMART EHR launch needs exactly one iss and one launch parameter")
    try:
        found = smart.discover(iss, settings)
    except smart.LaunchRefused as refused:
        return _refused(lang, refused.status, refused.message)
    verifier, challenge = smart.pkce_pair()
    state = smart.new_state()
    redirect_uri = f"{(settings.public_base_url or request.host_url).rstrip('/')}/planner/callback"
    held = {"iss": found["iss"], "token": found["token"], "verifier": verifier, "redirect": redirect_uri}
    from cds_service.web.storage import StorageUnavailable
    try:
        _store().save_launch(smart.state_key(state), time.time() + smart.LAUNCH_TTL_S, orjson.dumps(held).decode())
    except StorageUnavailable:
        return _refused(lang, 503, "the service's database is unavailable")
    response = Response(status=302)
    response.headers["Location"] = smart.authorize_url(found, settings.smart_client_id, redirect_uri, launch_id,
                                                       state, challenge)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _session(sid: str | None) -> dict | None:
    """The SMART session of a session id, or None (unknown, malformed or expired)."""
    if not smart.session_id_well_formed(sid):
        return None
    text = _store().session(proposals.proposal_key(str(sid)))
    return orjson.loads(text) if text else None


def from_smart_session(req, store) -> authority.Authority | None:
    sid = authority.bearer(req)
    found = _session(sid)
    if found is None:
        return None
    return authority.Authority("smart", found["proposal"], can_save=True, extra={"session": sid})


authority.register(from_smart_session)


@bp.get("/planner/callback")
def callback():
    """The EHR's redirect after the sign-in: the state must be one this service issued (and is used
    once), the code is exchanged with the PKCE verifier, the token kept server-side, the page opened."""
    lang = language()
    settings = _settings()
    if request.args.get("error"):
        return _refused(lang, 403, "the EHR did not authorize the planner (" + str(request.args["error"])[:60] + ")")
    state, code = request.args.get("state", ""), request.args.get("code", "")
    if not state or not code or len(state) > 200 or len(code) > 4000:
        return _refused(lang, 400, "the EHR's redirect needs one code and one state")
    from cds_service.web.storage import StorageUnavailable
    try:
        held_text = _store().take_launch(smart.state_key(state))
    except StorageUnavailable:
        return _refused(lang, 503, "the service's database is unavailable")
    if held_text is None:
        return _refused(lang, 400, "unknown, used or expired state: start the planner again from the card")
    held = orjson.loads(held_text)
    try:
        token = smart.exchange_code(held, settings.smart_client_id, code, settings)
    except smart.LaunchRefused as refused:
        return _refused(lang, refused.status, refused.message)
    patient, context = token.get("patient"), token.get("appContext")
    if not isinstance(patient, str) or not patient or len(patient) > 64 or "/" in patient:
        return _refused(lang, 502, "the EHR's token response names no patient")
    inputs = proposals.load(_store(), context) if isinstance(context, str) else None
    if inputs is None:
        return _not_found(lang)  # the card's proposal has expired (or the launch named none)
    try:
        expires_in = float(token.get("expires_in") or smart.SESSION_TTL_S)
    except (TypeError, ValueError):
        expires_in = smart.SESSION_TTL_S
    sid = smart.new_session_id()
    session = {"iss": held["iss"], "access_token": token["access_token"], "patient": patient, "proposal": inputs}
    try:
        _store().save_session(proposals.proposal_key(sid), time.time() + min(expires_in, smart.SESSION_TTL_S),
                              orjson.dumps(session).decode())
    except StorageUnavailable:
        return _refused(lang, 503, "the service's database is unavailable")
    response = Response(status=303)
    response.headers["Location"] = f"/planner/{sid}"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/planner/<token>")
def page(token: str):
    lang = language()
    session = _session(token) if not proposals.well_formed(token) else None
    if session is not None:
        auth = authority.Authority("smart", session["proposal"], can_save=True)
        config = page_config(auth, token, lang)
        config["api"]["save"] = f"/planner/{token}/save"
    else:
        inputs = proposals.load(_store(), token)
        if inputs is None:
            return _not_found(lang)
        auth = authority.Authority("proposal", inputs)
        config = page_config(auth, token, lang)
    return _html(render_template("planner/page.html", lang=lang, t=texts.PAGE[lang], config=config))


def _authorised() -> authority.Authority:
    found = authority.resolve(request, _store())
    if found is None:
        raise RequestProblem(401, "security", "a planner link's id (Authorization: Bearer <id>) is needed; "
                                              "an unknown or expired one is refused")
    return found


def _body():
    if request.mimetype not in ("application/json", "application/fhir+json"):
        raise RequestProblem(415, "not-supported", "Content-Type must be application/json")
    data = request.get_data(cache=False)
    if len(data) > MAX_BODY:
        raise RequestProblem(413, "too-costly", f"request body larger than {MAX_BODY} bytes")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise RequestProblem(400, "invalid", "request body is not JSON") from None


def _compute(lang: str):
    return _compute_for(_authorised(), lang)


def _compute_for(auth: authority.Authority, lang: str):
    body = _body()
    today = today_for(auth.proposal)
    settings = _settings()
    try:
        bounds = api.Bounds.of(auth.proposal, today)
    except (KeyError, TypeError, ValueError):  # a stored proposal of another shape: not this version's
        raise RequestProblem(401, "security", "the planner link's proposal cannot be read; open it again from the card")
    req = api.parse(body, bounds, settings.clinical.follow_up_days)
    schedule = api.schedule_of(req)
    answer = api.response(req, schedule, lang, settings.clinical.long_taper_days, today, settings.planner_contact)
    return req, schedule, answer


def _json(data: dict, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status=status, mimetype="application/json")


@bp.post("/taper/schedule")
def schedule():
    lang = language()
    try:
        req, _, answer = _compute(lang)
    except RequestProblem as problem:
        return problem_response(problem)
    if req.views:
        settings = _settings()
        answer["views"] = {}
        if "chart" in req.views:
            answer["views"]["chart"] = chart_svg(answer, lang)
        if "print" in req.views:
            answer["views"]["print"] = printout.fragment(answer, settings.planner_contact,
                                                         settings.clinical.follow_up_days)
    return _json(answer)


@bp.post("/taper/schedule/pdf")
def schedule_pdf():
    try:
        _, _, answer = _compute("sv")  # the patient's print-out is in Swedish
    except RequestProblem as problem:
        return problem_response(problem)
    settings = _settings()
    data = printout.pdf(answer, settings.planner_contact, settings.clinical.follow_up_days, str(STATIC))
    response = Response(data, status=200, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="nedtrappningsschema-{answer["startDate"]}.pdf"'
    return response


@bp.post("/taper/schedule/bundle")
def schedule_bundle():
    try:
        _, schedule, answer = _compute("sv")
    except RequestProblem as problem:
        return problem_response(problem)
    bundle = taper_bundle(schedule, _settings().clinical.restriction_margin_days)
    response = Response(orjson.dumps(bundle), status=200, mimetype="application/fhir+json")
    response.headers["Content-Disposition"] = f'attachment; filename="nedtrappning-{answer["startDate"]}.json"'
    return response



@bp.post("/planner/<sid>/save")
def save(sid: str):
    """Create the chosen schedule's CarePlan, MedicationRequest and Flag in the patient's record: one
    transaction through the EHR's FHIR server with the session's token. 201 with what was created."""
    session = _session(sid)
    if session is None:
        return problem_response(RequestProblem(401, "security", "unknown or expired planner session: launch the "
                                                                "planner again from the card"))
    try:
        auth = authority.Authority("smart", session["proposal"], can_save=True)
        _, schedule, _ = _compute_for(auth, "sv")
    except RequestProblem as problem:
        return problem_response(problem)
    bundle = taper_transaction(schedule, _settings().clinical.restriction_margin_days, f"Patient/{session['patient']}")
    try:
        answer = smart.save_transaction(session, bundle, _settings())
    except smart.LaunchRefused as refused:
        return problem_response(RequestProblem(refused.status, "exception", refused.message))
    except FhirServerNotAllowed:  # the allow-list changed under the session
        return problem_response(RequestProblem(403, "security", "the session's FHIR server is no longer allowed"))
    created = [str((e.get("response") or {}).get("location", "")) for e in answer.get("entry", ())
               if isinstance(e, dict)]
    return _json({"saved": [c.split("/_history/")[0] for c in created if c]}, 201)
