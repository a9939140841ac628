"""Configuration from the environment (one table of it in the README).

Every setting has a default that works on a fresh machine with nothing else running: an embedded SQLite
database, Swedish texts, and a FHIR fallback with a hard time budget.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _float(value: str | None, default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        return default


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _level(value: str | None, default: str) -> str:
    value = (value or "").strip().upper()
    return value if value in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") else default


DEFAULT_DB_PATH = Path("var") / "trappa.sqlite3"


@dataclass(frozen=True)
class Settings:
    # Storage: feedback, audit trail, seen JWT ids. Any SQLAlchemy URL (postgresql+psycopg://…).
    database_url: str = f"sqlite:///{DEFAULT_DB_PATH}"
    # Card language when the request's Accept-Language does not prefer another supported one.
    default_language: str = "sv"
    # FHIR fallback: per-request timeout, overall budget for all fetches of one hook call, page limit.
    fhir_timeout_s: float = 1.5
    fhir_budget_s: float = 2.0
    fhir_max_pages: int = 20
    # Allowed FHIR servers as scheme://host[:port] origins; empty = no fallback fetching in production
    # (development mode: any server but link-local/metadata addresses).
    fhir_allowlist: tuple[str, ...] = ()
    fhir_allow_http: bool = False
    # Largest request body accepted. As large as one FHIR answer on the fallback path
    # (fhir_max_response_bytes): a record must not be refused when prefetched that would be read when
    # fetched. Long-term opioid users have the longest histories: 5 000 MedicationRequests are ~5.1 MiB.
    max_body_bytes: int = 20 * 1024 * 1024
    # Development mode: authentication off (loudly), http FHIR allowed, clock override allowed.
    dev_mode: bool = False
    # Honour extension.trappa.today in requests (deterministic fixtures and demos). Never in production.
    allow_clock_override: bool = False
    # Fixed "today" for the whole service (tests/demos), ISO date, or empty for the real date.
    today: str = ""
    # EHR authentication (JWT): trusted issuers, as JSON or a path to a JSON file.
    auth_required: bool = True
    trusted_issuers: str = ""
    public_base_url: str = ""  # what the EHR calls, behind a proxy (for the JWT aud check)
    jwks_timeout_s: float = 2.0
    jwks_cache_ttl_s: float = 300.0  # how long a fetched JWKS is trusted before it is fetched again
    jwks_refresh_interval_s: float = 30.0  # at most one unknown-kid refresh (or failed-fetch retry) per this
    # Largest FHIR response body read on the fallback path (a hostile server must not exhaust memory).
    fhir_max_response_bytes: int = 20 * 1024 * 1024
    # Log level of the service's own loggers (DEBUG, INFO, WARNING, ...). Tokens are never logged.
    log_level: str = "INFO"
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: os._Environ | dict | None = None) -> "Settings":
        e = os.environ if env is None else env
        dev = _bool(e.get("TRAPPA_DEV_MODE"), False)
        return cls(
            database_url=e.get("TRAPPA_DATABASE_URL") or cls.database_url,
            default_language=(e.get("TRAPPA_LANGUAGE") or "sv").lower()[:2],
            fhir_timeout_s=_float(e.get("TRAPPA_FHIR_TIMEOUT"), cls.fhir_timeout_s),
            fhir_budget_s=_float(e.get("TRAPPA_FHIR_BUDGET"), cls.fhir_budget_s),
            fhir_max_pages=_int(e.get("TRAPPA_FHIR_MAX_PAGES"), cls.fhir_max_pages),
            fhir_allowlist=_list(e.get("TRAPPA_FHIR_ALLOWLIST")),
            fhir_allow_http=_bool(e.get("TRAPPA_FHIR_ALLOW_HTTP"), dev),
            max_body_bytes=_int(e.get("TRAPPA_MAX_BODY_BYTES"), cls.max_body_bytes),
            dev_mode=dev,
            allow_clock_override=_bool(e.get("TRAPPA_ALLOW_CLOCK_OVERRIDE"), dev),
            today=e.get("TRAPPA_TODAY", ""),
            auth_required=_bool(e.get("TRAPPA_AUTH_REQUIRED"), not dev),
            trusted_issuers=e.get("TRAPPA_TRUSTED_ISSUERS", ""),
            public_base_url=e.get("TRAPPA_PUBLIC_BASE_URL", "").rstrip("/"),
            jwks_timeout_s=_float(e.get("TRAPPA_JWKS_TIMEOUT"), cls.jwks_timeout_s),
            jwks_cache_ttl_s=_float(e.get("TRAPPA_JWKS_CACHE_TTL"), cls.jwks_cache_ttl_s),
            jwks_refresh_interval_s=_float(e.get("TRAPPA_JWKS_REFRESH_INTERVAL"), cls.jwks_refresh_interval_s),
            fhir_max_response_bytes=_int(e.get("TRAPPA_FHIR_MAX_RESPONSE_BYTES"), cls.fhir_max_response_bytes),
            log_level=_level(e.get("TRAPPA_LOG_LEVEL"), cls.log_level),
        )

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)
