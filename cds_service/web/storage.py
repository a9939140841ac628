"""Durable storage: card feedback, the audit trail of issued cards, and seen JWT ids.

SQLAlchemy Core over any URL: an embedded SQLite file by default (nothing to install), PostgreSQL by
setting ``TRAPPA_DATABASE_URL=postgresql+psycopg://…``. What is stored is deliberately thin: no tokens,
no free-text clinical detail (CDS Hooks security best practice; the brief's logging rule).
"""
from __future__ import annotations

import atexit
import json
import logging
import time
import weakref
from datetime import datetime, timedelta, timezone
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
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from cds_service.web.audit import AuditJournal
from cds_service.runtime.ids import new_uuid

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
    # Added with the journal (audit.py); NULL in rows of older databases. Who looked at which patient's
    # data: the calling EHR (the JWT's iss, sub = its client id, tenant), the user and patient of the
    # hook's context, and for a refused call why (a refusal code, never token material).
    Column("record_id", String(64), unique=True),
    Column("kind", String(20)),  # "hook" | "feedback" | "discovery"
    Column("iss", String(500)),
    Column("sub", String(500)),
    Column("tenant", String(200)),
    Column("user_id", String(300)),
    Column("patient_id", String(300)),
    Column("reason", String(100)),
)
#: Columns that a database made before the journal lacks: added at start-up (Store._add_columns).
#: What a journal record fills of a row (every column but the row id; cards and millis are converted).
_AUDIT_COLUMNS = tuple(c.name for c in audit.columns if c.name != "id")
_AUDIT_ADDED = ("record_id", "kind", "iss", "sub", "tenant", "user_id", "patient_id", "reason")

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

# The planner's proposals (cds_service/web/planner): the inputs of a card's taper proposal, held until
# ``expires`` under the SHA-256 of the link's unguessable id (the database alone opens no page). No
# patient name, identity number or record id: drug, dose, dates, pace (proposals.py says what).
planner_proposal = Table(
    "planner_proposal",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("expires", Float, nullable=False, index=True),
    Column("inputs", Text, nullable=False),  # JSON
)
# A SMART launch under way (web/planner/smart.py): its PKCE code_verifier, the EHR's token endpoint
# and iss, held until ``expires`` under the SHA-256 of the OAuth ``state`` the browser carries.
planner_launch = Table(
    "planner_launch",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("expires", Float, nullable=False, index=True),
    Column("launch", Text, nullable=False),  # JSON
)
# A SMART session of the planner: the EHR's access token, its FHIR server, the patient's id and the
# proposal the launch's appContext named, held until ``expires`` (never past the token's own expiry)
# under the SHA-256 of the session id the page holds. The token is never sent to the browser or logged.
planner_session = Table(
    "planner_session",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("expires", Float, nullable=False, index=True),
    Column("session", Text, nullable=False),  # JSON
)
#: Expired proposals are deleted at most this often per process (on a save): not a statement per call.
PROPOSAL_PURGE_INTERVAL_S = 60.0


class StorageUnavailable(Exception):
    """The database could not do what was asked (unreachable, locked, read-only, full, a failed
    constraint of its own …): nothing of the call was stored. Answered 503, never 500. The message is
    the driver's exception type only: SQLAlchemy's own text holds the statement and its parameters."""


class JtiReplayed(Exception):
    """The ``jti`` handed to :meth:`Store.record_feedback` was already spent: a replayed token."""


def _unavailable(exc: Exception) -> StorageUnavailable:
    return StorageUnavailable(type(getattr(exc, "orig", None) or exc).__name__)


def _clip(value, limit: int) -> str | None:
    return None if value is None else str(value)[:limit]


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


