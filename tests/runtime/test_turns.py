"""Evaluation turns (``cds_service.runtime.turns``): one evaluation computes at a time per worker; waiting for a
FHIR server gives the turn up. Unit tests of the mechanism, then the real server with a slow FHIR server."""
from __future__ import annotations

import copy
import threading
import time

import requests

from cds_service.runtime.turns import EvaluationTurns
from conftest import load_fixture
from tests.support.scripted_fhir import Reply, ScriptedServer
from tests.support.service import ServiceProcess


def test_only_one_thread_holds_the_turn_and_waiting_gives_it_up():
    turns = EvaluationTurns()
    inside, most, log = [0], [0], []
    lock = threading.Lock()

    def evaluation(name: str, wait_s: float):
        with turns.turn():
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.01)  # "computing"
            with lock:
                inside[0] -= 1
            with turns.waiting():  # "a FHIR fetch": others may compute meanwhile
                log.append(("waiting", name))
                time.sleep(wait_s)
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            with turns.turn():  # re-entrant: no deadlock
                time.sleep(0.005)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=evaluation, args=(f"t{i}", 0.2)) for i in range(4)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    elapsed = time.monotonic() - started
    assert most[0] == 1  # never two computing at once
    assert len(log) == 4
    assert elapsed < 0.5  # the four 0.2 s waits overlapped: the turn was given up while waiting


def test_waiting_outside_a_turn_is_harmless():
    turns = EvaluationTurns()
    with turns.waiting():
        pass
    with turns.turn():
        pass


def test_a_slow_fhir_server_delays_only_the_calls_that_need_it():
    """One worker, its threads: a call whose data must come from a FHIR server that takes 1.5 s, and
    meanwhile calls with complete prefetch, which must not wait for it."""
    slow = ScriptedServer(lambda seen: Reply(200, {"resourceType": "Bundle", "type": "searchset", "entry": []},
                                             delay_s=1.5))
    with slow:
        env = {"TRAPPA_FHIR_ALLOWLIST": slow.origin, "TRAPPA_FHIR_BUDGET": "3", "TRAPPA_FHIR_TIMEOUT": "2.5"}
        with ServiceProcess(env=env, workers=1) as proc:
            complete = load_fixture("requests/order-sign.anna-testsson.json")
            needs_fetch = copy.deepcopy(complete)
            del needs_fetch["prefetch"]["conditions"]  # optional data: fetched from the slow server
            needs_fetch["fhirServer"] = slow.base_url
            url = proc.base_url + "/cds-services/trappa-order-sign"
            assert requests.post(url, json=complete, timeout=10).status_code == 200  # warm

            slow_answer = {}

            def call_slow():
                t0 = time.monotonic()
                slow_answer["resp"] = requests.post(url, json=needs_fetch, timeout=10)
                slow_answer["s"] = time.monotonic() - t0

            t = threading.Thread(target=call_slow)
            t.start()
            time.sleep(0.3)  # the slow call is now waiting for the FHIR server
            quick = []
            for _ in range(3):
                t0 = time.monotonic()
                assert requests.post(url, json=complete, timeout=10).status_code == 200
                quick.append(time.monotonic() - t0)
            t.join(10)
    assert slow_answer["resp"].status_code == 200 and slow_answer["s"] >= 1.4
    assert any(r.path.startswith("/Condition") or "Condition" in r.path for r in slow.requests())
    assert max(quick) < 0.8, quick  # they did not wait for the slow call's FHIR server
