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


# Run in a process of its own: gc.collect() counts the whole process's garbage, and in a full test run
# other tests' server and FHIR threads leave cycles at any moment, which this call did not make.
_CALLS = """
import gc, json, sys
from werkzeug.test import EnvironBuilder
from cds_service.web.app import create_app
from cds_service.web.config import Settings

app = create_app(Settings.from_env({"TRAPPA_DEV_MODE": "1", "TRAPPA_DATABASE_URL": sys.argv[1]}))
body = open(sys.argv[2], "rb").read()

def call():
    environ = EnvironBuilder(path="/cds-services/trappa-order-sign", method="POST", data=body,
                             headers={"Content-Type": "application/json"}).get_environ()
    status = []
    b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    return status[0]

call()  # first call: lazy imports and caches
gc.collect()
gc.disable()  # no automatic collection in between: what gc.collect() finds is what the calls left
found = []
for _ in range(3):
    found.append([call(), gc.collect()])
print(json.dumps(found))
"""


def test_a_hook_call_leaves_no_garbage_for_the_collector(tmp_path):
    """Called as a WSGI server calls it: after the call nothing unreachable is left (without the
    collection at the end of the turn, a few dozen objects per call: the URL matcher's closure …)."""
    fixture = FIXTURES / "requests/order-sign.anna-testsson.json"
    done = subprocess.run([sys.executable, "-c", _CALLS, f"sqlite:///{tmp_path}/trappa.sqlite3", str(fixture)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == [["200 OK", 0]] * 3


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