def default_journal_dir(url: str) -> Path:
    """Beside an SQLite file (``var/trappa.sqlite3`` → ``var/trappa.audit-journal``), else ``var/audit-journal``."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        db = Path(url.removeprefix("sqlite:///"))
        return db.with_name(db.stem + ".audit-journal")
    return Path("var") / "audit-journal"


class Store:
    def __init__(self, url: str, create_tables: bool = True, journal_dir: str | Path | None = None,
                 fsync: bool = False):
        try:
            self.engine = make_engine(url)
        except OSError as exc:  # the SQLite file's directory cannot be made
            raise StorageUnavailable(type(exc).__name__) from None
        if create_tables:
            self._create_tables()
            self._add_columns()
        self._proposals_purged = 0.0
        self.journal = AuditJournal(journal_dir or default_journal_dir(url), self.write_audit_records, fsync=fsync)
        _JOURNALS.add(self.journal)

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

    def _add_columns(self) -> None:
        """A database made before the journal: add the audit columns it lacks (nullable, so cheap)."""
        try:
            have = {c["name"] for c in inspect(self.engine).get_columns("audit")}
            missing = [name for name in _AUDIT_ADDED if name not in have]
            if not missing:
                return
            with self.engine.begin() as conn:
                for name in missing:
                    column = audit.c[name]
                    conn.execute(text(f"ALTER TABLE audit ADD COLUMN {name} {column.type.compile(self.engine.dialect)}"))
                if "record_id" in missing:
                    conn.execute(text("CREATE UNIQUE INDEX IF NOT EXISTS ix_audit_record_id ON audit (record_id)"))
        except (OperationalError, ProgrammingError) as exc:  # another worker added them first
            log.info("audit columns: %s (another process added them?)", type(exc).__name__)
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from None

    def record_audit(self, *, service: str, hook_instance: str, status: int, cards: list[dict], millis: float,
                     kind: str = "hook", caller: dict | None = None, user_id: str | None = None,
                     patient_id: str | None = None, reason: str | None = None) -> None:
        """Write one audit record to the journal before the call is answered (audit.py): stored in the
        database within about 50 ms, or after an outage. JournalUnavailable when it cannot be written:
        the call must then not be answered 200."""
        caller = caller or {}
        self.journal.append({
            "record_id": new_uuid(),
            "at": _now(),
            "kind": kind,
            "service": service[:100],
            "hook_instance": hook_instance[:200],
            "status": status,
            "cards": [{"uuid": c.get("uuid"), "topic": ((c.get("source") or {}).get("topic") or {}).get("code")}
                      for c in cards],
            "millis": round(millis, 3),
            "iss": _clip(caller.get("iss"), 500),
            "sub": _clip(caller.get("sub"), 500),
            "tenant": _clip(caller.get("tenant"), 200),
            "user_id": _clip(user_id, 300),
            "patient_id": _clip(patient_id, 300),
            "reason": _clip(reason, 100),
        })

    def write_audit_records(self, records: list[dict]) -> None:
        """Store journal records; records already stored (same record_id) are skipped, so shipping a
        journal twice stores each record once."""
        rows = {}
        for r in records:
            if isinstance(r, dict) and r.get("record_id"):
                row = {c: r.get(c) for c in _AUDIT_COLUMNS}
                row["cards"] = json.dumps(r.get("cards") or [])
                row["millis"] = float(r.get("millis") or 0.0)
                rows[r["record_id"]] = row
        if not rows:
            return
        with self.engine.begin() as conn:
            known = set(conn.execute(select(audit.c.record_id).where(audit.c.record_id.in_(list(rows)))).scalars())
            new = [row for rid, row in rows.items() if rid not in known]
            if new:
                conn.execute(insert(audit), new)

    def purge_audit(self, older_than_days: int) -> int:
        """Delete audit rows older than ``older_than_days`` days; the number deleted."""
        cutoff = (datetime.now(timezone.utc) - timedelta(days=older_than_days)).isoformat(timespec="milliseconds")
        try:
            with self.engine.begin() as conn:
                return conn.execute(audit.delete().where(audit.c.at < cutoff)).rowcount
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from None

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
        self.journal.flush()
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

    def save_proposals(self, rows: list[tuple[str, float, str]]) -> None:
        """Store planner proposals, ``(key, expires, inputs JSON)`` each, in one transaction — before
        the card that links them is answered, so a link always opens. Expired ones are deleted on the
        way, at most every PROPOSAL_PURGE_INTERVAL_S. StorageUnavailable when the database fails."""
        if not rows:
            return
        now = time.time()
        try:
            with self.engine.begin() as conn:
                if now - self._proposals_purged >= PROPOSAL_PURGE_INTERVAL_S:
                    conn.execute(planner_proposal.delete().where(planner_proposal.c.expires < now))
                    self._proposals_purged = now
                conn.execute(insert(planner_proposal), [{"key": k, "expires": e, "inputs": j} for k, e, j in rows])
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from None

    def proposal(self, key: str) -> str | None:
        """The inputs JSON stored under ``key``, or None when there is none or it has expired."""
        return self._live(planner_proposal, "inputs", key)

    def save_launch(self, key: str, expires: float, launch_json: str) -> None:
        """Remember a SMART launch under way (expired ones are deleted on the way)."""
        self._save_expiring(planner_launch, "launch", key, expires, launch_json)

    def take_launch(self, key: str) -> str | None:
        """The launch stored under ``key``, deleted as it is read (a state opens one callback), or None."""
        try:
            with self.engine.begin() as conn:
                found = conn.execute(select(planner_launch.c.launch).where(planner_launch.c.key == key[:64])
                                     .where(planner_launch.c.expires >= time.time())).scalar()
                conn.execute(planner_launch.delete().where(planner_launch.c.key == key[:64]))
                return found
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from None

    def save_session(self, key: str, expires: float, session_json: str) -> None:
        self._save_expiring(planner_session, "session", key, expires, session_json)

    def session(self, key: str) -> str | None:
        return self._live(planner_session, "session", key)

    # The planner's tables hold one JSON value under a hashed key until it expires.

    def _save_expiring(self, table: Table, column: str, key: str, expires: float, value: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(table.delete().where(table.c.expires < time.time()))
                conn.execute(insert(table).values({"key": key[:64], "expires": expires, column: value}))
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from None

    def _live(self, table: Table, column: str, key: str) -> str | None:
        try:
            with self.engine.connect() as conn:
                return conn.execute(select(table.c[column]).where(table.c.key == key[:64])
                                    .where(table.c.expires >= time.time())).scalar()
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from None

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except Exception:
            return False


class _JtiTaken(Exception):
    pass


_JOURNALS: "weakref.WeakSet[AuditJournal]" = weakref.WeakSet()


@atexit.register
def _flush_journals_at_exit() -> None:
    """A worker stopped gracefully ships what it has (what it cannot, the next worker reconciles)."""
    for journal in list(_JOURNALS):
        journal.flush(timeout=2.0)
