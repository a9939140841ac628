"""Prometheus metrics, counted in every gunicorn worker and served by the master on a port of its own.

What is counted (names and labels: README, "Production"):

- ``trappa_hook_calls_total{service, status}`` and ``trappa_hook_call_duration_seconds{service}``;
- ``trappa_feedback_calls_total{service, status}``;
- ``trappa_cards_total{topic}`` — cards issued, by ``source.topic`` code;
- ``trappa_auth_refusals_total{reason}`` — refused tokens, by a few fixed words (``auth.REFUSAL_CODES``);
- ``trappa_info{…}`` and ``trappa_trusted_issuers{iss}`` — the authentication state, development mode
  and the issuers, which ``/health`` no longer tells anyone who asks.

No label comes from a request as it is: a service id is one of the service's own or ``unknown``, a
status a number, a topic one of the rules', a reason one of ``REFUSAL_CODES``.

**Across workers** (prometheus-client's multi-process mode): each worker writes its values to memory
mapped files in ``PROMETHEUS_MULTIPROC_DIR``, which the serve command makes — a new temporary directory
per start, removed at exit — before any worker starts. The master serves their sum (also of workers
that have exited: counters never go back). A worker's cost per call is a few increments of mapped
memory (README: instructions measured).

**Protection:** the endpoint is on its own port, ``TRAPPA_METRICS_HOST:TRAPPA_METRICS_PORT``, by default
127.0.0.1:9464 — reachable from the machine itself (a Prometheus agent or sidecar), not from the network
the EHR uses, and never on the service's port. Binding it elsewhere is logged as a WARNING: it has no
authentication of its own, so only a network that only the scraper reaches may see it. A port that
cannot be bound is an ERROR in the log, and the service serves on without metrics (a clinical service
should not stop for its counters). ``TRAPPA_METRICS_PORT=off`` turns metrics off (nothing counted).
"""
from __future__ import annotations

import atexit
import ipaddress
import logging
import os
import shutil
import tempfile

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The counters of one worker. ``Metrics(None)`` (metrics off, or no multi-process directory: an
    in-process app, ``serve --flask``) counts nothing and costs a method call."""

    def __init__(self, services: tuple[str, ...] | None):
        self.enabled = services is not None and bool(os.environ.get(MULTIPROC_ENV))
        if not self.enabled:
            return
        from prometheus_client import Counter, Gauge, Histogram

        self._services = frozenset(services)
        # registry=None: in multi-process mode the values live in the files; the master's collector
        # reads them. (Registering here would also fail for a second app in one process.)
        self._calls = Counter("trappa_hook_calls", "Hook calls answered, by service and HTTP status",
                              ("service", "status"), registry=None)
        self._duration = Histogram("trappa_hook_call_duration_seconds", "Time to answer a hook call",
                                   ("service",), buckets=DURATION_BUCKETS, registry=None)
        self._feedback = Counter("trappa_feedback_calls", "Feedback calls answered, by service and HTTP status",
                                 ("service", "status"), registry=None)
        self._cards = Counter("trappa_cards", "Cards issued, by topic (source.topic code)", ("topic",), registry=None)
        self._refusals = Counter("trappa_auth_refusals", "EHR tokens refused, by reason", ("reason",), registry=None)
        self._audit_failures = Counter("trappa_audit_journal_failures",
                                       "Calls answered 503 because their audit record could not be journalled",
                                       registry=None)
        self._audit_pending = Gauge("trappa_audit_pending", "Audit records in the journal, not yet in the database",
                                    registry=None, multiprocess_mode="livesum")
        self._children: dict = {}  # (metric, labels) -> child: .labels() costs more than the increment

    def _child(self, metric, *labels):
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _service(self, service_id) -> str:
        return service_id if service_id in self._services else "unknown"

    def hook_call(self, service_id, status: int, seconds: float) -> None:
        if self.enabled:
            service = self._service(service_id)
            self._child(self._calls, service, str(status)).inc()
            self._child(self._duration, service).observe(seconds)

    def feedback_call(self, service_id, status: int) -> None:
        if self.enabled:
            self._child(self._feedback, self._service(service_id), str(status)).inc()

    def cards(self, cards: list) -> None:
        if self.enabled:
            for card in cards:
                topic = ((card.get("source") or {}).get("topic") or {}).get("code")
                self._child(self._cards, topic if isinstance(topic, str) else "unknown").inc()

    def refused(self, reason: str) -> None:
        if self.enabled:
            self._child(self._refusals, reason).inc()

    def audit_failed(self) -> None:
        if self.enabled:
            self._audit_failures.inc()

    def audit_pending(self, records: int) -> None:
        """Set by the journal's shipper (audit.py) after each round: the depth of the database's backlog."""
        if self.enabled:
            self._audit_pending.set(records)


# ---------------------------------------------------------------------------------------------------
# The serve command's part: the directory, the endpoint, a worker's exit


def prepare_directory() -> str:
    """A fresh multi-process directory for this start, in ``PROMETHEUS_MULTIPROC_DIR`` (set before
    prometheus-client is imported anywhere), removed when this process — gunicorn's master — exits."""
    path = tempfile.mkdtemp(prefix="trappa-metrics-")
    os.environ[MULTIPROC_ENV] = path
    owner = os.getpid()

    @atexit.register
    def _remove() -> None:  # forked workers inherit the hook: only the master removes the directory
        if os.getpid() == owner:
            shutil.rmtree(path, ignore_errors=True)

    return path


class _InfoCollector:
    """What /health used to tell anyone: the authentication state, development mode, the issuers."""

    def __init__(self, info: dict[str, str], issuers: list[str]):
        self._info, self._issuers = info, issuers

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

        yield InfoMetricFamily("trappa", "How this service is configured", value=self._info)
        issuers = GaugeMetricFamily("trappa_trusted_issuers", "Trusted JWT issuers (1 each)", labels=("iss",))
        for iss in self._issuers:
            issuers.add_metric((iss,), 1)
        yield issuers


def start_endpoint(host: str, port: int, settings, logger: logging.Logger = log) -> bool:
    """Serve the workers' summed metrics on ``host:port`` from a thread of this process (the master;
    ``logger`` is gunicorn's there). False, with an ERROR in the log, when the port cannot be bound."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    from cds_service.web.auth import AuthConfigError, parse_trusted_issuers

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    try:
        issuers = sorted(parse_trusted_issuers(settings.trusted_issuers)) if settings.auth_required else []
    except AuthConfigError:
        issuers = []  # the workers refuse to start and say why
    if settings.auth_required:
        authentication = "required"
    else:
        authentication = "disabled (development mode)" if settings.dev_mode else "disabled (TRAPPA_AUTH_REQUIRED is off)"
    registry.register(_InfoCollector(
        {"authentication": authentication, "dev_mode": str(settings.dev_mode).lower(), "log_format": settings.log_format},
        issuers))
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        logger.error("metrics endpoint not started: cannot listen on %s:%d (%s); serving without it", host, port,
                  type(exc).__name__)
        return False
    if not _is_loopback(host):
        logger.warning("metrics endpoint on %s:%d, beyond this machine and without authentication: only the "
                    "scraper's network may reach it", host, port)
    else:
        logger.info("metrics endpoint on http://%s:%d/metrics (workers' files in %s)", host, port,
                    os.environ.get(MULTIPROC_ENV))
    return True


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def worker_exit(server, worker) -> None:
    """gunicorn's ``child_exit``: the bookkeeping of a worker that is gone (its live gauges)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)

