"""GET /cds-services — CDS Hooks discovery."""
from __future__ import annotations

from flask import Blueprint, jsonify

from cds_service.protocol.services import discovery_document

bp = Blueprint("discovery", __name__)


@bp.get("/cds-services")
def discovery():
    return jsonify(discovery_document())
