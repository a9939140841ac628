"""``./trappa demo`` as a user runs it: started on free ports, its FHIR server holds the fixture
patients rolled to today, its service answers discovery and a sandbox-like patient-view through the
fallback path with the cards of the reference day, the curl requests it wrote are rolled and answered,
and Ctrl-C (SIGINT) ends both processes, workers included, and frees the ports. One demo for the whole
module (its start is most of the time); the SIGINT test comes last and stops it. First its parts,
without processes: what it collects and loads, the sandbox links."""
from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from conftest import FIXTURES, ROOT
from demo.roll import REFERENCE_DATE, days_to, roll, shift
from demo.run import collect, load, main, port_free, sandbox_url, write_requests
from tests.support.rolling import card_essence, topics
from tests.support.service import free_port

START_TIMEOUT_S = 180  # the first run may install npm packages
_http = requests.Session()
_http.trust_env = False  # loopback only


@dataclass
class Demo:
    proc: subprocess.Popen
    lines: list[str]
    port: int
    fhir_port: int
    fhir_base: str
    service: str
    fhir_pid: int
    service_pid: int
    today: date
    shift: int
    requests_dir: Path
    output: queue.Queue  # the lines it prints after "Ready" (None at the end)


def _read_lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))
    into.put(None)


def _start_demo(tmp_path_factory) -> Demo:
    port, fhir_port = free_port(), free_port()
    while fhir_port == port:
        fhir_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAPPA_")}
    stderr = open(tmp_path_factory.mktemp("demo") / "stderr.log", "w+")
    proc = subprocess.Popen([str(ROOT / "trappa"), "demo", "--port", str(port), "--fhir-port", str(fhir_port),
                             "--workers", "1"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    proc.stderr_file = stderr  # type: ignore[attr-defined]
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT_S
    while not seen or not seen[-1].startswith("Ready"):
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            proc.kill()
            stderr.seek(0)
            pytest.fail(f"the demo did not get ready:\n{chr(10).join(seen)}\n{stderr.read()[-3000:]}")
        seen.append(line)
    text = "\n".join(seen)
    rolled = re.search(r"rolled by ([+-]\d+) days to today, (\d{4}-\d{2}-\d{2})", text)
    fhir = re.search(r"FHIR server  (\S+)  \(pid (\d+)", text)
    service = re.search(r"CDS service  (\S+)/cds-services  \(pid (\d+)", text)
    requests_dir = re.search(r"curl \(requests rolled to today, in (.+)\):", text)
    assert rolled and fhir and service and requests_dir, text
    return Demo(proc, seen, port, fhir_port, fhir[1], service[1], int(fhir[2]), int(service[2]),
                date.fromisoformat(rolled[2]), int(rolled[1]), Path(requests_dir[1]), lines)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = _start_demo(tmp_path_factory)
    yield d
    if d.proc.poll() is None:  # a test failed before the SIGINT test: stop it all the same
        d.proc.send_signal(signal.SIGINT)
        try:
            d.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            d.proc.kill()
    d.proc.stderr_file.close()


def _load(relpath: str) -> dict:
    return json.loads((FIXTURES / relpath).read_text(encoding="utf-8"))


def _reference_cards(body: dict) -> list[dict]:
    """The cards of a prefetch fixture on the day it is written for, evaluated in this process."""
    from cds_service.web.config import Settings
    from cds_service.protocol.evaluate import evaluate_request
    from cds_service.protocol.services import SERVICES

    service = next(s for s in SERVICES.values() if s.hook == body["hook"])
    return evaluate_request(service, body, Settings(allow_clock_override=True, auth_required=False), None,
                            "sv").response["cards"]


PATIENTS = sorted(p.stem for p in (FIXTURES / "patients").glob("*.json"))
VIEWED = [p for p in PATIENTS if (FIXTURES / "requests" / f"patient-view.{p}.json").exists()]


# --------------------------------------------------------------------------------------------------
# Its parts, without processes


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")


def test_collect_rolls_every_file_loads_each_resource_once_and_says_what_it_left_out(tmp_path):
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1968-03-14"}
    order = {"resourceType": "MedicationRequest", "id": "mr1", "authoredOn": "2026-11-13",
             "subject": {"reference": "Patient/p1"}}
    _write(tmp_path / "patients" / "p1.json", {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient, "request": {"method": "PUT", "url": "Patient/p1"}},
        {"resource": order, "request": {"method": "PUT", "url": "MedicationRequest/mr1"}}]})
    today = {"trappa": {"today": "2026-11-23"}}
    _write(tmp_path / "requests" / "a.json", {"hook": "patient-view", "context": {"patientId": "p1"}, "extension": today,
                                              "prefetch": {"patient": patient, "flags": None, "medicationRequests": {
                                                  "resourceType": "Bundle", "entry": [{"resource": order}]}}})
    _write(tmp_path / "requests" / "a.expected.json", {"topics": []})
    other = dict(patient, birthDate="1970-01-01")
    _write(tmp_path / "requests" / "b.json", {"hook": "patient-view", "extension": today,
                                              "prefetch": {"patient": other, "more": {"resourceType": "Patient", "id": "p2"}}})
    _write(tmp_path / "requests" / "c.no-prefetch.json", {"hook": "patient-view", "context": {"patientId": "p1"},
                                                          "extension": today, "fhirServer": "http://placeholder/fhir"})
    _write(tmp_path / "requests" / "d.json", '{"hook": "patient-view"}\ntrailing text')
    got = collect(date(2026, 12, 3), tmp_path)
    assert [(source.rsplit("/", 1)[-1], [e["request"]["url"] for e in b["entry"]]) for source, b in got.bundles] == [
        ("p1.json", ["Patient/p1", "MedicationRequest/mr1"]), ("b.json", ["Patient/p2"])]
    assert got.bundles[0][1]["entry"][1]["resource"]["authoredOn"] == "2026-11-23"  # rolled by +10
    assert [p["id"] for _, p in got.patients] == ["p1", "p2"]
    assert got.conflicts == [f"Patient/p1 ({tmp_path}/patients/p1.json, {tmp_path}/requests/b.json)"]
    assert [s.split(":")[0] for s in got.skipped] == [f"{tmp_path}/requests/d.json"]
    assert [name for name, _ in got.requests] == ["a.json", "b.json", "c.no-prefetch.json"]
    a = dict(got.requests)["a.json"]
    assert "extension" not in a and a["prefetch"]["medicationRequests"]["entry"][0]["resource"]["authoredOn"] == "2026-11-23"
    write_requests(got, tmp_path / "out", "http://127.0.0.1:1/fhir")
    assert json.loads((tmp_path / "out" / "c.no-prefetch.json").read_text())["fhirServer"] == "http://127.0.0.1:1/fhir"
    assert "fhirServer" not in json.loads((tmp_path / "out" / "a.json").read_text())


