"""A hook call leaves no garbage for the rare collections of a worker to find (cds_service/runtime/cycles.py)."""
from __future__ import annotations

import gc
import json
import weakref

import subprocess
import sys
from pathlib import Path

from cds_service.__main__ import GC_THRESHOLD
from cds_service.runtime.cycles import collect_call_cycles
from conftest import FIXTURES

ROOT = Path(__file__).resolve().parents[2]


class _Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the collector frees it


# Run in a process of its own: the count is of the whole process's objects, and other tests' threads
# must not add to it. The worker's own threads may (the audit journal's shipper writes to the database
# whenever it wakes, and SQLAlchemy leaves a few cycles behind): they are freed by the next call's
# collection, so they bound the count, they do not make it grow.
_CALLS = """
import gc, json, sys
from werkzeug.test import EnvironBuilder
from cds_service.web.app import create_app
from cds_service.web.config import Settings

app = create_app(Settings.from_env({"TRAPPA_DEV_MODE": "1", "TRAPPA_DATABASE_URL": sys.argv[1]}))
body = open(sys.argv[2], "rb").read()
if len(sys.argv) > 3:  # the check of the check: the calls without their collection
    import cds_service.web.views.hooks as hooks
    hooks.collect_call_cycles = lambda: None

def call():
    environ = EnvironBuilder(path="/cds-services/trappa-order-sign", method="POST", data=body,
                             headers={"Content-Type": "application/json"}).get_environ()
    status = []
    b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    assert status[0] == "200 OK", status

for _ in range(20):
    call()  # lazy imports, caches, the database's first statements
gc.collect()
gc.disable()  # no automatic collection at all: only the calls' own collections free cycles
for _ in range(30):
    call()
before = len(gc.get_objects())
for _ in range(CALLS):
    call()
print(json.dumps({"before": before, "after": len(gc.get_objects())}))
"""
CALLS = 150


def _objects_before_and_after(tmp_path, *extra: str) -> tuple[int, int]:
    fixture = FIXTURES / "requests/order-sign.anna-testsson.json"
    script = _CALLS.replace("CALLS", str(CALLS))
    done = subprocess.run([sys.executable, "-c", script, f"sqlite:///{tmp_path}/trappa.sqlite3", str(fixture), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    return counts["before"], counts["after"]


def test_hook_calls_leave_no_growing_garbage_for_the_collector(tmp_path):
    """Called as a WSGI server calls it, with the automatic collector off: after 150 more calls the
    process holds about as many objects as after the first 50 (what the last calls and the shipper left, freed by
    the next call) — a call leaving even 3 objects in cycles would add 450."""
    before, after = _objects_before_and_after(tmp_path)
    assert after - before < 300, (before, after)


def test_without_the_calls_collection_the_garbage_grows(tmp_path):
    """The check of the check: the same calls without ``collect_call_cycles`` pile up cycles."""
    before, after = _objects_before_and_after(tmp_path, "no-collection")
    assert after - before > 1000, (before, after)


def test_a_cycle_left_by_a_call_is_freed_by_the_next_young_collection():
    node = weakref.ref(_Node())
    assert node() is not None  # garbage, but cyclic: reference counting alone keeps it
    collect_call_cycles()
    assert node() is None


def test_a_cycle_still_alive_at_a_collection_is_freed_within_a_few_hundred_calls():
    """A cycle still in use when collections ran moves on to the oldest generation; the generational
    policy, counted in calls, reaches it there too — not at every call (that would walk everything each
    time), but within every_young × every_middle calls."""
    previous = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        gc.collect()  # counts start at zero
        live = _Node()
        node = weakref.ref(live)
        gc.collect(1)  # still in use: survives into the oldest generation
        del live
        calls = 0
        while node() is not None and calls < 1000:
            collect_call_cycles()
            calls += 1
        _, every_young, every_middle = GC_THRESHOLD
        assert node() is None, "never freed: the oldest generation is never collected"
        assert every_young < calls <= every_young * every_middle, calls
    finally:
        gc.set_threshold(*previous)
