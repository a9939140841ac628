"""EHR authentication (CDS Hooks 2.0 JWT). Placeholder until the security issue lands: when
authentication is required, every /cds-services call must carry a Bearer token, and without configured
trusted issuers none is accepted (fail closed)."""
from __future__ import annotations

from flask import Response

from .config import Settings


class Authenticator:
    def __init__(self, settings: Settings, store):
        self.settings = settings
        self.store = store

    @classmethod
    def from_settings(cls, settings: Settings, store) -> "Authenticator":
        return cls(settings, store)

    def check(self, request) -> Response | None:
        if not self.settings.auth_required:
            return None
        return Response(status=401, headers={"WWW-Authenticate": "Bearer"})
