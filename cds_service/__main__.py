"""Command line: ``python -m cds_service serve``, ``python -m cds_service evaluate REQUEST.json`` and
``python -m cds_service report`` (the card report over the audit trail and feedback) and
``python -m cds_service audit-purge`` (audit rows past their retention)."""
from __future__ import annotations

import argparse
import json
import os
import sys


def _serve(args) -> int:
    if args.dev:
        os.environ["TRAPPA_DEV_MODE"] = "1"
    if args.flask:
        from cds_service.web.app import create_app

        create_app().run(host=args.host, port=args.port, threaded=True)  # no metrics: one process
        return 0

    from cds_service.web.config import Settings

    # Read (and checked: ConfigurationError, see main) in the master, before any worker starts.
    settings = Settings.from_env()
    if settings.metrics_port:
        # The workers' shared metrics directory, before prometheus-client is imported (metrics.py).
        from cds_service.web.metrics import prepare_directory

        prepare_directory()
    from cds_service.web.app import create_app
    from cds_service.web.storage import StorageUnavailable, Store

    # Create the tables once in the master, before the workers start and race to do it. A database
    # that cannot be reached now stops the start-up, with its error's type (not the URL: it may hold a
    # password); once started, the service answers 503 while it is down.
    try:
        store = Store(settings.database_url, journal_dir=settings.audit_journal_dir or None)
        # Audit records journalled by a run that ended abruptly go to the database now (audit.py).
        store.journal.reconcile()
        store.engine.dispose()
    except StorageUnavailable as exc:
        print(f"error: the database (TRAPPA_DATABASE_URL) cannot be reached at start-up: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the journal could not be shipped: the workers' shippers will retry
        print(f"warning: audit journal not reconciled at start-up ({type(exc).__name__}); the workers retry",
              file=sys.stderr)
    run_gunicorn(create_app, args.host, args.port, args.workers, args.threads, log_format=settings.log_format,
                 metrics_settings=settings if settings.metrics_port else None)
    return 0


def run_gunicorn(app_factory, host: str, port: int, workers: int, threads: int, log_format: str = "text",
                 metrics_settings=None) -> None:
    """Serve ``app_factory()`` under gunicorn with the production settings. The benchmark's floor app
    runs through this too, so both are measured under exactly the same server. With
    ``metrics_settings`` the master serves the workers' metrics on their port (metrics.py)."""
    from gunicorn.app.base import BaseApplication

    from cds_service.web.http_server import (
        LIMIT_REQUEST_FIELD_SIZE,
        LIMIT_REQUEST_FIELDS,
        LIMIT_REQUEST_LINE,
        TrappaWorker,
    )
    from cds_service.web.logs import gunicorn_logconfig

    class Gunicorn(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            # gthread, answering gunicorn's own refusals with an OperationOutcome (http_server.py)
            self.cfg.set("worker_class", TrappaWorker)
            # A header field may hold the longest JWT the authenticator takes (gunicorn's default, 8190
            # bytes, cut tokens off at about 8 KB with an HTML 431 page).
            self.cfg.set("limit_request_field_size", LIMIT_REQUEST_FIELD_SIZE)
            self.cfg.set("limit_request_line", LIMIT_REQUEST_LINE)
            self.cfg.set("limit_request_fields", LIMIT_REQUEST_FIELDS)
            self.cfg.set("threads", threads)
            self.cfg.set("timeout", 30)
            self.cfg.set("graceful_timeout", 5)
            # Longer than an EHR's connection reuse: with gunicorn's 2 s a busy worker could close a
            # connection the client had already sent its next request on (resets seen in the benchmark).
            self.cfg.set("keepalive", 75)
            # ... but no connection lives longer than http_server.CONNECTION_MAX_AGE_S, so a restarted
            # worker gets its share within seconds. Each worker is also replaced after about 100 000
            # calls (jittered, so not both at once): whatever a long life accumulates is returned.
            self.cfg.set("max_requests", 100_000)
            self.cfg.set("max_requests_jitter", 10_000)
            self.cfg.set("accesslog", None)  # no access log: request lines are noise next to the audit trail
            self.cfg.set("loglevel", "info")
            logconfig = gunicorn_logconfig(log_format)  # JSON lines for gunicorn's own loggers too
            if logconfig:
                self.cfg.set("logconfig_dict", logconfig)
            self.cfg.set("post_worker_init", _tune_worker)
            if metrics_settings is not None:
                from cds_service.web import metrics

                self.cfg.set("when_ready", lambda server: metrics.start_endpoint(
                    metrics_settings.metrics_host, metrics_settings.metrics_port, metrics_settings, server.log))
                self.cfg.set("child_exit", metrics.worker_exit)

        def load(self):
            return app_factory()

    Gunicorn().run()


#: Allocations between two young-generation collections (CPython's default: 700). A hook call builds
#: tens of thousands of short-lived objects (most of them freed by reference counting when it ends);
#: at 700 the collector ran through them every few hundred, for nothing.
GC_THRESHOLD = (50_000, 20, 20)


def _tune_worker(worker) -> None:
    """Each worker, once the app is loaded: the garbage collector's settings, then the allocator's."""
    _tune_garbage_collection(worker)
    _tune_allocator()


#: Allocations of at least this many bytes get a memory map of their own, returned when freed.
MMAP_THRESHOLD = 256 * 1024
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def _tune_allocator() -> bool:
    """Large buffers — request bodies of hundreds of KiB, the decoding of a large record — always in
    memory maps of their own (glibc's ``M_MMAP_THRESHOLD``). By default glibc raises that threshold to the
    size of each such buffer freed: after the first 1 MiB request body every later one went onto the
    heap, which grew in steps of megabytes and shrank only when its top happened to be free, so a
    worker's RSS jumped by ±2 MiB with nothing growing behind it. With the threshold fixed, RSS follows
    what is in use (benchmark memory step: flat, and 6 MiB lower). True when set; on a C library without
    ``mallopt`` nothing changes."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    except (OSError, AttributeError):
        return False


def _tune_garbage_collection(worker) -> None:
    """In each worker, once the app is loaded: the objects that live as long as the process (modules,
    schemas, tables, the Flask app) are moved out of the collector's sight (``gc.freeze``), so a full
    collection walks only what requests built; and young collections run less often (GC_THRESHOLD).
    Cycles are still collected: the calls collect theirs at the end of their turns (``cycles.py``), since
    at this threshold alone they piled up to 4–6 MiB between collections. In the benchmark: shorter tails."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def _evaluate(args) -> int:
    from cds_service.web.config import Settings
    from cds_service.protocol.errors import RequestProblem
    from cds_service.protocol.evaluate import evaluate_request
    from cds_service.protocol.fhir_client import FhirFetcher
    from cds_service.protocol.services import SERVICES

    try:
        with open(args.request, encoding="utf-8") as fh:
            body = json.load(fh)
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {args.request}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    if args.today:
        settings = settings.with_(today=args.today)
    if not args.no_clock_override:
        settings = settings.with_(allow_clock_override=True)  # a local file is trusted input
    hook = body.get("hook") if isinstance(body, dict) else None
    service = SERVICES.get(args.service) if args.service else next(
        (s for s in SERVICES.values() if s.hook == hook), None
    )
    if service is None:
        print(f"error: no service for hook {hook!r} (use --service)", file=sys.stderr)
        return 2
    try:
        result = evaluate_request(service, body, settings, FhirFetcher(settings), args.lang)
    except RequestProblem as problem:
        print(f"error: HTTP {problem.status} {problem.code}: {problem.message}", file=sys.stderr)
        return 2
    json.dump(result.response, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


def _iso_date(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def _report(args) -> int:
    from cds_service.web.config import Settings
    from cds_service.web.report import RENDERERS, ReportError, build_report

    if args.period_from and args.period_to and args.period_from > args.period_to:
        print("error: --from is after --to", file=sys.stderr)
        return 2
    # Only the database is read: the clinical settings play no part here.
    url = os.environ.get("TRAPPA_DATABASE_URL") or Settings.database_url
    try:
        report = build_report(url, args.period_from, args.period_to)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(RENDERERS[args.format](report))
    return 0


def _audit_purge(args) -> int:
    from cds_service.web.config import Settings
    from cds_service.web.storage import StorageUnavailable, Store

    settings = Settings.from_env()
    days = args.older_than if args.older_than is not None else settings.audit_retention_days
    if days < 1:
        print("error: --older-than must be at least 1 day", file=sys.stderr)
        return 2
    try:
        deleted = Store(settings.database_url, journal_dir=settings.audit_journal_dir or None).purge_audit(days)
    except StorageUnavailable as exc:
        print(f"error: the database (TRAPPA_DATABASE_URL) cannot be reached: {exc}", file=sys.stderr)
        return 2
    print(f"deleted {deleted} audit rows older than {days} days")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cds_service", description="Trappa CDS Hooks service")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP service (gunicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=int(os.environ.get("TRAPPA_WORKERS", os.cpu_count() or 2)))
    serve.add_argument("--threads", type=int, default=int(os.environ.get("TRAPPA_THREADS", 4)))
    serve.add_argument("--dev", action="store_true", help="development mode: authentication OFF, loudly")
    serve.add_argument("--flask", action="store_true", help="Flask's development server instead of gunicorn")
    serve.set_defaults(func=_serve)
    ev = sub.add_parser("evaluate", help="evaluate one hook request file, print the CDS Hooks response")
    ev.add_argument("request")
    ev.add_argument("--service", help="service id (default: by the request's hook)")
    ev.add_argument("--lang", default="sv", choices=("sv", "en"))
    ev.add_argument("--today", help="evaluate as of this ISO date")
    ev.add_argument("--no-clock-override", action="store_true", help="ignore extension.trappa.today")
    ev.set_defaults(func=_evaluate)
    rep = sub.add_parser("report", help="cards shown, accepted, overridden and ignored per topic and service "
                                         "(audit trail and feedback in TRAPPA_DATABASE_URL)")
    rep.add_argument("--from", dest="period_from", type=_iso_date, help="first day (UTC) of cards shown, ISO date")
    rep.add_argument("--to", dest="period_to", type=_iso_date, help="last day (UTC) of cards shown, ISO date")
    rep.add_argument("--format", choices=("table", "csv", "json"), default="table")
    rep.set_defaults(func=_report)
    purge = sub.add_parser("audit-purge", help="delete audit rows older than the retention "
                                               "(TRAPPA_AUDIT_RETENTION_DAYS, default 3650 days)")
    purge.add_argument("--older-than", type=int, metavar="DAYS", help="instead of TRAPPA_AUDIT_RETENTION_DAYS")
    purge.set_defaults(func=_audit_purge)
    args = parser.parse_args(argv)
    from cds_service.domain.settings import ConfigurationError

    try:
        return args.func(args)
    except ConfigurationError as exc:  # an invalid setting: its name and range, not a traceback
        print(f"error: configuration: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
