"""The Flask application factory: configuration, storage, blueprints, and the HTTP hygiene every
response needs (CORS, security headers, OperationOutcome errors, never a 500 for client input)."""
from __future__ import annotations

import logging
import re
import time

from flask import Flask, g, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from cds_service.domain.medd import load_medd_table
from fhir_mappings.codes.products import load_products_table

from cds_service.web import auth
from cds_service.web.config import Settings
from cds_service.protocol.errors import outcome_response, storage_unavailable_response
from cds_service.protocol.fhir_client import FhirFetcher
from cds_service.web import logs
from cds_service.web.logs import safe
from cds_service.web.metrics import Metrics
from cds_service.protocol.services import SERVICES
from cds_service.web.audit import JournalUnavailable
from cds_service.web.storage import StorageUnavailable, Store
from cds_service.domain.taper import strengths_table
from cds_service.runtime.turns import EvaluationTurns
from cds_service.web.views import discovery, health, hooks
from cds_service.web.planner import views as planner

log = logging.getLogger("cds_service")

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept, Accept-Language",
    "Access-Control-Max-Age": "600",
}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


#: A Host header: a name or IPv4 address, or an IPv6 literal, and an optional port. gunicorn joins repeated
#: Host headers with commas, which this refuses too.
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(?::[0-9]{1,5})?")


#: A planner link's id is a credential (web/planner/authority.py): never in a log line.
_PLANNER_ID = re.compile(r"^/planner/(?!static/)[^/]+")


def _logged_path(path: str) -> str:
    return safe(_PLANNER_ID.sub("/planner/<id>", path))


def _host_problem(environ) -> str | None:
    """Why the request's Host header is not acceptable, or None. The JWT audience is built from it when
    TRAPPA_PUBLIC_BASE_URL is not set (docs/security.md)."""
    host = environ.get("HTTP_HOST")
    if host is None:
        return "HTTP/1.1 request without a Host header" if environ.get("SERVER_PROTOCOL") == "HTTP/1.1" else None
    if not _HOST.fullmatch(host):
        return "invalid Host header (one host name or address, with an optional port)"
    return None


def _open_store(settings: Settings) -> Store:
    """The store; a database that is down when a worker starts (a worker restarted during an outage)
    must not stop the worker, and with it the whole server: the tables were created by the serve
    command before any worker started, and calls that need the database answer 503 until it is back."""
    url, journal = settings.database_url, dict(journal_dir=settings.audit_journal_dir or None,
                                                fsync=settings.audit_fsync)
    try:
        return Store(url, **journal)
    except StorageUnavailable as exc:
        log.error("database unavailable at start-up (%s): calls that need it are answered 503", exc)
        return Store(url, create_tables=False, **journal)


