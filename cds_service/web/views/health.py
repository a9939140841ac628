"""Health endpoint for load balancers: open to anyone, so it says only whether the service can serve.

It used to name the trusted issuers, the authentication state and development mode as well — to
anyone who asked. Those are in the start-up log (and on the metrics endpoint, which is not public):
docs/security.md, "What is open"."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    # The database is the one thing every authenticated call needs (the jti store): without it every
    # /cds-services call is a 503, and the load balancer should take this replica out.
    if current_app.extensions["trappa.store"].ping():
        return jsonify({"status": "ok"}), 200
    return jsonify({"status": "unavailable"}), 503
