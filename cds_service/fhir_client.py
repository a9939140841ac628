"""Fetching from the EHR's FHIR server when prefetch did not bring the data (CDS Hooks 2.0 §prefetch).

Design, in order of importance:

- never hang: every request has a timeout, and one hook call's fetches share a hard overall budget;
  what is not back by the deadline counts as failed;
- fetch in parallel: independent queries go out at once (the slowest query, not the sum, sets latency);
- go nowhere else: only the hook's ``fhirServer`` (checked against the allow-list before any connection),
  paging links only on that same server, no redirects followed;
- never leak: the access token goes only into the Authorization header of those requests; it is
  never logged or put into an error message.
"""
from __future__ import annotations

import ipaddress
import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests

from .config import Settings

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"


class FhirServerNotAllowed(Exception):
    """The hook's fhirServer is not one we may talk to (SSRF guard)."""


@dataclass
class FetchResult:
    resources: list[dict] = field(default_factory=list)
    error: str | None = None  # short, token-free reason
    pages: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = (parts.scheme or "").lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def check_fhir_server(url: str, settings: Settings) -> str:
    """The normalised base URL if we may fetch from it; else raise FhirServerNotAllowed.

    Refused before any connection: schemes other than https (http only when allowed), URLs with
    credentials, link-local and cloud metadata addresses, and anything off a configured allow-list.
    """
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise FhirServerNotAllowed("fhirServer is not a valid URL") from None
    scheme = (parts.scheme or "").lower()
    if scheme not in ("https", "http"):
        raise FhirServerNotAllowed("fhirServer must be an https URL")
    if scheme == "http" and not settings.fhir_allow_http:
        raise FhirServerNotAllowed("fhirServer must use https (plain http is only allowed in development)")
    if not parts.hostname or parts.username or parts.password:
        raise FhirServerNotAllowed("fhirServer must name a host and carry no credentials")
    host = parts.hostname.lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None and (ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved):
        raise FhirServerNotAllowed("fhirServer address is not allowed")
    if host in ("metadata.google.internal", "metadata"):
        raise FhirServerNotAllowed("fhirServer address is not allowed")
    if settings.fhir_allowlist:
        origin = (scheme, host, port or (443 if scheme == "https" else 80))
        allowed = {_origin(a) for a in settings.fhir_allowlist}
        if origin not in allowed:
            raise FhirServerNotAllowed("fhirServer is not on the allow-list")
    elif not settings.dev_mode and ip is not None and (ip.is_private or ip.is_loopback):
        # Without an explicit allow-list, production refuses internal addresses outright.
        raise FhirServerNotAllowed("fhirServer is not on the allow-list")
    return url.rstrip("/")


class FhirFetcher:
    """Parallel, deadline-bounded FHIR reads for one process (thread-safe, fork-safe)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid: int | None = None
        self._lock = threading.Lock()
        self._local = threading.local()

    # A pool created before gunicorn forks would be dead in the worker: create lazily, per process.
    def _executor(self) -> ThreadPoolExecutor:
        import os

        with self._lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="fhir")
                self._pool_pid = os.getpid()
            return self._pool

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # no proxies or netrc credentials from the environment
            self._local.session = session
        return session

    def fetch_many(
        self, base_url: str, token: str | None, queries: dict[str, str], budget_s: float | None = None
    ) -> dict[str, FetchResult]:
        """Run ``queries`` ({key: "Type?params" or "Type/id"}) in parallel within the budget."""
        if not queries:
            return {}
        budget = self.settings.fhir_budget_s if budget_s is None else budget_s
        deadline = time.monotonic() + budget
        pool = self._executor()
        futures = {pool.submit(self._fetch_one, base_url, token, q, deadline): k for k, q in queries.items()}
        results: dict[str, FetchResult] = {}
        pending = set(futures)
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            done, pending = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
            for fut in done:
                key = futures[fut]
                try:
                    results[key] = fut.result()
                except Exception as exc:  # a bug must not turn into a 500 for the client
                    log.warning("FHIR fetch %s failed unexpectedly: %s", key, type(exc).__name__)
                    results[key] = FetchResult(error="unexpected error while fetching")
        for fut in pending:
            fut.cancel()
            results[futures[fut]] = FetchResult(error=f"no answer within the {budget:g} s budget")
        return results

    def _fetch_one(self, base_url: str, token: str | None, query: str, deadline: float) -> FetchResult:
        started = time.monotonic()
        result = FetchResult()
        url: str | None = urljoin(base_url + "/", query)
        origin = _origin(base_url)
        headers = {"Accept": FHIR_JSON}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        seen: set[str] = set()
        while url and result.pages < self.settings.fhir_max_pages:
            if url in seen:  # a server that links a page to itself would loop forever
                break
            seen.add(url)
            remaining = deadline - time.monotonic()
            if remaining <= 0.01:
                result.error = "time budget exhausted while paging"
                break
            timeout = min(self.settings.fhir_timeout_s, remaining)
            try:
                resp = self._session().get(url, headers=headers, timeout=(timeout, timeout), allow_redirects=False)
            except requests.Timeout:
                result.error = "timed out"
                break
            except requests.RequestException as exc:
                result.error = f"not reachable ({type(exc).__name__})"
                break
            result.pages += 1
            if resp.status_code != 200:
                result.error = f"HTTP {resp.status_code}"
                break
            try:
                body = resp.json()
            except ValueError:
                result.error = "answer was not JSON"
                break
            if not isinstance(body, dict):
                result.error = "answer was not a FHIR resource"
                break
            rtype = body.get("resourceType")
            if rtype == "OperationOutcome":
                result.error = "server answered with an OperationOutcome"
                break
            if rtype != "Bundle":
                result.resources.append(body)
                break
            result.resources.extend(bundle_resources(body))
            url = next_link(body)
            if url and _origin(url) != origin:
                result.error = "next link points off the FHIR server; not followed"
                break
        else:
            if url:
                result.error = f"more than {self.settings.fhir_max_pages} pages; rest not read"
        result.seconds = time.monotonic() - started
        return result


def bundle_resources(bundle: dict) -> list[dict]:
    """Resources of a Bundle's entries, skipping anything that is not a resource object."""
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return []
    out = []
    for entry in entries:
        if isinstance(entry, dict):
            res = entry.get("resource")
            if isinstance(res, dict) and isinstance(res.get("resourceType"), str):
                out.append(res)
    return out


def next_link(bundle: dict) -> str | None:
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return link["url"]
    return None
