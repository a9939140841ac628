"""Health endpoint for load balancers."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    settings = current_app.extensions["trappa.settings"]
    db_ok = current_app.extensions["trappa.store"].ping()
    auth = current_app.extensions["trappa.auth"].describe()
    body = {
        "status": "ok" if db_ok else "degraded",
        "database": "ok" if db_ok else "unreachable",
        "authentication": auth["state"],
        "trustedIssuers": auth.get("trustedIssuers", []),
        "devMode": settings.dev_mode,
    }
    return jsonify(body), 200 if db_ok else 503
