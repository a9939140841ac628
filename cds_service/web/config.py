"""Configuration from the environment (one table of it in the README).

Every setting has a default that works on a fresh machine with nothing else running: an embedded SQLite
database, Swedish texts, and a FHIR fallback with a hard time budget.

The clinical thresholds (:class:`ClinicalSettings`) are read once, at start-up, with the rest. Unlike
the technical settings, a value that is not a number in its range does not fall back to the default: it
raises :class:`ConfigurationError` and the service does not start, as with a malformed MEDD table. A
region that sets its referral limit and gets ours without noticing would be shown cards it did not
decide on.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from cds_service.domain.settings import ClinicalSettings, ConfigurationError


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


def _log_format(value: str | None) -> str:
    """A log pipeline that expects JSON must not get text because of a typo: a bad value stops the start-up."""
    text = (value or "").strip().lower() or "text"
    if text not in ("text", "json"):
        raise ConfigurationError(f"TRAPPA_LOG_FORMAT={value!r}: must be 'text' or 'json' (default text)")
    return text


def _metrics_port(value: str | None, default: int | None) -> int | None:
    text = (value or "").strip().lower()
    if not text:
        return default
    if text == "off":
        return None
    if text.isdigit() and 1 <= int(text) <= 65535:
        return int(text)
    raise ConfigurationError(f"TRAPPA_METRICS_PORT={value!r}: must be a port (1–65535) or 'off' (default {default})")


def _ca_bundle(value: str | None) -> str:
    """A private CA for https FHIR servers and JWKS: a file that cannot be read would fail every TLS
    connection at call time, so it stops the start-up instead."""
    path = (value or "").strip()
    if path and not os.path.isfile(path):
        raise ConfigurationError(f"TRAPPA_CA_BUNDLE={value!r}: no such file (a PEM file of CA certificates)")
    return path


def _ttl_hours(value: str | None, default: float) -> float:
    """A planner link that opens longer (or not at all) than the region decided is not a fallback's
    to choose: a bad value stops the start-up."""
    text = (value or "").strip()
    if not text:
        return default
    try:
        hours = float(text)
    except ValueError:
        hours = math.nan
    if not (math.isfinite(hours) and 0 < hours <= 24 * 30):
        raise ConfigurationError(f"TRAPPA_PROPOSAL_TTL_HOURS={value!r}: must be hours above 0 and at most 720 "
                                 f"(default {default:g})")
    return hours


DEFAULT_DB_PATH = Path("var") / "trappa.sqlite3"


@dataclass(frozen=True)
class Settings:
    # Storage: feedback, audit trail, seen JWT ids. Any SQLAlchemy URL (postgresql+psycopg://…).
    database_url: str = f"sqlite:///{DEFAULT_DB_PATH}"
    # Audit journal (cds_service/web/audit.py): a local directory per host; empty = beside the SQLite file,
    # else var/audit-journal. fsync: sync every record to disk (survives a machine crash, costs a flush).
    audit_journal_dir: str = ""
    audit_fsync: bool = False
    # Audit rows older than this are deleted by `python -m cds_service audit-purge`. Ten years: what
    # Swedish patient records are kept at least (patientdatalagen 3 kap. 17 §); the region decides.
    audit_retention_days: int = 3650
    # Card language when the request's Accept-Language does not prefer another supported one.
    default_language: str = "sv"
    # FHIR fallback: per-request timeout, overall budget for all fetches of one hook call, page limit.
    fhir_timeout_s: float = 1.5
    fhir_budget_s: float = 2.0
    fhir_max_pages: int = 20
    # Concurrent fetches to one FHIR server (origin), of the fetch pool's 32 per worker: a slow server
    # holds at most these, the rest stay free for the others (cds_service/protocol/fhir_client.py).
    fhir_max_per_server: int = 16
    # PEM file of the CA certificates to trust for https FHIR servers and JWKS URLs (a region's private
    # CA); empty: the system's trust store (certifi's, as requests ships it).
    ca_bundle: str = ""
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
    # Log format: "text" (one line per record, as it always was) or "json" (JSON lines, logs.py).
    log_format: str = "text"
    # Prometheus metrics endpoint, served by the gunicorn master on a port of its own (metrics.py);
    # None: metrics off. Loopback by default: the endpoint has no authentication of its own.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 9464
    # The planner (cds_service/web/planner): how long a card's proposal opens (hours; see its README
    # section for why a working day), and whom the patient calls, printed on the schedule (empty: a line
    # to fill in by hand).
    proposal_ttl_hours: float = 24.0
    planner_contact: str = ""
    # SMART App Launch of the planner (web/planner/smart.py): the client id registered with the EHR's
    # authorization server; empty: the cards carry no SMART link (only the absolute one).
    smart_client_id: str = ""
    # Clinical thresholds (README table, clinical-rules): the same for every hook call of the process.
    clinical: ClinicalSettings = field(default_factory=ClinicalSettings)
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: os._Environ | dict | None = None) -> "Settings":
        """Raises ConfigurationError for a clinical setting out of its range (ClinicalSettings.from_env)."""
        e = os.environ if env is None else env
        dev = _bool(e.get("TRAPPA_DEV_MODE"), False)
        return cls(
            database_url=e.get("TRAPPA_DATABASE_URL") or cls.database_url,
            audit_journal_dir=e.get("TRAPPA_AUDIT_JOURNAL_DIR", ""),
            audit_fsync=_bool(e.get("TRAPPA_AUDIT_FSYNC"), False),
            audit_retention_days=_int(e.get("TRAPPA_AUDIT_RETENTION_DAYS"), cls.audit_retention_days),
            default_language=(e.get("TRAPPA_LANGUAGE") or "sv").lower()[:2],
            fhir_timeout_s=_float(e.get("TRAPPA_FHIR_TIMEOUT"), cls.fhir_timeout_s),
            fhir_budget_s=_float(e.get("TRAPPA_FHIR_BUDGET"), cls.fhir_budget_s),
            fhir_max_pages=_int(e.get("TRAPPA_FHIR_MAX_PAGES"), cls.fhir_max_pages),
            fhir_max_per_server=_int(e.get("TRAPPA_FHIR_MAX_PER_SERVER"), cls.fhir_max_per_server),
            ca_bundle=_ca_bundle(e.get("TRAPPA_CA_BUNDLE")),
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
            log_format=_log_format(e.get("TRAPPA_LOG_FORMAT")),
            metrics_host=(e.get("TRAPPA_METRICS_HOST") or cls.metrics_host).strip(),
            metrics_port=_metrics_port(e.get("TRAPPA_METRICS_PORT"), cls.metrics_port),
            proposal_ttl_hours=_ttl_hours(e.get("TRAPPA_PROPOSAL_TTL_HOURS"), cls.proposal_ttl_hours),
            planner_contact=(e.get("TRAPPA_PLANNER_CONTACT") or "").strip()[:300],
            smart_client_id=(e.get("TRAPPA_SMART_CLIENT_ID") or "").strip()[:200],
            clinical=ClinicalSettings.from_env(e),
        )

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)
