"""Fetching from the EHR's FHIR server when prefetch did not bring the data (CDS Hooks 2.0 §prefetch).

Design, in order of importance:

- never hang: one hook call's fetches share a hard overall budget, a real deadline covering connect,
  headers and body: when it passes, the waiting side shuts the fetch's socket down, so a server
  dripping bytes (each ``recv`` in time, the answer never done) cannot keep a fetch, or its thread,
  past it; what is not back by the deadline counts as failed;
- fetch in parallel: independent queries go out at once (the slowest query, not the sum, sets latency);
- share fairly: at most ``fhir_max_per_server`` fetches run at once per server (origin), of a pool of
  ``FETCH_THREADS``, so one slow server cannot take the capacity calls to the others need; a fetch
  waiting for one of its server's slots waits at most the call's remaining budget;
- go nowhere else: only the hook's ``fhirServer`` (checked against the allow-list before any connection),
  every URL fetched — the first one too, which may be an EHR-supplied ``next`` link — only on that same
  server (scheme, host, port), no redirects followed;
- read boundedly: at most ``fhir_max_response_bytes`` per answer, at most ``fhir_max_pages`` pages, and
  the body is read piecewise against the deadline, so a server dripping bytes cannot hold a worker;
- never leak: the access token goes only into the Authorization header of those requests; it is
  never logged or put into an error message.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import socket
import threading
import time
from contextlib import nullcontext
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError as TransportError, TimeoutError as TransportTimeout

from cds_service.web.config import Settings
from cds_service.runtime.turns import EvaluationTurns

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
#: Fetch threads per process. Each server gets at most ``fhir_max_per_server`` of them (default half).
FETCH_THREADS = 32


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


# Addresses never fetched from, allow-listed or not: link-local (169.254/16 holds the cloud metadata
# services, fe80::/10), plus metadata addresses outside link-local ranges.
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack instance metadata
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "100.100.100.200",  # Alibaba Cloud metadata
        "168.63.129.16",  # Azure wire server
    )
)
_METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal"})
# The whole URL: printable ASCII without spaces, backslashes or quotes — characters on which URL parsers
# disagree (``https://allowed\@evil/`` means different hosts to different parsers).
_SAFE_URL = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")
_HOST = re.compile(r"^(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?)*\.?$")

_resolver_pool: ThreadPoolExecutor | None = None
_resolver_pid: int | None = None
_resolver_lock = threading.Lock()


def resolve_host(host: str, port: int, timeout_s: float) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address ``host`` resolves to, within ``timeout_s`` (getaddrinfo itself has no timeout,
    so it runs on a small helper pool). Raises OSError if the name cannot be resolved in time."""
    global _resolver_pool, _resolver_pid
    with _resolver_lock:
        if _resolver_pool is None or _resolver_pid != os.getpid():
            _resolver_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="resolve")
            _resolver_pid = os.getpid()
        pool = _resolver_pool
    future = pool.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=timeout_s)
    except TimeoutError:
        raise OSError("name resolution timed out") from None
    out = []
    for info in infos:
        try:
            out.append(ipaddress.ip_address(info[4][0].split("%")[0]))
        except ValueError:
            continue
    if not out:
        raise OSError("no addresses")
    return out


