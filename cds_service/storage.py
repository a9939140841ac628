"""Durable storage: card feedback, the audit trail of issued cards, and seen JWT ids.

SQLAlchemy Core over any URL: an embedded SQLite file by default (nothing to install), PostgreSQL by
setting ``TRAPPA_DATABASE_URL=postgresql+psycopg://…``. What is stored is deliberately thin: no tokens,
no free-text clinical detail (CDS Hooks security best practice; the brief's logging rule).
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import threading
import time
import weakref
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

log = logging.getLogger(__name__)
metadata = MetaData()

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False),
    Column("service", String(100), nullable=False),
    Column("hook_instance", String(200), nullable=False),
    Column("status", Integer, nullable=False),
    Column("cards", Text, nullable=False),  # JSON list of {uuid, topic}
    Column("millis", Float, nullable=False),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", String(40), nullable=False),
    Column("service", String(100), nullable=False),
    Column("card_uuid", String(200), nullable=False, index=True),
    Column("outcome", String(20), nullable=False),
    Column("accepted_suggestions", Text, nullable=False),  # JSON list of suggestion uuids
    Column("override_system", String(500)),
    Column("override_code", String(200)),
    Column("outcome_timestamp", String(64), nullable=False),
    # userComment is free text a clinician typed: it may hold clinical detail, so it is not stored.
    Column("has_user_comment", Integer, nullable=False, default=0),
)

seen_jti = Table(
    "seen_jti",
    metadata,
    Column("key", String(600), primary_key=True),  # issuer + jti
    Column("expires", Float, nullable=False, index=True),
)


class StorageUnavailable(Exception):
    """The database could not do what was asked (unreachable, locked, read-only, full, a failed
    constraint of its own …): nothing of the call was stored. Answered 503, never 500. The message is
    the driver's exception type only: SQLAlchemy's own text holds the statement and its parameters."""


class JtiReplayed(Exception):
    """The ``jti`` handed to :meth:`Store.record_feedback` was already spent: a replayed token."""


def _unavailable(exc: Exception) -> StorageUnavailable:
    return StorageUnavailable(type(getattr(exc, "orig", None) or exc).__name__)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True, future=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            # WAL lets several gunicorn workers write; NORMAL sync keeps an insert well under a ms.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=5000")
            # The service appends rows and reads a few back: a 512 KiB page cache per connection is
            # plenty (SQLite's default, 2 MiB, only fills a worker's memory as the audit table grows).
            cur.execute("PRAGMA cache_size=-512")
            cur.close()

    return engine


class Store:
    def __init__(self, url: str, create_tables: bool = True):
        try:
            self.engine = make_engine(url)
        except OSError as exc:  # the SQLite file's directory cannot be made
            raise StorageUnavailable(type(exc).__name__) from None
        if create_tables:
            self._create_tables()
        self.audit_writer = AuditWriter(self.write_audit_rows)

    def _create_tables(self, attempts: int = 5) -> None:
        """Create missing tables. Several workers or replicas may start at once on a fresh database:
        the loser of that race sees "table already exists" and simply checks again. StorageUnavailable
        when the database cannot be reached (or keeps failing)."""
        for attempt in range(attempts):
            try:
                metadata.create_all(self.engine)
                return
            except (OperationalError, ProgrammingError, IntegrityError) as exc:
                if attempt == attempts - 1:
                    raise _unavailable(exc) from None
                time.sleep(0.05 * (attempt + 1))
            except SQLAlchemyError as exc:
                raise _unavailable(exc) from None

    def record_audit(self, *, service: str, hook_instance: str, status: int, cards: list[dict], millis: float) -> None:
        """Queue one audit row; a background writer stores it within about 50 ms (see AuditWriter)."""
        summary = [
            {"uuid": c.get("uuid"), "topic": ((c.get("source") or {}).get("topic") or {}).get("code")} for c in cards
        ]
        self.audit_writer.submit(dict(
            at=_now(),
            service=service,
            hook_instance=hook_instance[:200],
            status=status,
            cards=json.dumps(summary),
            millis=round(millis, 3),
        ))

    def write_audit_rows(self, rows: list[dict]) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(audit), rows)

    def record_feedback(self, service: str, items: list[dict], jti: tuple[str, float] | None = None) -> int:
        """Store the feedback items; the number of items, all stored once (a retried item — same card,
        outcome and outcomeTimestamp — is not stored twice). ``jti`` (the token's ``iss|jti`` key and
        when it expires) is remembered in the same transaction: the token is spent exactly when its
        feedback is stored, so after a failure (StorageUnavailable, answered 503) the EHR can retry,
        with a fresh token or the same one. JtiReplayed when the jti was already spent."""
        rows = {}
        for item in items:
            reason = (item.get("overrideReason") or {}).get("reason") or {}
            row = dict(
                received_at=_now(),
                service=service,
                card_uuid=item["card"],
                outcome=item["outcome"],
                accepted_suggestions=json.dumps([s.get("id") for s in item.get("acceptedSuggestions") or []]),
                override_system=reason.get("system"),
                override_code=reason.get("code"),
                outcome_timestamp=item["outcomeTimestamp"],
                has_user_comment=1 if (item.get("overrideReason") or {}).get("userComment") else 0,
            )
            rows.setdefault((row["card_uuid"], row["outcome"], row["outcome_timestamp"]), row)
        try:
            with self.engine.begin() as conn:
                if jti is not None:
                    self._insert_jti(conn, *jti)
                known = {
                    tuple(r) for r in conn.execute(
                        select(feedback.c.card_uuid, feedback.c.outcome, feedback.c.outcome_timestamp)
                        .where(feedback.c.service == service)
                        .where(feedback.c.card_uuid.in_(sorted({k[0] for k in rows})))
                    )
                }
                new = [row for key, row in rows.items() if key not in known]
                if new:
                    conn.execute(insert(feedback), new)
        except _JtiTaken:
            if self._jti_known(jti[0]):
                raise JtiReplayed() from None
            raise StorageUnavailable("IntegrityError") from None
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from None
        return len(items)

    def feedback_for(self, card_uuid: str) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(feedback).where(feedback.c.card_uuid == card_uuid))]

    def audit_for(self, hook_instance: str) -> list[dict]:
        self.audit_writer.flush()
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(audit).where(audit.c.hook_instance == hook_instance))]

    def remember_jti(self, key: str, expires: float) -> bool:
        """True the first time ``key`` is seen (until ``expires``); False on a replay. Shared by all
        workers and replicas through the database's primary key. StorageUnavailable when the database
        cannot say — also for an integrity error that is not this key already being there (a trigger,
        a constraint of the DBA's): only a key that is really stored is a replay."""
        try:
            with self.engine.begin() as conn:
                self._insert_jti(conn, key, expires)
            return True
        except _JtiTaken:
            if self._jti_known(key):
                return False
            raise StorageUnavailable("IntegrityError") from None
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from None

    def jti_seen(self, key: str) -> bool:
        """Whether ``key`` is remembered (and not expired), without spending it. StorageUnavailable
        when the database cannot say."""
        try:
            return self._jti_known(key)
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from None

    def _jti_known(self, key: str) -> bool:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(seen_jti.c.key).where(seen_jti.c.key == key[:600]).where(seen_jti.c.expires >= time.time())
            ).first()
        return found is not None

    @staticmethod
    def _insert_jti(conn, key: str, expires: float) -> None:
        """Forget the expired keys, then remember ``key`` — _JtiTaken when the insert breaks a
        constraint (the caller checks whether that was the key itself)."""
        conn.execute(seen_jti.delete().where(seen_jti.c.expires < time.time()))
        try:
            conn.execute(insert(seen_jti).values(key=key[:600], expires=expires))
        except IntegrityError:
            raise _JtiTaken() from None

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except Exception:
            return False