def test_no_two_fixtures_hold_one_resource_differently():
    """The demo loads every fixture into one FHIR server: a resource id that two fixtures use for
    different resources is loaded from the first only, and the second patient loses it (Eva Sand's
    orders were Eva Sund's, so the sandbox showed her no card at all)."""
    got = collect(REFERENCE_DATE)
    assert got.conflicts == []


def test_load_leaves_out_only_the_resources_the_server_refuses():
    class Refusing:
        def __init__(self):
            self.stored = []

        def load(self, bundle):
            if any(e["resource"]["id"] == "bad" for e in bundle["entry"]):
                raise KeyError("refused")
            self.stored += [e["request"]["url"] for e in bundle["entry"]]

    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "id": i}, "request": {"method": "PUT", "url": f"Patient/{i}"}}
        for i in ("a", "bad", "c")]}
    server = Refusing()
    loaded, failed = load(server, [("x.json", bundle)], KeyError)
    assert (loaded, server.stored) == (2, ["Patient/a", "Patient/c"])
    assert failed == ["x.json Patient/bad: 'refused'"]


def test_a_sandbox_url_names_server_services_patient_hook_and_screen():
    url = sandbox_url("http://127.0.0.1:8091/fhir", "http://127.0.0.1:8090/cds-services", "anna-testsson",
                      "order-select", "rx-view")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "sandbox.cds-hooks.org", "/")
    assert "fhirServiceUrl=http%3A%2F%2F127.0.0.1%3A8091%2Ffhir" in url  # URL-encoded, as the sandbox asks
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {
        "fhirServiceUrl": "http://127.0.0.1:8091/fhir", "serviceDiscoveryURL": "http://127.0.0.1:8090/cds-services",
        "patientId": "anna-testsson", "hook": "order-select", "screen": "rx-view"}
    local = sandbox_url("http://127.0.0.1:8091/fhir", "http://127.0.0.1:8090/cds-services", "anna-testsson",
                        "order-sign", "rx-sign", "http://127.0.0.1:8095")  # a copy of the sandbox run offline
    assert local.startswith("http://127.0.0.1:8095/?") and "hook=order-sign&screen=rx-sign" in local


