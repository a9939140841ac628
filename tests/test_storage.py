"""Storage: tables created safely by many processes at once; feedback and jti memory in the real database."""
from __future__ import annotations

import multiprocessing
import time

from cds_service.storage import Store


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


# --- Audit rows, written behind the response (storage.AuditWriter) ---------------------------------------

def _audit_row(store: Store, hook_instance: str) -> None:
    store.record_audit(service="trappa-order-sign", hook_instance=hook_instance, status=200,
                       cards=[{"uuid": "u-" + hook_instance, "source": {"topic": {"code": "taper-plan-missing"}}}],
                       millis=1.5)


def test_audit_rows_are_written_in_the_background_and_read_back(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/audit.sqlite3")
    for i in range(300):
        _audit_row(store, f"h{i % 3}")
    assert store.audit_writer.flush(timeout=10)
    rows = store.audit_for("h1")  # audit_for flushes too; read with the real database
    assert len(rows) == 100
    assert all(r["status"] == 200 and "taper-plan-missing" in r["cards"] and "u-h1" in r["cards"] for r in rows)
    # A second process (a fresh engine on the same file) sees them: they are in the database, not a buffer.
    assert len(Store(f"sqlite:///{tmp_path}/audit.sqlite3").audit_for("h2")) == 100


def test_a_failing_database_loses_its_rows_loudly_and_the_writer_goes_on(tmp_path, caplog):
    store = Store(f"sqlite:///{tmp_path}/audit.sqlite3")
    real_write = store.audit_writer._write
    calls = []

    def failing(rows):
        calls.append(len(rows))
        raise OSError("disk gone")

    store.audit_writer._write = failing
    _audit_row(store, "lost")
    assert store.audit_writer.flush(timeout=5)
    assert calls and "audit write failed" in caplog.text and "OSError" in caplog.text
    store.audit_writer._write = real_write
    _audit_row(store, "kept")
    assert [r["hook_instance"] for r in store.audit_for("kept")] == ["kept"]
    assert store.audit_for("lost") == []


def test_a_full_queue_drops_rows_without_blocking_the_call(tmp_path, caplog):
    from cds_service.storage import AuditWriter

    gate = __import__("threading").Event()
    written = []

    def slow(rows):
        gate.wait(10)
        written.extend(rows)

    writer = AuditWriter(slow, max_pending=5, batch=1)
    started = time.monotonic()
    for i in range(50):
        writer.submit({"n": i})
    assert time.monotonic() - started < 1.0  # never waits for the database
    assert "audit queue full" in caplog.text
    gate.set()
    assert writer.flush(timeout=10)
    assert 5 <= len(written) < 50


def test_sqlite_connections_keep_a_small_page_cache(tmp_path):
    """The audit table only grows; SQLite's default 2 MiB page cache per connection filled the workers'
    memory with it (seen as slow growth in the benchmark's memory step)."""
    from sqlalchemy import text

    store = Store(f"sqlite:///{tmp_path}/cache.sqlite3")
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA cache_size")).scalar() == -512
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_rows_still_queued_when_the_process_exits_are_written(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    url = f"sqlite:///{tmp_path}/exit.sqlite3"
    code = (
        "from cds_service.storage import Store\n"
        f"s = Store({url!r})\n"
        "for i in range(200):\n"
        "    s.record_audit(service='trappa-order-sign', hook_instance='at-exit', status=200, cards=[], millis=1.0)\n"
        # no flush: the interpreter exits right away, with rows still in the queue
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(Store(url).audit_for("at-exit")) == 200
