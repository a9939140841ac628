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