def test_a_sandbox_that_is_no_http_url_is_refused_before_anything_starts(capsys):
    assert main(["--sandbox", "file:///tmp/sandbox", "--port", "0", "--fhir-port", "0"]) == 2
    assert "--sandbox" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# The demo, running


def test_the_demo_rolls_to_today(demo):
    assert abs((demo.today - date.today()).days) <= 1  # the test may straddle midnight
    assert demo.shift == (demo.today - REFERENCE_DATE).days


@pytest.mark.parametrize("patient", PATIENTS)
def test_its_fhir_server_holds_the_patient_rolled_to_today(demo, patient):
    bundle = _load(f"patients/{patient}.json")
    written = sorted(e["resource"]["authoredOn"] for e in bundle["entry"]
                     if e["resource"]["resourceType"] == "MedicationRequest")
    resp = _http.get(f"{demo.fhir_base}/MedicationRequest", params={"patient": patient, "_count": 1000}, timeout=10)
    assert resp.status_code == 200
    served = sorted(e["resource"]["authoredOn"] for e in resp.json().get("entry", []))
    assert served == [shift(d, demo.shift) for d in written]
    newest = date.fromisoformat(served[-1])
    assert demo.today - timedelta(days=60) <= newest <= demo.today  # a history that reaches today
    (p,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    got = _http.get(f"{demo.fhir_base}/Patient/{patient}", timeout=10).json()
    assert got["birthDate"] == shift(p["birthDate"], demo.shift)


def test_its_fhir_server_holds_the_prefetch_patients_too(demo):
    wanted = set(PATIENTS)
    for path in (FIXTURES / "requests").glob("*.json"):
        patient = (_load(f"requests/{path.name}").get("prefetch") or {}).get("patient")
        if isinstance(patient, dict) and patient.get("resourceType") == "Patient":
            wanted.add(patient["id"])
    assert len(wanted) > len(PATIENTS)
    resp = _http.get(f"{demo.fhir_base}/Patient", params={"_count": 1000}, timeout=10)
    assert {e["resource"]["id"] for e in resp.json()["entry"]} >= wanted


def test_it_prints_three_sandbox_links_per_patient(demo):
    links = [urlsplit(line.split()[-1]) for line in demo.lines if "https://sandbox.cds-hooks.org/?" in line]
    by_patient: dict[str, set] = {}
    for link in links:
        q = {k: v[0] for k, v in parse_qs(link.query).items()}
        assert q["fhirServiceUrl"] == demo.fhir_base
        assert q["serviceDiscoveryURL"] == f"{demo.service}/cds-services"
        by_patient.setdefault(q["patientId"], set()).add((q["screen"], q["hook"]))
    assert set(PATIENTS) <= set(by_patient)
    for screens in by_patient.values():
        assert screens == {("patient-view", "patient-view"), ("rx-view", "order-select"), ("rx-sign", "order-sign")}


def test_its_service_answers_discovery(demo):
    resp = _http.get(f"{demo.service}/cds-services", timeout=10)
    assert resp.status_code == 200
    assert sorted(s["id"] for s in resp.json()["services"]) == [
        "trappa-medication-prescribe", "trappa-order-select", "trappa-order-sign", "trappa-patient-view"]


def test_the_fixture_patients_have_their_patient_view_requests():
    assert VIEWED == PATIENTS  # each patient's sandbox-like call is compared with its reference request


@pytest.mark.parametrize("patient", VIEWED)
def test_a_sandbox_like_patient_view_through_the_fallback_gets_the_cards_of_the_reference_day(demo, patient):
    """As the sandbox calls it when no prefetch is fulfilled: no extension.trappa.today, no token, only
    the fhirServer; the service fetches the patient from the demo's FHIR server, as of its own today."""
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "fhirServer": demo.fhir_base,
            "context": {"userId": "Practitioner/example", "patientId": patient}}
    controls = demo.fhir_base.removesuffix("/fhir") + "/$test/requests"
    _http.delete(controls, timeout=10)
    resp = _http.post(f"{demo.service}/cds-services/trappa-patient-view", json=body, timeout=10)
    assert resp.status_code == 200, resp.text[:500]
    fetched = [r["path"] for r in _http.get(controls, timeout=10).json()]
    assert any(p.startswith(f"/fhir/MedicationRequest?patient={patient}") for p in fetched), fetched
    reference = _reference_cards(_load(f"requests/patient-view.{patient}.json"))
    assert reference
    assert topics(resp.json()["cards"]) == topics(reference)
    assert card_essence(resp.json()["cards"], demo.shift) == card_essence(reference)