class _JtiTaken(Exception):
    pass


class AuditWriter:
    """Audit rows written behind the response, in batches, by one background thread per process.

    Why: the audit row is bookkeeping, the card is what the physician waits for. Written in the request,
    every call paid a transaction — 0.2 ms of CPU on SQLite, a network round trip and a commit on
    PostgreSQL — and now and then a WAL checkpoint's disk flush, right in the EHR's 500 ms budget. Here
    the request only queues the row; the writer stores the rows of up to ``linger`` seconds (50 ms) in
    one transaction. Bounded: past ``max_pending`` rows (the database is down or far too
    slow) new rows are dropped and counted in the log, never blocking a hook call — as before, when a
    failed write was logged and the card still went out. Rows still queued at exit are written then
    (``atexit``; gunicorn workers exit normally on a graceful stop); a killed process loses at most
    the rows of its last moments.
    """

    def __init__(self, write, max_pending: int = 10_000, batch: int = 500, linger: float = 0.05):
        self._write = write
        self._linger = linger
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._batch = batch
        self._thread: threading.Thread | None = None
        self._pid = None
        self._start_lock = threading.Lock()
        self._dropped = 0
        _WRITERS.add(self)  # flushed at exit (held weakly: a writer that never started can be freed)

    def submit(self, row: dict) -> None:
        self._ensure_thread()
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self._dropped += 1
            if self._dropped in (1, 10, 100) or self._dropped % 1000 == 0:
                log.error("audit queue full: %d rows dropped so far", self._dropped)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued row is written (or failed); False if that took longer than ``timeout``."""
        if self._thread is None or self._pid != os.getpid():
            return self._queue.unfinished_tasks == 0
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.002)
        return self._queue.unfinished_tasks == 0

    def _ensure_thread(self) -> None:
        # Threads do not survive fork: a gunicorn worker starts its own writer on first use.
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._start_lock:
            if self._thread is None or self._pid != os.getpid():
                if self._pid is not None:  # forked from a process that wrote: its rows are its own
                    self._queue = queue.Queue(maxsize=self._queue.maxsize)
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="trappa-audit-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            rows = [self._queue.get()]
            # Linger a moment for the rows of the calls under way: one transaction for many rows costs
            # a fraction of one per row (at a steady 300 calls a second, ~15 rows per transaction).
            until = time.monotonic() + self._linger
            while len(rows) < self._batch:
                wait = until - time.monotonic()
                try:
                    rows.append(self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(rows)
            except Exception as exc:  # the database is unreachable: the rows are lost, and the log says so
                log.error("audit write failed (%d rows): %s", len(rows), type(exc).__name__)
            finally:
                for _ in rows:
                    self._queue.task_done()


_WRITERS: "weakref.WeakSet[AuditWriter]" = weakref.WeakSet()


@atexit.register
def _flush_writers_at_exit() -> None:
    for writer in list(_WRITERS):
        writer.flush()
