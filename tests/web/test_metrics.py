"""Prometheus metrics through the real server (gunicorn, two workers, production configuration):
counted in each worker, summed by the master on its own loopback port (cds_service/web/metrics.py)."""
from __future__ import annotations

import json
import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from conftest import load_fixture
from tests.support.jwt_keys import JwksServer, SigningKey, claims, unsigned_token
from tests.support.service import ServiceProcess

ISS = "https://ehr.metrics.test"
HOOK = "/cds-services/trappa-patient-view"


@pytest.fixture(scope="module")
def key():
    return SigningKey("ES384")


@pytest.fixture(scope="module")
def server(key):
    with JwksServer() as jwks:
        jwks.publish("jwks.json", [key])
        env = {"TRAPPA_TRUSTED_ISSUERS": json.dumps([{"iss": ISS, "jwks_url": jwks.url("jwks.json")}])}
        with ServiceProcess(env=env, dev=False, workers=2) as proc:
            yield proc


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, (label, value) pairs sorted): value} of an exposition text."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def calls(values: dict, service="trappa-patient-view", status="200") -> float:
    return values.get(("trappa_hook_calls_total", (("service", service), ("status", status))), 0.0)


def metrics_dir(proc: ServiceProcess) -> Path:
    found = re.search(r"workers' files in (\S+)\)", proc.log())
    assert found, "the master logs where the workers' metric files are"
    return Path(found.group(1))


def per_worker_calls(proc: ServiceProcess) -> dict[int, float]:
    """Hook calls (200) counted by each worker, read from its own file."""
    out = {}
    for path in metrics_dir(proc).glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for metric in MultiProcessCollector.merge([str(path)]):
            for s in metric.samples:
                if s.name == "trappa_hook_calls_total" and s.labels == {"service": "trappa-patient-view", "status": "200"}:
                    out[pid] = s.value
    return out


def hook_call(proc: ServiceProcess, key) -> int:
    token = key.token(claims(ISS, proc.base_url + HOOK))
    body = load_fixture("requests/patient-view.anna-testsson.json")
    # a fresh connection each time, so that either worker may take it
    return requests.post(proc.base_url + HOOK, json=body, headers={"Authorization": f"Bearer {token}"},
                         timeout=20).status_code


def test_counters_move_with_calls_served_by_two_workers(server, key):
    before = samples(server.metrics())
    sent = 0
    deadline = time.monotonic() + 60
    with ThreadPoolExecutor(max_workers=6) as pool:
        while len([v for v in per_worker_calls(server).values() if v > 0]) < 2:
            assert time.monotonic() < deadline and sent < 300, f"one worker served every call: {per_worker_calls(server)}"
            assert list(pool.map(lambda _: hook_call(server, key), range(12))) == [200] * 12
            sent += 12
    after = samples(server.metrics())
    workers = per_worker_calls(server)
    assert len(workers) == 2, workers
    # the endpoint's count is the sum of the two workers' files, and moved by exactly the calls sent
    assert calls(after) - calls(before) == sent
    assert calls(after) == sum(workers.values())
    duration = ("trappa_hook_call_duration_seconds_count", (("service", "trappa-patient-view"),))
    assert after[duration] - before.get(duration, 0) == sent
    cards = {k[1]: v for k, v in after.items() if k[0] == "trappa_cards_total"}
    assert cards.get((("topic", "opioid-review"),), 0) >= sent  # patient-view of a long-term opioid user


def test_refusals_are_counted_by_reason(server, key):
    before = samples(server.metrics())
    body = load_fixture("requests/patient-view.anna-testsson.json")
    assert server.post(HOOK, body).status_code == 401
    none_token = unsigned_token(claims(ISS, server.base_url + HOOK), key.kid)
    assert server.post(HOOK, body, headers={"Authorization": f"Bearer {none_token}"}).status_code == 401
    replayed = key.token(claims(ISS, server.base_url + HOOK))
    assert server.post(HOOK, body, headers={"Authorization": f"Bearer {replayed}"}).status_code == 200
    assert server.post(HOOK, body, headers={"Authorization": f"Bearer {replayed}"}).status_code == 401
    after = samples(server.metrics())
    for reason in ("missing", "algorithm", "replay"):
        k = ("trappa_auth_refusals_total", (("reason", reason),))
        assert after[k] - before.get(k, 0) == 1, reason
    assert calls(after, status="401") - calls(before, status="401") == 3
    # what /health no longer says is here, behind the loopback port
    assert after[("trappa_info", (("authentication", "required"), ("dev_mode", "false"), ("log_format", "text")))] == 1
    assert after[("trappa_trusted_issuers", (("iss", ISS),))] == 1


def test_counts_survive_a_worker_that_is_replaced(server, key):
    before = calls(samples(server.metrics()))
    victim = max(per_worker_calls(server), key=lambda pid: per_worker_calls(server)[pid])
    os.kill(victim, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while len(re.findall(r"Booting worker with pid", server.log())) < 3:
        assert time.monotonic() < deadline, "gunicorn did not replace the worker"
        time.sleep(0.1)
    assert calls(samples(server.metrics())) == before  # the exited worker's counts are kept
    assert hook_call(server, key) == 200
    assert calls(samples(server.metrics())) == before + 1


def test_the_endpoint_is_on_loopback_and_not_on_the_service_port(server):
    assert server.get("/metrics").status_code == 404
    assert f"metrics endpoint on http://127.0.0.1:{server.metrics_port}/metrics" in server.log()


def test_the_directory_is_removed_at_exit_and_metrics_can_be_off(key):
    proc = ServiceProcess(workers=1).start()
    try:
        path = metrics_dir(proc)
        assert path.is_dir()
    finally:
        proc.cleanup()
    assert not path.exists()
    with ServiceProcess(env={"TRAPPA_METRICS_PORT": "off"}, workers=1) as off:
        assert off.post(HOOK, load_fixture("requests/patient-view.anna-testsson.json")).status_code == 200
        assert "metrics endpoint" not in off.log()
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{off.metrics_port}/metrics", timeout=5)


def test_a_port_in_use_leaves_the_service_serving_without_metrics(server):
    with ServiceProcess(env={"TRAPPA_METRICS_PORT": str(server.metrics_port)}, workers=1) as clash:
        assert clash.post(HOOK, load_fixture("requests/patient-view.anna-testsson.json")).status_code == 200
        assert "metrics endpoint not started: cannot listen on 127.0.0.1" in clash.log()
