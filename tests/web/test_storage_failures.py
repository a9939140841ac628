"""The database failing under the real server process: every storage failure is a 503 OperationOutcome,
never a 500, and a feedback whose write failed can be sent again (docs/security.md, "When the database
fails").

SQLite by default (a newcomer's machine has no database server): the database is made to fail for
real — a trigger that aborts the insert (the driver's IntegrityError, what the audit saw), or another
connection holding the write lock (OperationalError "database is locked"). Root ignores file modes, so a
read-only file would not fail here. PostgreSQL when one runs on 127.0.0.1:5432 (or at
TRAPPA_TEST_POSTGRES_URL): the service reaches it through a TCP forwarder that is stopped — the
database gone, as for a stopped server — and started again."""
from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from tests.support.jwt_keys import JwksServer, SigningKey, claims
from tests.support.service import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
HOOK = "/cds-services/trappa-patient-view"
FEEDBACK = HOOK + "/feedback"
ISS = "https://ehr.storage.test"


def hook_body() -> dict:
    return json.loads((ROOT / "fixtures/requests/patient-view.anna-testsson.json").read_text(encoding="utf-8"))


def feedback_body(card: str | None = None) -> dict:
    return {"feedback": [{"card": card or str(uuid.uuid4()), "outcome": "overridden",
                          "outcomeTimestamp": "2026-11-23T10:00:00Z",
                          "overrideReason": {"reason": {"system": "urn:trappa:override-reason", "code": "plan-elsewhere"}}}]}


def sqlite_path(proc: ServiceProcess) -> str:
    return proc.database_url.removeprefix("sqlite:///")


def fail_inserts(proc: ServiceProcess, table: str, on: bool = True) -> None:
    """A trigger that makes every insert into ``table`` fail (RAISE(ABORT): the driver's IntegrityError)."""
    with sqlite3.connect(sqlite_path(proc)) as db:
        if on:
            db.execute(f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, 'made to fail by the test'); END")
        else:
            db.execute(f"DROP TRIGGER fail_{table}")


def feedback_rows(proc: ServiceProcess, card: str) -> int:
    with sqlite3.connect(sqlite_path(proc)) as db:
        return db.execute("select count(*) from feedback where card_uuid = ?", (card,)).fetchone()[0]


def assert_unavailable(resp) -> None:
    assert resp.status_code == 503, (resp.status_code, resp.text[:300])
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "transient"
    assert "database" in body["issue"][0]["diagnostics"]


@pytest.fixture(scope="module")
def key():
    return SigningKey("ES384")


@pytest.fixture(scope="module")
def jwks(key):
    with JwksServer() as server:
        server.publish("jwks.json", [key])
        yield server


def production(jwks, **kw) -> ServiceProcess:
    env = {"TRAPPA_TRUSTED_ISSUERS": json.dumps([{"iss": ISS, "jwks_url": jwks.url("jwks.json")}])}
    return ServiceProcess(env=env, dev=False, workers=1, **kw)


@pytest.fixture(scope="module")
def server(jwks):
    with production(jwks) as proc:
        yield proc


def token(key, proc: ServiceProcess, path: str) -> str:
    return key.token(claims(ISS, proc.base_url + path))


def post(proc, path, body, tok=None):
    return proc.post(path, body, headers={"Authorization": f"Bearer {tok}"} if tok else {}, timeout=20)


# --- SQLite ------------------------------------------------------------------------------------------