def _same_server(url: str, origin: tuple[str, str, int]) -> bool:
    """Whether ``url`` is on the checked FHIR server: same scheme, host and port, no credentials, and
    no backslash, whitespace or control character on which parsers could disagree about the host."""
    if any(c == "\\" or c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return False
    try:
        parts = urlsplit(url)
        if "@" in parts.netloc:
            return False
        return _origin(url) == origin
    except ValueError:
        return False


def _forbidden_address(ip) -> bool:
    """Never a FHIR server: link-local and metadata, multicast, unspecified (0.0.0.0 reaches the local
    host on Linux), reserved — also when hidden in an IPv4-mapped IPv6 address."""
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return (
        ip in _METADATA_ADDRESSES
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
    )


def check_fhir_server(
    url: str,
    settings: Settings,
    resolver: Callable[[str, int, float], list] | None = None,
) -> str:
    """The normalised base URL if we may fetch from it; else raise FhirServerNotAllowed.

    Refused before any connection is made:

    - anything but ``https`` (``http`` only when allowed, i.e. development), URLs with credentials,
      a query or fragment, or characters URL parsers disagree on;
    - in production (not development mode) any server not on ``TRAPPA_FHIR_ALLOWLIST`` (scheme, host,
      port) — with no allow-list configured, fetching is off altogether;
    - link-local, cloud metadata, multicast, unspecified and reserved addresses, allow-listed or not,
      including *host names resolving to them*: the name is resolved here and every address checked.

    TOCTOU: ``requests`` resolves the name again when it connects, so a DNS server that answers
    differently the second time (DNS rebinding) could still steer the connection. The allow-list is the
    real defence (its hosts are the operator's own FHIR servers); the resolution check stops the
    simple cases — a name pointing at 169.254.169.254 — without pinning connections to addresses.
    """
    if not isinstance(url, str) or len(url) > 2000 or not _SAFE_URL.match(url):
        raise FhirServerNotAllowed("fhirServer is not a valid URL")
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
    if not parts.hostname or parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise FhirServerNotAllowed("fhirServer must name a host and carry no credentials")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise FhirServerNotAllowed("fhirServer must be a base URL without query or fragment")
    host = parts.hostname.lower()
    port = port or (443 if scheme == "https" else 80)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
        if not _HOST.match(host):
            raise FhirServerNotAllowed("fhirServer host name is not valid") from None
    if (ip is not None and _forbidden_address(ip)) or host.rstrip(".") in _METADATA_NAMES:
        raise FhirServerNotAllowed("fhirServer address is not allowed")
    if settings.fhir_allowlist:
        allowed = {_origin(a) for a in settings.fhir_allowlist}
        if (scheme, host, port) not in allowed:
            raise FhirServerNotAllowed("fhirServer is not on the allow-list")
    elif not settings.dev_mode:
        raise FhirServerNotAllowed("fhirServer is not on the allow-list (none is configured)")
    if ip is None:
        try:
            addresses = (resolver or resolve_host)(host, port, settings.fhir_timeout_s)
        except OSError:
            raise FhirServerNotAllowed("fhirServer host name could not be resolved") from None
        if any(_forbidden_address(a) for a in addresses):
            raise FhirServerNotAllowed("fhirServer address is not allowed")
    return url.rstrip("/")


class _Watch:
    """One fetch's deadline, enforced from outside: the sockets the fetch uses are registered here (by
    the watched connections below, in the fetch's thread), and :meth:`cut` shuts them down — which wakes
    a ``recv`` blocked in the fetch's thread at once, whatever its timeout. The watch keeps a duplicate
    descriptor of each socket: a shutdown acts on the socket, not the descriptor, so it reaches the
    connection also after the socket object was wrapped for TLS (which detaches the original), and the
    watch never touches a descriptor number the connection has closed and the system handed out again.
    A socket registered after the cut is shut down at once; :meth:`finish` (the fetch is over, its
    kept-alive connection may serve the next fetch) closes the duplicates, and the watch is done."""

    __slots__ = ("_lock", "_sockets", "cut_off", "_finished")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.cut_off = False
        self._finished = False

    def add(self, sock: socket.socket) -> None:
        try:
            dup = socket.fromfd(sock.fileno(), sock.family, sock.type)
        except (OSError, ValueError):
            return  # closed already
        with self._lock:
            if self._finished:
                dup.close()
                return
            self._sockets.append(dup)
            if self.cut_off:
                _shut(dup)

    def cut(self) -> None:
        with self._lock:
            if self._finished or self.cut_off:
                return
            self.cut_off = True
            for sock in self._sockets:
                _shut(sock)

    def finish(self) -> None:
        with self._lock:
            self._finished = True
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # the reader's recv returns at once; the connection is dropped
    except OSError:
        pass  # not connected any more


_current = threading.local()  # .watch: the _Watch of the fetch running in this thread


def _cut_off() -> bool:
    """Whether the fetch running in this thread was cut off at its deadline."""
    watch = getattr(_current, "watch", None)
    return watch is not None and watch.cut_off


def _watch_socket(sock) -> None:
    watch = getattr(_current, "watch", None)
    if watch is not None and isinstance(sock, socket.socket):
        watch.add(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self):
        sock = super()._new_conn()
        _watch_socket(sock)
        return sock


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self):
        sock = super()._new_conn()  # registered before the TLS handshake: the deadline covers it too
        _watch_socket(sock)
        return sock


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection

    def _get_conn(self, timeout=None):
        conn = super()._get_conn(timeout)
        _watch_socket(getattr(conn, "sock", None))  # a kept-alive connection: its socket is this fetch's now
        return conn


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection

    def _get_conn(self, timeout=None):
        conn = super()._get_conn(timeout)
        _watch_socket(getattr(conn, "sock", None))
        return conn


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter whose connections register their sockets with the running fetch's watch."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _Slots:
    """A server's fetch slots: at most ``size`` held at once; ``acquire`` waits at most ``timeout_s``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.held = 0
        self._cond = threading.Condition()

    def acquire(self, timeout_s: float) -> bool:
        end = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            while self.held >= self.size:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            self.held += 1
            return True

    def release(self) -> None:
        with self._cond:
            self.held -= 1
            self._cond.notify()


class FhirFetcher:
    """Parallel, deadline-bounded FHIR reads for one process (thread-safe, fork-safe)."""

    def __init__(self, settings: Settings, turns: EvaluationTurns | None = None):
        self.settings = settings
        self.turns = turns  # given up while waiting for answers (cds_service.runtime.turns)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid: int | None = None
        self._slots: dict[tuple[str, str, int], _Slots] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    # A pool created before gunicorn forks would be dead in the worker: create lazily, per process.
    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(max_workers=FETCH_THREADS, thread_name_prefix="fhir")
                self._pool_pid = os.getpid()
                self._slots = {}
            return self._pool

    def _server_slots(self, origin: tuple[str, str, int]) -> _Slots:
        with self._lock:
            slots = self._slots.get(origin)
            if slots is None:
                if len(self._slots) >= 256:  # development mode takes any server: forget the idle ones
                    self._slots = {k: v for k, v in self._slots.items() if v.held}
                size = max(1, min(FETCH_THREADS, self.settings.fhir_max_per_server))
                slots = self._slots[origin] = _Slots(size)
            return slots

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # no proxies or netrc credentials from the environment
            if self.settings.ca_bundle:
                session.verify = self.settings.ca_bundle  # a region's private CA (TRAPPA_CA_BUNDLE)
            adapter = _WatchedAdapter()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session

    def waiting(self):
        """Context for waiting on the network (answers, name resolution): the evaluation turn is given up."""
        return self.turns.waiting() if self.turns is not None else nullcontext()

    def fetch_many(
        self, base_url: str, token: str | None, queries: dict[str, str], budget_s: float | None = None
    ) -> dict[str, FetchResult]:
        """Run ``queries`` ({key: "Type?params" or "Type/id"}) in parallel within ``budget_s`` (default:
        the whole ``fhir_budget_s``; a hook call passes what is left of its own)."""
        if not queries:
            return {}
        budget = self.settings.fhir_budget_s if budget_s is None else budget_s
        deadline = time.monotonic() + budget
        pool = self._executor()
        slots = self._server_slots(_origin(base_url))
        futures: dict = {}  # future → key
        watches: dict = {}  # future → its fetch's _Watch
        unsent: list[str] = []  # no slot on the server before the deadline
        done_all: set = set()
        try:
            with self.waiting():
                for key, query in queries.items():
                    # A slot first, then a thread: fetches waiting for a busy server hold no thread.
                    if not slots.acquire(deadline - time.monotonic()):
                        unsent.append(key)
                        continue
                    watch = _Watch()
                    try:
                        fut = pool.submit(self._fetch_watched, watch, base_url, token, query, deadline)
                    except BaseException:
                        slots.release()
                        raise
                    fut.add_done_callback(lambda _f: slots.release())  # also when cancelled unstarted
                    futures[fut] = key
                    watches[fut] = watch
                done_all = self._wait(futures, deadline)
        finally:
            # Past the deadline: what has not started never will, what runs is cut off (its thread is
            # free as soon as its socket is shut down, and nothing it returns is used).
            for fut in set(futures) - done_all:
                if not fut.cancel():
                    watches[fut].cut()
        # Named by the configured budget: what was left of it is no number anyone set.
        too_late = f"no answer within the {self.settings.fhir_budget_s:g} s budget"
        results: dict[str, FetchResult] = {}
        for key in unsent:
            results[key] = FetchResult(error=f"{too_late} (all the server's concurrent fetches were busy)")
        for fut in done_all:
            key = futures[fut]
            try:
                results[key] = fut.result()
            except Exception as exc:  # a bug must not turn into a 500 for the client
                log.warning("FHIR fetch %s failed unexpectedly: %s", key, type(exc).__name__)
                results[key] = FetchResult(error="unexpected error while fetching")
        for fut in set(futures) - done_all:
            results[futures[fut]] = FetchResult(error=too_late)
        return results

    @staticmethod
    def _wait(futures, deadline: float) -> set:
        """The futures done by ``deadline``."""
        done_all: set = set()
        pending = set(futures)
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            done, pending = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
            done_all |= done
        return done_all

    def _fetch_watched(
        self, watch: _Watch, base_url: str, token: str | None, query: str, deadline: float
    ) -> FetchResult:
        _current.watch = watch
        try:
            result = self._fetch_one(base_url, token, query, deadline)
        finally:
            _current.watch = None
            watch.finish()
        if watch.cut_off and result.ok:  # cut at the very end: the caller counts it as too late anyway
            result.error = "timed out"
        return result

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
            if not _same_server(url, origin):
                # The first URL may be an EHR-supplied next link; later ones come from the server.
                # Either way the token goes only to the fhirServer that was checked.
                result.error = "link points off the FHIR server; not followed"
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0.01:
                result.error = "time budget exhausted while paging"
                break
            timeout = min(self.settings.fhir_timeout_s, remaining)
            try:
                with self._session().get(
                    url, headers=headers, timeout=(timeout, timeout), allow_redirects=False, stream=True
                ) as resp:
                    result.pages += 1
                    if resp.status_code != 200:
                        result.error = f"HTTP {resp.status_code}"
                        break
                    raw, why = self._read_body(resp, deadline)
            except (requests.Timeout, TransportTimeout):
                result.error = "timed out"
                break
            except (requests.RequestException, TransportError) as exc:
                # A connection shut down at the deadline looks like a server that hung up (before the
                # headers) or broke off its answer (while the body is read, outside requests' wrapping).
                result.error = "timed out" if _cut_off() else f"not reachable ({type(exc).__name__})"
                break
            if raw is None:
                result.error = why
                break
            try:
                body = json.loads(raw)
            except RecursionError:
                result.error = "answer nested too deeply"
                break
            except ValueError:  # also UnicodeDecodeError
                result.error = "answer was not JSON"
                break
            if not isinstance(body, dict):
                result.error = "answer was not a FHIR resource"
                break
            rtype = body.get("resourceType")
            if rtype == "OperationOutcome":
                result.error = "server answered with an OperationOutcome"
                break
            if not isinstance(rtype, str):
                result.error = "answer was not a FHIR resource"
                break
            if rtype != "Bundle":
                result.resources.append(body)
                url = None
                break
            result.resources.extend(bundle_resources(body))
            url = next_link(body)
        else:
            if url:
                result.error = f"more than {self.settings.fhir_max_pages} pages; rest not read"
        result.seconds = time.monotonic() - started
        return result

    def _read_body(self, resp: requests.Response, deadline: float) -> tuple[bytes | None, str]:
        """The body, read piecewise (``read1`` returns whatever has arrived) so that neither a huge
        answer nor one dripping a byte at a time outlives the size cap or the deadline."""
        limit = self.settings.fhir_max_response_bytes
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            return None, f"answer larger than {limit} bytes"
        body = bytearray()
        raw = resp.raw
        while True:
            if time.monotonic() > deadline:
                return None, "timed out while reading the answer"
            chunk = raw.read1(64 * 1024, decode_content=True)
            if _cut_off():  # an end of the body only because it was cut off
                return None, "timed out while reading the answer"
            if not chunk:
                return bytes(body), ""
            body += chunk
            if len(body) > limit:
                return None, f"answer larger than {limit} bytes"


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
