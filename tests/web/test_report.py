"""The card report (``python -m cds_service report``) over a database filled through the real server:
hook calls on the fixture requests, then feedback as an EHR posts it; the report run as a command in
all three formats, its counts checked against what the test did.

What the test does, and so what the report must say (T1, T2 = the first two topics of Anna's
order-sign cards, P = the first of her patient-view cards):

- order-sign for Anna three times (three calls of the same screen, as the sandbox makes): every topic
  of that response shown 3 times on trappa-order-sign;
  - T1: call 1's card accepted, call 2's overridden 'plan-elsewhere', call 3's left alone
    → shown 3, accepted 1, overridden 1 (plan-elsewhere 1), ignored 1, acceptance 0.333;
  - T2: call 1's overridden 'patient-declines', call 2's overridden with no reason, call 3's first
    overridden 'plan-elsewhere' and then (later outcomeTimestamp) accepted → counted once, accepted
    → shown 3, accepted 1, overridden 2 (patient-declines 1, no reason 1), ignored 0;
  - any other topic: shown 3, ignored 3;
- patient-view for Anna twice: P shown 2, call 1's card overridden with another system's reason;
- order-select for Bob once, no feedback: every topic shown 1, ignored 1;
- one call refused (400): a call, no cards;
- feedback on a card uuid no call issued: counted apart.

Answer times: the feedback's outcomeTimestamp is the call's time plus 60, 120, 600 … seconds.
"""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.support.service import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures/requests"


def fixture(name: str) -> dict:
    body = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    body["hookInstance"] = str(uuid.uuid4())
    return body


