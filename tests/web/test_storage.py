"""Storage: tables created safely by many processes at once; feedback and jti memory in the real database."""
from __future__ import annotations

import multiprocessing
import time

import pytest

from cds_service.web.storage import Store


def _open(url: str, barrier) -> None:
    barrier.wait()
    Store(url)


def test_many_processes_creating_tables_at_once_on_a_fresh_database(tmp_path):
    """Regression: two gunicorn workers starting on a fresh SQLite file raced in create_all and one died
    ("table audit already exists"), taking the whole server down."""
    url = f"sqlite:///{tmp_path}/race.sqlite3"
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(6)
    procs = [ctx.Process(target=_open, args=(url, barrier)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0] * 6
    store = Store(url)
    assert store.ping()


def test_jti_is_accepted_once_until_it_expires(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/jti.sqlite3")
    assert store.remember_jti("iss|a", time.time() + 60) is True
    assert store.remember_jti("iss|a", time.time() + 60) is False
    assert store.remember_jti("iss|b", time.time() + 60) is True
    # an expired entry is forgotten, so the key could be used again (the token itself is expired then)
    assert store.remember_jti("iss|c", time.time() - 1) is True
    assert store.remember_jti("iss|c", time.time() + 60) is True


# --- Audit records: journalled before the answer, shipped to the database behind it (audit.py) ----------

def _audit_row(store: Store, hook_instance: str, **extra) -> None:
    store.record_audit(service="trappa-order-sign", hook_instance=hook_instance, status=200,
                       cards=[{"uuid": "u-" + hook_instance, "source": {"topic": {"code": "taper-plan-missing"}}}],
                       millis=1.5, **extra)


def test_audit_records_reach_the_database_with_who_looked_at_which_patient(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/audit.sqlite3")
    for i in range(300):
        _audit_row(store, f"h{i % 3}", caller={"iss": "https://ehr.example", "sub": "client-7", "tenant": "t1"},
                   user_id="Practitioner/dr-1", patient_id="pat-9")
    assert store.journal.flush(timeout=10)
    rows = store.audit_for("h1")
    assert len(rows) == 100
    assert all(r["status"] == 200 and "taper-plan-missing" in r["cards"] and "u-h1" in r["cards"] for r in rows)
    row = rows[0]
    assert (row["iss"], row["sub"], row["tenant"], row["user_id"], row["patient_id"], row["kind"]) == (
        "https://ehr.example", "client-7", "t1", "Practitioner/dr-1", "pat-9", "hook")
    assert len({r["record_id"] for r in rows}) == 100
    # In the database, not a buffer: a fresh engine on the same file sees them.
    assert len(Store(f"sqlite:///{tmp_path}/audit.sqlite3").audit_for("h2")) == 100


def test_a_failing_database_keeps_the_records_in_the_journal_until_it_is_back(tmp_path, caplog):
    store = Store(f"sqlite:///{tmp_path}/audit.sqlite3")
    real_ship = store.journal._ship
    calls = []

    def failing(rows):
        calls.append(len(rows))
        raise OSError("disk gone")

    store.journal._ship = failing
    _audit_row(store, "waited")
    assert not store.journal.flush(timeout=1.0)  # not in the database: not forgotten either
    assert calls and "audit database unavailable" in caplog.text and "OSError" in caplog.text
    store.journal._ship = real_ship
    _audit_row(store, "after")
    assert store.journal.flush(timeout=10)
    assert [r["hook_instance"] for r in store.audit_for("waited")] == ["waited"]
    assert [r["hook_instance"] for r in store.audit_for("after")] == ["after"]
    # The shipper says so once its round is over, a moment after the records are in.
    deadline = time.monotonic() + 5
    while "reachable again" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "reachable again" in caplog.text


def test_a_journal_left_by_a_killed_process_is_reconciled_once(tmp_path):
    """A process that wrote records and died before shipping them (SIGKILL: no atexit, no flush): the
    next store on the same directory ships them, once, and deletes the journal."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    url = f"sqlite:///{tmp_path}/kill.sqlite3"
    code = (
        "import os, signal\n"
        "from cds_service.web.storage import Store\n"
        f"s = Store({url!r})\n"
        "s.journal._ship = lambda rows: (_ for _ in ()).throw(OSError('down'))\n"
        "for i in range(200):\n"
        "    s.record_audit(service='trappa-order-sign', hook_instance='killed', status=200, cards=[], millis=1.0)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    store = Store(url)
    assert store.audit_for("killed") == []
    assert store.journal.reconcile() == 200
    assert len(store.audit_for("killed")) == 200
    assert store.journal.reconcile() == 0  # the journal is gone: nothing shipped twice
    assert not [p for p in os.listdir(store.journal.directory) if p.endswith(".jsonl")]
    assert len(store.audit_for("killed")) == 200


def test_shipping_a_record_twice_stores_it_once(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/twice.sqlite3")
    record = {"record_id": "r-1", "at": "2026-12-03T10:00:00.000+00:00", "kind": "hook", "service": "s",
              "hook_instance": "twice", "status": 200, "cards": [], "millis": 1.0}
    store.write_audit_records([record])
    store.write_audit_records([record, dict(record, record_id="r-2")])
    assert sorted(r["record_id"] for r in store.audit_for("twice")) == ["r-1", "r-2"]


def test_an_unwritable_journal_refuses_the_record(tmp_path):
    from cds_service.web.audit import JournalUnavailable

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the journal directory should be")
    store = Store(f"sqlite:///{tmp_path}/j.sqlite3", journal_dir=blocker / "journal")
    with pytest.raises(JournalUnavailable):  # a record that cannot be journalled must not pass silently
        _audit_row(store, "refused")


def test_purge_deletes_only_rows_past_the_retention(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/purge.sqlite3")
    old = {"record_id": "old", "at": "2015-01-01T00:00:00.000+00:00", "kind": "hook", "service": "s",
           "hook_instance": "p", "status": 200, "cards": [], "millis": 1.0}
    store.write_audit_records([old])
    _audit_row(store, "p")
    assert store.journal.flush(timeout=10)
    assert store.purge_audit(365) == 1
    assert [r["record_id"] != "old" for r in store.audit_for("p")] == [True]


def test_a_database_made_before_the_journal_gets_the_new_columns(tmp_path):
    import sqlite3

    db = tmp_path / "old.sqlite3"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE audit (id INTEGER PRIMARY KEY, at VARCHAR(40) NOT NULL, service VARCHAR(100) NOT NULL,"
                " hook_instance VARCHAR(200) NOT NULL, status INTEGER NOT NULL, cards TEXT NOT NULL,"
                " millis FLOAT NOT NULL)")
    con.execute("INSERT INTO audit (at, service, hook_instance, status, cards, millis)"
                " VALUES ('2026-01-01T00:00:00.000+00:00', 's', 'old-row', 200, '[]', 1.0)")
    con.commit()
    con.close()
    store = Store(f"sqlite:///{db}")
    _audit_row(store, "new-row", patient_id="pat-1")
    assert store.journal.flush(timeout=10)
    assert store.audit_for("old-row")[0]["patient_id"] is None
    assert store.audit_for("new-row")[0]["patient_id"] == "pat-1"


def test_sqlite_connections_keep_a_small_page_cache(tmp_path):
    """The audit table only grows; SQLite's default 2 MiB page cache per connection filled the workers'
    memory with it (seen as slow growth in the benchmark's memory step)."""
    from sqlalchemy import text

    store = Store(f"sqlite:///{tmp_path}/cache.sqlite3")
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA cache_size")).scalar() == -512
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_records_not_yet_shipped_when_the_process_exits_are_written(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    url = f"sqlite:///{tmp_path}/exit.sqlite3"
    code = (
        "from cds_service.web.storage import Store\n"
        f"s = Store({url!r})\n"
        "for i in range(200):\n"
        "    s.record_audit(service='trappa-order-sign', hook_instance='at-exit', status=200, cards=[], millis=1.0)\n"
        # no flush: the interpreter exits right away, with rows still in the queue
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(Store(url).audit_for("at-exit")) == 200
