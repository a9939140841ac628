"""The audit trail through the real server: no call answered 200 without its record in the database in
the end — a worker killed under load, the database gone during load — and refused calls recorded.

Swedish law requires the access log (who looked at which patient's data when); cds_service/web/audit.py
says how the journal makes it durable. Each test drives the real gunicorn server with concurrent
keep-alive clients, collects client-side the hookInstance of every call answered 200, and then checks
the database for exactly one row each.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.support.jwt_keys import JwksServer, SigningKey, claims
from tests.support.service import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "/cds-services/trappa-patient-view"
ISS = "https://ehr.audit.test"


def hook_body(hook_instance: str) -> dict:
    body = json.loads((ROOT / "fixtures/requests/patient-view.anna-testsson.json").read_text(encoding="utf-8"))
    body["hookInstance"] = hook_instance
    return body


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
    return ServiceProcess(env=env, dev=False, **kw)


class Load:
    """``clients`` threads calling the service over keep-alive sessions until stopped; the hookInstances
    answered 200, the statuses seen, and the connection errors (a killed worker's calls in flight)."""

    def __init__(self, proc: ServiceProcess, clients: int, key=None):
        self.proc, self.key = proc, key
        self.acknowledged: list[str] = []
        self.statuses: dict[int, int] = {}
        self.errors = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def _client(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            hook_instance = str(uuid.uuid4())
            headers = {"Content-Type": "application/json"}
            if self.key is not None:
                tok = self.key.token(claims(ISS, self.proc.base_url + SERVICE, sub="ehr-client-1"))
                headers["Authorization"] = f"Bearer {tok}"
            try:
                resp = session.post(self.proc.base_url + SERVICE, data=json.dumps(hook_body(hook_instance)),
                                    headers=headers, timeout=20)
            except requests.RequestException:
                with self._lock:
                    self.errors += 1
                session = requests.Session()
                continue
            with self._lock:
                self.statuses[resp.status_code] = self.statuses.get(resp.status_code, 0) + 1
                if resp.status_code == 200:
                    assert resp.json()["cards"], "a 200 with cards"
                    self.acknowledged.append(hook_instance)

    def count(self) -> int:
        with self._lock:
            return sum(self.statuses.values())


def audit_rows(database_url: str) -> dict[str, int]:
    """hookInstance → number of rows of status 200."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("select hook_instance, count(*) from audit where status = 200 group by hook_instance"))
            return {h: n for h, n in rows}
    finally:
        engine.dispose()


def wait_for_rows(database_url: str, wanted: list[str], timeout: float = 30.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        rows = audit_rows(database_url)
        if all(h in rows for h in wanted) or time.monotonic() > deadline:
            return rows
        time.sleep(0.25)


def test_a_worker_killed_under_load_loses_no_acknowledged_record_and_its_successor_gets_traffic(jwks, key):
    with production(jwks, workers=2) as proc:
        with Load(proc, clients=6, key=key) as load:
            deadline = time.monotonic() + 20
            while load.count() < 60:
                assert time.monotonic() < deadline, f"no load: {load.statuses}"
                time.sleep(0.05)
            before = proc.worker_pids()
            victim = before[0]
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            # A new worker takes the killed one's place and, once the survivor's connections reach
            # their age (http_server.CONNECTION_MAX_AGE_S, 5 s), gets calls: its own journal has records.
            deadline = time.monotonic() + 25
            successor = None
            while time.monotonic() < deadline:
                now = [p for p in proc.worker_pids() if p not in before]
                if now:
                    successor = now[0]
                    served = [f for f in proc.journal_dir.glob(f"journal-*-{successor}-*.jsonl") if f.stat().st_size]
                    if served:
                        print(f"successor served {time.monotonic() - killed_at:.1f} s after the kill")
                        break
                time.sleep(0.2)
            else:
                pytest.fail(f"the new worker ({successor}) served nothing within 25 s of the kill")
            time.sleep(1.0)
        assert load.acknowledged, load.statuses
        assert set(load.statuses) == {200}, load.statuses  # refused or failed calls: none
        rows = wait_for_rows(proc.database_url, load.acknowledged)
        missing = [h for h in load.acknowledged if h not in rows]
        print(f"{len(load.acknowledged)} acknowledged, {load.errors} connection errors")
        assert not missing, f"{len(missing)} of {len(load.acknowledged)} acknowledged calls have no audit row"
        assert all(rows[h] == 1 for h in load.acknowledged), "each acknowledged call has exactly one row"
        log = proc.log()
    assert "Traceback" not in log


def test_with_the_database_locked_calls_go_on_and_their_records_arrive_when_it_is_free():
    """Development mode (no jti store in the way): the database is SQLite, locked by another process
    past the busy timeout. Calls are still answered — their records wait in the journal — and every one
    is in the database once the lock is gone."""
    with ServiceProcess(workers=2) as proc:
        with Load(proc, clients=4) as load:
            time.sleep(1.0)
            lock = sqlite3.connect(proc.database_url.removeprefix("sqlite:///"), isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")
            locked_from = len(load.acknowledged)
            time.sleep(7.0)  # longer than the busy timeout (5 s): the shippers fail, and retry
            during = len(load.acknowledged) - locked_from
            lock.execute("ROLLBACK")
            lock.close()
            time.sleep(1.0)
        assert during > 0, "calls were answered while the database was locked"
        rows = wait_for_rows(proc.database_url, load.acknowledged)
        missing = [h for h in load.acknowledged if h not in rows]
        assert not missing, f"{len(missing)} of {len(load.acknowledged)} acknowledged calls have no audit row"
        log = proc.log()
    assert "audit database unavailable" in log and "reachable again" in log


def test_postgresql_gone_during_load_answers_503_then_recovers_with_every_record(jwks, key, postgres_db):
    url, proxy = postgres_db
    with production(jwks, workers=2, database_url=url) as proc:
        with Load(proc, clients=4, key=key) as load:
            time.sleep(1.5)
            proxy.stop()
            time.sleep(3.0)
            during = dict(load.statuses)
            proxy.start()
            deadline = time.monotonic() + 15
            while proc.get("/health").status_code != 200:
                assert time.monotonic() < deadline, "not healthy again within 15 s"
                time.sleep(0.2)
            after = load.statuses.get(200, 0)
            time.sleep(2.0)
            assert load.statuses.get(200, 0) > after, "calls answered 200 again after the outage"
        assert during.get(503), f"the outage gave 503s: {during}"
        assert set(load.statuses) <= {200, 503}, load.statuses
        rows = wait_for_rows(url, load.acknowledged)
        missing = [h for h in load.acknowledged if h not in rows]
        assert not missing, f"{len(missing)} of {len(load.acknowledged)} acknowledged calls have no audit row"
        log = proc.log()
    assert "unhandled" not in log and "Traceback" not in log


def test_refused_calls_are_recorded_with_their_reason_and_callers_with_their_identity(jwks, key):
    with production(jwks, workers=1) as proc:
        assert proc.post(SERVICE, hook_body("no-token")).status_code == 401
        bad = key.token(claims(ISS, proc.base_url + "/cds-services/other"))
        assert proc.post(SERVICE, hook_body("wrong-aud"), headers={"Authorization": f"Bearer {bad}"}).status_code == 401
        good = key.token(claims(ISS, proc.base_url + SERVICE, sub="ehr-client-9", tenant="region-x"))
        resp = proc.post(SERVICE, hook_body("accepted"), headers={"Authorization": f"Bearer {good}"})
        assert resp.status_code == 200
        from sqlalchemy import create_engine, text

        time.sleep(0.5)
        engine = create_engine(proc.database_url)
        deadline = time.monotonic() + 10
        while True:
            with engine.connect() as conn:
                rows = [dict(r._mapping) for r in conn.execute(text(
                    "select status, reason, kind, iss, sub, tenant, user_id, patient_id, hook_instance from audit"))]
            if len(rows) >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        engine.dispose()
    refused = sorted((r["status"], r["reason"], r["kind"]) for r in rows if r["status"] == 401)
    assert refused == [(401, "audience", "hook"), (401, "missing", "hook")]
    assert all(r["hook_instance"] == "?" and r["patient_id"] is None for r in rows if r["status"] == 401)
    (ok,) = [r for r in rows if r["status"] == 200]
    body = hook_body("accepted")
    assert (ok["iss"], ok["sub"], ok["tenant"], ok["user_id"], ok["patient_id"]) == (
        ISS, "ehr-client-9", "region-x", body["context"]["userId"], body["context"]["patientId"])
    assert "ehr-client-9" not in proc.log() and body["context"]["patientId"] not in proc.log()


def test_audit_purge_command_deletes_rows_past_the_retention(tmp_path):
    import subprocess
    import sys

    from cds_service.web.storage import Store

    url = f"sqlite:///{tmp_path}/purge.sqlite3"
    store = Store(url, journal_dir=tmp_path / "journal")
    store.write_audit_records([
        {"record_id": "old", "at": "2016-01-01T00:00:00.000+00:00", "kind": "hook", "service": "s",
         "hook_instance": "h", "status": 200, "cards": [], "millis": 1.0},
        {"record_id": "new", "at": "2026-01-01T00:00:00.000+00:00", "kind": "hook", "service": "s",
         "hook_instance": "h", "status": 200, "cards": [], "millis": 1.0},
    ])
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TRAPPA_")},
           "TRAPPA_DATABASE_URL": url, "TRAPPA_AUDIT_JOURNAL_DIR": str(tmp_path / "journal")}
    run = subprocess.run([sys.executable, "-m", "cds_service", "audit-purge"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "deleted 1 audit rows older than 3650 days" in run.stdout
    assert sorted(r["record_id"] for r in store.audit_for("h")) == ["new"]
    bad = subprocess.run([sys.executable, "-m", "cds_service", "audit-purge", "--older-than", "0"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "at least 1 day" in bad.stderr
