"""The benchmark (bench/run_bench.py) in miniature, so it cannot silently rot.

One smoke run goes through every step of ``./trappa bench`` — corpora, in-process evaluation, the
real production server and the floor under the load generator, memory sampling, the fallback path
against the real FHIR test server — with tiny corpora and fractions of a second per step. It asserts
that the responses are right (status 200, cards for the corpus patient, the floor's empty list, zero
errors), never how fast they came.
"""
from __future__ import annotations

import json

import pytest

from bench import run_bench
from bench.corpus import (
    EXPECTED_MEDD_MG,
    TODAY,
    build_corpus,
    build_record,
    counts,
    hook_request,
    prefetch,
    transaction,
)


# ------------------------------------------------------------------------------------------------
# The corpus generator
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, conditions, careplans, flags, service_requests", [
    # Proportions from bench/corpus.py: Conditions n/10 (≥ 2), CarePlans n/50 (≥ 1), Flags n/100 (≥ 1),
    # ServiceRequests n/100.
    (10, 2, 1, 1, 0),        # 10/10 = 1 → at least 2; 10/50 = 0 → 1; 10/100 = 0 → 1; 0
    (1000, 100, 20, 10, 10),  # 1000/10, 1000/50, 1000/100, 1000/100
])
def test_record_has_n_medication_requests_and_the_rest_in_proportion(n, conditions, careplans, flags, service_requests):
    c = counts(build_record(n))
    assert c["MedicationRequest"] == n
    assert c["Patient"] == 1
    assert c["Condition"] == conditions
    assert c["CarePlan"] == careplans
    assert c["Flag"] == flags
    assert c.get("ServiceRequest", 0) == service_requests


def test_record_mix_is_realistic_and_references_resolve():
    record = build_record(1000)
    requests = record.of_type("MedicationRequest")
    atcs = {r["medicationCodeableConcept"]["coding"][0]["code"] for r in requests if "medicationCodeableConcept" in r}
    assert {"N02AA05", "N02AX02", "N02AB03", "N02AE01"} <= atcs  # several opioids, incl. patches
    assert {"N05BA01", "N05BA04"} <= atcs  # benzodiazepines
    assert "N02BE01" in atcs  # paracetamol
    by_ref = [r for r in requests if "medicationReference" in r]
    med_ids = {f"Medication/{m['id']}" for m in record.of_type("Medication")}
    # About 5 % by reference (1000 × 0.05 = 50; random, so a generous band), every one resolvable.
    assert 20 <= len(by_ref) <= 90
    assert all(r["medicationReference"]["reference"] in med_ids for r in by_ref)
    prn = [r for r in requests if r["dosageInstruction"][0].get("asNeededBoolean")]
    stu3 = [r for r in requests if "doseQuantity" in r["dosageInstruction"][0]]
    assert len(prn) >= 50 and len(stu3) >= 50
    assert all("doseAndRate" not in r["dosageInstruction"][0] for r in stu3)


def test_record_is_deterministic_and_the_history_lies_before_today():
    a, b = build_record(100), build_record(100)
    assert a.resources == b.resources
    history = [r for r in a.of_type("MedicationRequest") if "-mr-" in r["id"]]
    assert history and all(r["status"] in ("completed", "stopped") for r in history)
    assert all(r["authoredOn"] < TODAY.isoformat() for r in a.of_type("MedicationRequest"))


def test_requests_with_and_without_prefetch():
    record = build_record(10)
    with_pf = hook_request(record)
    assert set(with_pf["prefetch"]) == {"patient", "medicationRequests", "medicationDispenses", "medicationStatements",
                                        "conditions", "flags", "carePlans", "serviceRequests"}
    assert with_pf["prefetch"]["medicationRequests"]["total"] == 10
    without = hook_request(record, with_prefetch=False, fhir_server="http://127.0.0.1:1/fhir")
    assert "prefetch" not in without and without["fhirServer"] == "http://127.0.0.1:1/fhir"
    assert without["context"]["draftOrders"]["entry"][0]["resource"]["status"] == "draft"
    assert len(transaction(record)["entry"]) == len(record.resources)
    assert prefetch(record)["patient"]["id"] == "bench-10"