def test_a_failed_feedback_write_is_503_and_the_same_or_a_fresh_token_can_retry(server, key):
    card = str(uuid.uuid4())
    first = token(key, server, FEEDBACK)
    fail_inserts(server, "feedback")
    try:
        assert_unavailable(post(server, FEEDBACK, feedback_body(card), first))
    finally:
        fail_inserts(server, "feedback", on=False)
    assert "unhandled" not in server.log()
    assert "database unavailable on POST /cds-services/trappa-patient-view/feedback (IntegrityError)" in server.log()
    # The failed call spent nothing: its own token is still good — once.
    resp = post(server, FEEDBACK, feedback_body(card), first)
    assert resp.status_code == 200 and resp.json() == {"stored": 1}
    assert post(server, FEEDBACK, feedback_body(card), first).status_code == 401  # now it is a replay
    # The same feedback again with a fresh token (a retry whose answer was lost): stored once.
    resp = post(server, FEEDBACK, feedback_body(card), token(key, server, FEEDBACK))
    assert resp.status_code == 200 and resp.json() == {"stored": 1}
    assert feedback_rows(server, card) == 1


def test_a_failing_jti_store_is_503_not_a_replay(server, key):
    """An integrity error of the jti insert that is not the key itself being there used to be read as
    a replay (401, the EHR blamed); it is the database failing."""
    tok = token(key, server, HOOK)
    seen = len(server.log())
    fail_inserts(server, "seen_jti")
    try:
        assert_unavailable(post(server, HOOK, hook_body(), tok))
        assert_unavailable(post(server, FEEDBACK, feedback_body(), token(key, server, FEEDBACK)))
    finally:
        fail_inserts(server, "seen_jti", on=False)
    assert "jti replayed" not in server.log()[seen:]
    assert post(server, HOOK, hook_body(), tok).status_code == 200  # nothing was spent


def test_a_locked_database_is_503_for_hook_calls_and_feedback(server, key):
    """Another process holds the write lock past the busy timeout (5 s)."""
    lock = sqlite3.connect(sqlite_path(server), isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    try:
        assert_unavailable(post(server, HOOK, hook_body(), token(key, server, HOOK)))
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert "jti store unavailable (OperationalError)" in server.log()
    assert post(server, HOOK, hook_body(), token(key, server, HOOK)).status_code == 200


def test_without_authentication_a_failed_feedback_is_503_too(service):
    fail_inserts(service, "feedback")
    try:
        assert_unavailable(post(service, FEEDBACK, feedback_body()))
    finally:
        fail_inserts(service, "feedback", on=False)
    assert post(service, FEEDBACK, feedback_body()).status_code == 200


def test_the_serve_command_says_so_when_the_database_cannot_be_reached(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    proc = ServiceProcess(database_url=f"sqlite:///{blocker}/trappa.sqlite3")
    with pytest.raises(RuntimeError):
        proc.start(timeout=20)
    log = proc.log()
    proc.cleanup()
    assert "the database (TRAPPA_DATABASE_URL) cannot be reached at start-up" in log
    assert "Traceback" not in log


# --- PostgreSQL (skipped when none runs) --------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres(postgres_db):
    return postgres_db


def test_postgresql_stopped_is_503_everywhere_and_back_when_it_is(postgres, jwks, key):
    url, proxy = postgres
    with production(jwks, database_url=url) as proc:
        card = str(uuid.uuid4())
        assert post(proc, HOOK, hook_body(), token(key, proc, HOOK)).status_code == 200
        proxy.stop()
        try:
            assert_unavailable(post(proc, HOOK, hook_body(), token(key, proc, HOOK)))
            fb_token = token(key, proc, FEEDBACK)
            assert_unavailable(post(proc, FEEDBACK, feedback_body(card), fb_token))
            assert proc.get("/health").status_code == 503
        finally:
            proxy.start()
        deadline = time.monotonic() + 10
        while proc.get("/health").status_code != 200:
            assert time.monotonic() < deadline, "not healthy again within 10 s"
            time.sleep(0.2)
        resp = post(proc, FEEDBACK, feedback_body(card), fb_token)  # the token of the failed call
        assert resp.status_code == 200 and resp.json() == {"stored": 1}
        assert post(proc, HOOK, hook_body(), token(key, proc, HOOK)).status_code == 200
        log = proc.log()
    assert "unhandled" not in log and "Traceback" not in log