def stamp(at: datetime, seconds: float) -> str:
    return (at + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def run_report(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAPPA_")}
    env["TRAPPA_DATABASE_URL"] = database_url
    return subprocess.run([sys.executable, "-m", "cds_service", "report", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def filled():
    with ServiceProcess(workers=1) as server:
        made: dict = {"hook_instances": [], "uuids": [], "server": server}

        def call(service: str, name: str) -> tuple[datetime, list[dict]]:
            body = fixture(name)
            made["hook_instances"].append(body["hookInstance"])
            at = datetime.now(timezone.utc)
            resp = server.post(f"/cds-services/{service}", body)
            assert resp.status_code == 200, resp.text[:300]
            cards = resp.json()["cards"]
            made["uuids"] += [c["uuid"] for c in cards]
            return at, cards

        def feedback(service: str, *items: dict) -> None:
            resp = server.post(f"/cds-services/{service}/feedback", {"feedback": list(items)})
            assert resp.status_code == 200 and resp.json() == {"stored": len(items)}, resp.text[:300]

        def accepted(card: dict, when: str) -> dict:
            ids = [{"id": s["uuid"]} for s in card.get("suggestions", [])[:1]]
            return {"card": card["uuid"], "outcome": "accepted", "acceptedSuggestions": ids, "outcomeTimestamp": when}

        def overridden(card: dict, when: str, code: str | None, system: str = "urn:trappa:override-reason") -> dict:
            item = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": when}
            if code:  # as the sandbox sends it: system and code, no display
                item["overrideReason"] = {"reason": {"system": system, "code": code}}
            return item

        sign = [call("trappa-order-sign", "order-sign.anna-testsson") for _ in range(3)]
        topics = [c["source"]["topic"]["code"] for c in sign[0][1]]
        assert len(set(topics)) == len(topics) >= 2, "the test needs two card topics in Anna's order-sign"
        for _, cards in sign:
            assert [c["source"]["topic"]["code"] for c in cards] == topics
        t1, t2 = topics[0], topics[1]
        (at1, c1), (at2, c2), (at3, c3) = sign
        feedback(
            "trappa-order-sign",
            accepted(c1[0], stamp(at1, 60)),
            overridden(c2[0], stamp(at2, 120), "plan-elsewhere"),
            overridden(c1[1], stamp(at1, 600), "patient-declines"),
            overridden(c2[1], stamp(at2, 30), None),
        )
        # Overridden first, accepted later: the later answer counts. Sent in the other order.
        feedback("trappa-order-sign", accepted(c3[1], stamp(at3, 300)))
        feedback("trappa-order-sign", overridden(c3[1], stamp(at3, 200), "plan-elsewhere"))

        view = [call("trappa-patient-view", "patient-view.anna-testsson") for _ in range(2)]
        assert view[0][1], "the test needs a patient-view card for Anna"
        p = view[0][1][0]["source"]["topic"]["code"]
        feedback("trappa-patient-view", overridden(view[0][1][0], stamp(view[0][0], 45), "other", "urn:region:reasons"))

        _, select_cards = call("trappa-order-select", "order-select.bob-example")
        assert select_cards

        bad = server.post("/cds-services/trappa-order-sign", {"hook": "order-sign"})
        assert bad.status_code == 400
        feedback("trappa-order-sign", overridden({"uuid": str(uuid.uuid4())}, stamp(at1, 10), "plan-elsewhere"))

        made.update(
            t1=t1, t2=t2, p=p, sign_topics=topics,
            view_topics=[c["source"]["topic"]["code"] for c in view[0][1]],
            select_topics=[c["source"]["topic"]["code"] for c in select_cards],
            calls=3 + 2 + 1 + 1,
        )
        # The audit rows are written behind the responses: wait until the report sees every call.
        deadline = time.monotonic() + 10
        while True:
            out = run_report(server.database_url, "--format", "json")
            if out.returncode == 0 and json.loads(out.stdout)["calls"] == made["calls"]:
                break
            assert time.monotonic() < deadline, (out.returncode, out.stdout[-500:], out.stderr[-500:])
            time.sleep(0.2)
        made["database_url"] = server.database_url
        yield made


def rows_by_key(rows: list[dict]) -> dict[tuple[str, str], dict]:
    return {(r["service"], r["topic"]): r for r in rows}


def expected_rows(f) -> dict[tuple[str, str], dict]:
    """The rows the module docstring derives, written out."""
    def row(shown, accepted=0, overridden=0, reasons=None, rate=None, median=None):
        return {"shown": shown, "accepted": accepted, "overridden": overridden,
                "overriddenByReason": reasons or {}, "ignored": shown - accepted - overridden,
                "acceptanceRate": rate if rate is not None else round(accepted / shown, 3), "median": median}

    out = {}
    for topic in f["sign_topics"]:
        out[("trappa-order-sign", topic)] = row(3)
    out[("trappa-order-sign", f["t1"])] = row(3, 1, 1, {"plan-elsewhere": 1}, 0.333, 90.0)  # 60, 120
    out[("trappa-order-sign", f["t2"])] = row(3, 1, 2, {"patient-declines": 1, "(no reason)": 1}, 0.333,
                                              300.0)  # 600, 30, 300
    for topic in f["view_topics"]:
        out[("trappa-patient-view", topic)] = row(2)
    out[("trappa-patient-view", f["p"])] = row(2, 0, 1, {"urn:region:reasons#other": 1}, 0.0, 45.0)
    for topic in f["select_topics"]:
        out[("trappa-order-select", topic)] = row(1)
    return out


def assert_median(value, expected) -> None:
    if expected is None:
        assert value in (None, ""), value
    else:  # the service stamps the card a few milliseconds after the test's clock
        assert abs(float(value) - expected) < 2, (value, expected)


def test_json_report_counts(filled):
    out = run_report(filled["database_url"], "--format", "json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["period"] == {"from": None, "to": None}
    assert report["calls"] == filled["calls"] and report["failedCalls"] == 1
    got = rows_by_key(report["rows"])
    want = expected_rows(filled)
    assert set(got) == set(want)
    for key, exp in want.items():
        row = got[key]
        for name in ("shown", "accepted", "overridden", "overriddenByReason", "ignored", "acceptanceRate"):
            assert row[name] == exp[name], (key, name, row[name], exp[name])
        assert_median(row["medianAnswerSeconds"], exp["median"])
    total = report["total"]
    assert total["shown"] == 3 * len(filled["sign_topics"]) + 2 * len(filled["view_topics"]) + len(filled["select_topics"])
    assert (total["accepted"], total["overridden"]) == (2, 4)
    assert total["overriddenByReason"] == {"plan-elsewhere": 1, "patient-declines": 1, "(no reason)": 1,
                                           "urn:region:reasons#other": 1}
    assert total["ignored"] == total["shown"] - 6
    assert_median(total["medianAnswerSeconds"], 90.0)  # 30, 45, 60, 120, 300, 600
    assert report["feedbackOnCardsNotShownInPeriod"] == 1


def test_csv_report_counts(filled):
    out = run_report(filled["database_url"], "--format", "csv")
    assert out.returncode == 0, out.stderr
    reader = csv.DictReader(io.StringIO(out.stdout))
    reasons = ["(no reason)", "patient-declines", "plan-elsewhere", "urn:region:reasons#other"]
    assert reader.fieldnames == ["service", "topic", "shown", "accepted", "overridden", "ignored", "acceptanceRate",
                                 "medianAnswerSeconds"] + [f"overridden:{r}" for r in reasons]
    rows = list(reader)
    assert rows[-1]["service"] == rows[-1]["topic"] == "(all)"
    got = rows_by_key(rows[:-1])
    want = expected_rows(filled)
    assert set(got) == set(want)
    for key, exp in want.items():
        row = got[key]
        assert [int(row[n]) for n in ("shown", "accepted", "overridden", "ignored")] == [
            exp["shown"], exp["accepted"], exp["overridden"], exp["ignored"]], key
        assert float(row["acceptanceRate"]) == exp["acceptanceRate"], key
        assert {r: int(row[f"overridden:{r}"]) for r in reasons if int(row[f"overridden:{r}"])} == exp["overriddenByReason"]
        assert_median(row["medianAnswerSeconds"], exp["median"])
    assert int(rows[-1]["accepted"]) == 2 and int(rows[-1]["overridden"]) == 4


def test_table_report_counts(filled):
    out = run_report(filled["database_url"])  # table is the default
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert f"{filled['calls']} hook calls (1 answered with an error)" in lines[0]
    header = lines[2].split()
    assert header[:6] == ["service", "topic", "shown", "accepted", "overridden", "ignored"]
    want = expected_rows(filled)
    seen = {}
    for i, line in enumerate(lines):
        cells = line.split()
        if len(cells) >= 8 and (cells[0], cells[1]) in want:
            seen[(cells[0], cells[1])] = (cells, lines[i + 1] if i + 1 < len(lines) else "")
    assert set(seen) == set(want)
    for key, exp in want.items():
        cells, next_line = seen[key]
        assert [int(c) for c in cells[2:6]] == [exp["shown"], exp["accepted"], exp["overridden"], exp["ignored"]], key
        assert cells[6:8] == [f"{exp['acceptanceRate'] * 100:.0f}", "%"], key
        if exp["overriddenByReason"]:
            for reason, n in exp["overriddenByReason"].items():
                assert f"{reason} {n}" in next_line, (key, next_line)
        if exp["median"] is None:
            assert cells[8] == "–"
        else:
            assert_median(cells[8], exp["median"])
    total = next(line for line in lines if line.startswith("(all)")).split()
    assert total[3:5] == ["2", "4"]
    assert "Feedback on cards not shown in this period: 1." in out.stdout


def test_period_selects_cards_by_the_day_they_were_shown(filled):
    today = datetime.now(timezone.utc).date()
    around = run_report(filled["database_url"], "--from", str(today - timedelta(days=1)),
                        "--to", str(today + timedelta(days=1)), "--format", "json")
    report = json.loads(around.stdout)
    assert report["period"] == {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}
    assert report["calls"] == filled["calls"] and report["total"]["accepted"] == 2
    for args in (("--to", str(today - timedelta(days=2))), ("--from", str(today + timedelta(days=2)))):
        out = run_report(filled["database_url"], *args, "--format", "json")
        report = json.loads(out.stdout)
        assert report["calls"] == 0 and report["rows"] == [] and report["total"]["shown"] == 0
        # Every feedback row is now on a card not shown in the period (the answered cards, the stray one).
        assert report["feedbackOnCardsNotShownInPeriod"] == 7
        assert run_report(filled["database_url"], *args).returncode == 0  # an empty table prints too


def test_report_holds_no_patient_data_nor_identifiers(filled):
    for fmt in ("table", "csv", "json"):
        text = run_report(filled["database_url"], "--format", fmt).stdout
        for value in filled["uuids"] + filled["hook_instances"]:
            assert value not in text, fmt
        for word in ("anna", "testsson", "bob", "Patient/", "Practitioner/"):
            assert word not in text.lower(), (fmt, word)


def test_report_refuses_bad_input(tmp_path, filled):
    missing = run_report(f"sqlite:///{tmp_path}/none.sqlite3")
    assert missing.returncode == 2 and "no database file" in missing.stderr
    assert not (tmp_path / "none.sqlite3").exists()  # not created by looking
    import sqlite3

    sqlite3.connect(tmp_path / "other.sqlite3").execute("create table x (y)").connection.close()
    other = run_report(f"sqlite:///{tmp_path}/other.sqlite3")
    assert other.returncode == 2 and "no Trappa audit trail" in other.stderr
    backwards = run_report(filled["database_url"], "--from", "2026-02-01", "--to", "2026-01-01")
    assert backwards.returncode == 2 and "--from is after --to" in backwards.stderr
    bad_date = run_report(filled["database_url"], "--from", "yesterday")
    assert bad_date.returncode == 2 and "not an ISO date" in bad_date.stderr