def test_load_generator_connection_reads_content_length_and_chunked_bodies():
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def serve():
        conn, _ = server.accept()
        with conn:
            for answer in (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                           b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"):
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                conn.sendall(answer)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    client = run_bench.Connection("127.0.0.1", port)
    payload = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert client.request(payload) == (200, b"hello")
    assert client.request(payload) == (404, b"abcde")
    client.close()
    server.close()


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert run_bench.percentile(values, 50) == 50.0  # rank ceil(0.50 × 100) = 50
    assert run_bench.percentile(values, 99) == 99.0  # rank ceil(0.99 × 100) = 99
    assert run_bench.percentile([3.0, 1.0, 2.0], 99) == 3.0  # rank ceil(0.99 × 3) = 3
    assert run_bench.percentile([], 50) is None


# ------------------------------------------------------------------------------------------------
# One smoke run of the whole benchmark
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-results")
    result = run_bench.run(run_bench.SMOKE, out, workers=2, threads=2)
    return result


def test_smoke_run_has_no_errors_and_writes_json(smoke):
    assert smoke["errors"] == 0
    written = json.loads(open(smoke["written_to"], encoding="utf-8").read())
    assert written["profile"] == "smoke"
    assert written["machine"]["nproc"] >= 1


def test_in_process_cards_for_the_corpus_patient(smoke):
    for n in run_bench.SMOKE.sizes:
        size = smoke["in_process"]["sizes"][n]
        assert size["problem"] is None
        assert size["cards"] >= 1
        assert size["reps"] >= run_bench.SMOKE.inproc_min_reps
        assert size["median_ms"] > 0


def test_in_process_response_carries_the_corpus_facts():
    # The corpus patient takes oxycodone depot 10 mg, 1 tablet twice a day: 20 mg/day × factor 2 = 40 mg MEDD.
    from cds_service.protocol.services import SERVICES

    entry = build_corpus((10,))[10]
    _, response = run_bench.evaluate_once(entry.body, run_bench._dev_settings(), SERVICES["trappa-order-sign"])
    assert run_bench.check_cards(response) is None
    assert EXPECTED_MEDD_MG == 40
    assert {c["extension"]["trappa"]["meddMg"] for c in response["cards"]} == {40}


def test_http_every_request_answered_correctly_by_ours_and_the_floor(smoke):
    http = smoke["http"]
    assert len(http["trappa"]) == len(http["floor"]) == len(run_bench.SMOKE.http_points)
    for run in http["trappa"] + http["floor"]:
        assert run["errors"] == 0, run["error_samples"]
        assert run["requests"] >= 1
        assert run["checked"] >= 1  # bodies were validated, not only statuses
    assert {(c["size"], c["concurrency"]) for c in http["comparison"]} == set(run_bench.SMOKE.http_points)


def test_fallback_path_answers_without_prefetch(smoke):
    runs = smoke["fallback"]["runs"]
    assert {(r["size"], r["delay_ms"]) for r in runs} == {(10, 0), (10, 20)}
    for r in runs:
        assert r["errors"] == 0, r["error_samples"]
        assert r["reps"] == run_bench.SMOKE.fallback_reps
        # 10 MedicationRequests at the server's page size 20: one page; the other keys one page each.
        assert r["pages"]["medicationRequests"] == 1
        assert r["service_ms"] > 0 and r["slowest_query_ms"] > 0
    delayed = next(r for r in runs if r["delay_ms"] == 20)
    assert delayed["slowest_query_ms"] >= 20  # the delay applies to every FHIR response


def test_memory_sampled_for_every_worker(smoke):
    mem = smoke["memory"]
    assert mem["errors"] == 0
    assert mem["same_workers_throughout"]
    assert len(mem["workers"]) == 2
    assert all(w["samples"] and w["start_mib"] > 0 for w in mem["workers"])
    for w in mem["workers"]:  # the verdict's measure: the fitted line over the run
        assert w["fitted_growth_mib"] == pytest.approx(w["trend_mib_per_min"] * mem["seconds"] / 60, abs=0.02)
    assert mem["flat"] == all(w["fitted_growth_mib"] <= 1.0 for w in mem["workers"])


def test_memory_trend_is_the_least_squares_slope():
    leak = [(t, 70_000 + 10 * t) for t in range(60)]  # 10 KiB a second: 0.59 MiB a minute
    assert run_bench._trend_kib_per_s(leak) == pytest.approx(10.0)
    # A large record in flight every few samples (+2 MiB) around a flat level: no trend.
    swings = [(t, 70_000 + (2048 if t % 4 == 1 else 0)) for t in range(60)]
    assert abs(run_bench._trend_kib_per_s(swings)) < 1.0
    assert run_bench._trend_kib_per_s([(0, 1), (1, 2)]) is None
    assert run_bench._trend_kib_per_s([(5, 1), (5, 2), (5, 3)]) is None


def test_table_names_every_section(smoke):
    text = run_bench.table(smoke)
    for heading in ("In-process", "HTTP", "Fallback", "Memory", "Targets"):
        assert heading in text


# ------------------------------------------------------------------------------------------------
# Instructions per evaluation (./trappa bench --instructions)
# ------------------------------------------------------------------------------------------------


def test_instructions_counted_per_evaluation_or_said_why_not(tmp_path, capsys):
    """Under valgrind (on every machine of the project's kind, CI included): the count is of one
    evaluation, start-up cancelled out. Without it (a newcomer's laptop, say): exit 1 and the reason."""
    from bench import instructions

    status = run_bench.run_instructions(tmp_path, sizes=(10,), reps={10: 2})
    [path] = tmp_path.glob("*-instructions.json")
    written = json.loads(path.read_text(encoding="utf-8"))["instructions"]
    printed = capsys.readouterr().out
    if instructions.unavailable():
        assert status == 1 and written["available"] is False
        assert "valgrind" in written["reason"] and "not counted" in printed
        return
    assert status == 0 and written["available"] is True, written
    per_call = written["sizes"]["10"]["instructions"]
    # One evaluation of a 10-order record is a few million instructions; Python's start-up with the
    # service's imports alone is over a billion, so a count that kept it would be far above this.
    assert 1_000_000 < per_call < 100_000_000
    assert written["sizes"]["10"]["per_medication_request"] == round(per_call / 10)
    assert "Instructions per in-process evaluation" in printed


def test_instructions_without_valgrind_say_so_and_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no valgrind to be found (the child Python is absolute)
    assert run_bench.run_instructions(tmp_path, sizes=(10,), reps={10: 2}) == 1
    [path] = tmp_path.glob("*-instructions.json")
    written = json.loads(path.read_text(encoding="utf-8"))["instructions"]
    assert written == {"available": False, "reason": "valgrind is not installed (Debian: apt-get install valgrind)",
                       "sizes": {}}
    assert "not counted — valgrind is not installed" in capsys.readouterr().out