def create_app(settings: Settings | None = None) -> Flask:
    # Read once, here: a clinical setting out of its range raises ConfigurationError and the service does
    # not start (config.py). Every hook call then evaluates with settings.clinical.
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level, settings.log_format)
    changed = settings.clinical.differences()
    if changed:  # the thresholds this service decides with, in the log (once per worker, at start-up)
        log.info("clinical settings differing from the defaults: %s",
                 ", ".join(f"{k}={v:g}" for k, v in changed.items()))
    # The clinical tables are configuration: parsed here, so that a malformed or missing one stops the
    # start-up (ValueError, OSError) instead of failing every hook call with a 500.
    load_medd_table()
    load_products_table()
    strengths_table()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.ensure_ascii = False  # Swedish text as UTF-8, not \u escapes
    app.json.sort_keys = False
    app.extensions["trappa.settings"] = settings
    app.extensions["trappa.store"] = _open_store(settings)
    app.extensions["trappa.turns"] = EvaluationTurns()  # one evaluation computing at a time (turns.py)
    app.extensions["trappa.fetcher"] = FhirFetcher(settings, app.extensions["trappa.turns"])
    app.extensions["trappa.auth"] = auth.Authenticator.from_settings(settings, app.extensions["trappa.store"])
    # Counted only under the serve command, which makes the workers' shared directory (metrics.py).
    metrics = Metrics(tuple(SERVICES) if settings.metrics_port else None)
    app.extensions["trappa.metrics"] = app.extensions["trappa.auth"].metrics = metrics
    app.extensions["trappa.store"].journal.observe_pending = metrics.audit_pending

    if settings.dev_mode:
        log.warning(
            "TRAPPA DEVELOPMENT MODE: EHR authentication is %s, http FHIR servers allowed, clock override "
            "allowed. Never run this in production.",
            "OFF" if not settings.auth_required else "on",
        )

    app.register_blueprint(health.bp)
    app.register_blueprint(discovery.bp)
    app.register_blueprint(hooks.bp)
    app.register_blueprint(planner.bp)  # the taper planner's page and API (web/planner)

    @app.before_request
    def _preflight_and_auth():
        g.trappa_started = time.perf_counter()
        g.trappa_request_id = logs.request_id(request.headers.get("X-Request-ID"))
        problem = _host_problem(request.environ)
        if problem:  # RFC 9112 §3.2: 400 for an HTTP/1.1 request without one Host, or with a bad one
            return outcome_response(400, "invalid", problem)
        if request.method == "OPTIONS":  # CORS preflight: never needs a JWT
            return app.response_class(status=204)
        if request.path.startswith("/cds-services"):
            # Feedback stores its token's jti with its rows, in one transaction (views/hooks.feedback).
            refused = app.extensions["trappa.auth"].check(request, spend_jti=request.endpoint != "hooks.feedback")
            if refused is not None and g.get("trappa_refusal"):
                _audit_refusal(refused.status_code, g.trappa_refusal)
            return refused
        return None

    def _audit_refusal(status: int, reason: str) -> None:
        """A refused call is in the audit trail too, with the refusal's code (never token material).
        Its body is not read: nothing of a caller we do not trust is stored."""
        endpoint = request.endpoint or ""
        kind = {"hooks.call_service": "hook", "hooks.feedback": "feedback"}.get(endpoint, "discovery")
        try:
            app.extensions["trappa.store"].record_audit(
                service=str((request.view_args or {}).get("service_id") or "")[:100], hook_instance="?",
                status=status, cards=[], millis=(time.perf_counter() - g.trappa_started) * 1000,
                kind=kind, reason=reason)
        except JournalUnavailable as exc:  # refused either way; the log says the record is missing
            log.error("audit journal write failed for a refused call: %s", exc)

    @app.after_request
    def _headers(response):
        if metrics.enabled and request.method == "POST":  # not the CORS preflights
            if request.endpoint == "hooks.call_service":
                metrics.hook_call((request.view_args or {}).get("service_id"), response.status_code,
                                  time.perf_counter() - g.get("trappa_started", time.perf_counter()))
            elif request.endpoint == "hooks.feedback":
                metrics.feedback_call((request.view_args or {}).get("service_id"), response.status_code)
        request_id = g.get("trappa_request_id")
        if request_id is not None:
            response.headers["X-Request-ID"] = request_id
        for k, v in CORS_HEADERS.items():
            response.headers.setdefault(k, v)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = {404: "not-found", 405: "not-supported", 413: "too-costly", 415: "not-supported"}.get(exc.code, "invalid")
        message = {
            404: "no such endpoint or service",
            405: f"method {request.method} not allowed here",
            413: f"request body larger than {settings.max_body_bytes} bytes",
        }.get(exc.code, exc.description or exc.name)
        return outcome_response(exc.code or 400, code, message)

    @app.errorhandler(StorageUnavailable)
    @app.errorhandler(SQLAlchemyError)
    def _storage_down(exc: Exception):
        # The database failed (unreachable, locked, read-only, full …): not the caller's fault, and
        # nothing was stored, so the caller may retry. The type only: SQLAlchemy's text holds parameters.
        kind = str(exc) if isinstance(exc, StorageUnavailable) else type(exc).__name__
        log.error("database unavailable on %s %s (%s): answered 503", safe(request.method, 20), _logged_path(request.path),
                  kind)
        return storage_unavailable_response()

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # A bug of ours: log the type only (the message could carry request content), answer 500.
        log.error("unhandled %s on %s %s", type(exc).__name__, safe(request.method, 20), _logged_path(request.path),
                  exc_info=False)
        return outcome_response(500, "exception", "internal error; the request was not evaluated")

    return app