def test_the_curl_requests_are_rolled_to_today_and_get_the_cards_of_the_reference_day(demo):
    written = sorted(demo.requests_dir.glob("*.json"))
    originals = sorted(name for name, _ in collect(demo.today).requests)
    assert len(originals) >= 40
    assert [p.name for p in written] == originals
    for path in written:
        body = json.loads(path.read_text(encoding="utf-8"))
        assert "today" not in (body.get("extension") or {}).get("trappa", {}), path.name
        original = _load(f"requests/{path.name}")
        if not original.get("prefetch"):
            assert body["fhirServer"] == demo.fhir_base
            twin = FIXTURES / "requests" / path.name.replace(".no-prefetch", "")
            if not twin.exists():
                continue
            original = _load(f"requests/{twin.name}")
        else:
            assert body["prefetch"] == roll(original, days_to(original, demo.today))["prefetch"]
        resp = _http.post(f"{demo.service}/cds-services/trappa-{body['hook']}", json=body, timeout=10)
        assert resp.status_code == 200, (path.name, resp.text[:300])
        reference = _reference_cards(original)
        assert topics(resp.json()["cards"]) == topics(reference), path.name
        assert card_essence(resp.json()["cards"], days_to(original, demo.today)) == card_essence(reference), path.name


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_ctrl_c_stops_both_servers_and_frees_the_ports(demo):
    processes = _descendants(demo.proc.pid)
    assert {demo.fhir_pid, demo.service_pid} <= processes
    assert len(processes & _descendants(demo.service_pid)) >= 1  # gunicorn's worker
    demo.proc.send_signal(signal.SIGINT)
    assert demo.proc.wait(timeout=30) == 0
    after = []
    while (line := demo.output.get(timeout=5)) is not None:
        after.append(line)
    assert after[-1] == "Stopped: FHIR server and service ended, ports free.", after
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p in processes if _alive(p)] == []
    assert port_free(demo.port) and port_free(demo.fhir_port)
    assert not demo.requests_dir.exists()  # the temporary directory is gone
