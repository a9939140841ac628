"""The planner's JSON API, its proposals and links, through the real server process (gunicorn, SQLite),
and in process the claim it rests on: the API's schedule is the card's schedule for the same inputs."""
from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests
from jsonschema import Draft202012Validator

from cds_service.web.config import Settings
from cds_service.protocol.evaluate import evaluate_request
from cds_service.rules import taper_plan_missing
from cds_service.protocol.services import SERVICES
from cds_service.domain.taper import Pace
from cds_service.domain.taper_plan_inputs import PlanInputs, base_schedule
from cds_service.web.planner import proposals
from cds_service.domain.model import Exposure, Form
from tests.conftest import FIXTURES, load_fixture
from tests.support.planner import first_body, page_config, planner_links, table_lines, token_of

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "cds_service" / "protocol" / "schemas"
RESPONSE_SCHEMA = Draft202012Validator(json.loads((SCHEMAS / "taper-schedule.response.schema.json").read_text()))


def _requests():
    for path in sorted(FIXTURES.glob("requests/*.json")):
        if path.name.endswith(".expected.json") or ".no-prefetch." in path.name:
            continue
        yield path


def _inputs(stored: dict, pace=None) -> PlanInputs:
    return PlanInputs(ingredient=stored["drug"]["ingredient"], form=Form(stored["drug"]["form"]),
                      combination=tuple(stored["drug"]["combination"]), start_dose=stored["startDailyDose"],
                      unit=stored["unit"], start=date.fromisoformat(stored["startDate"]),
                      pace=pace or Pace(stored["pace"]), exposure=Exposure(stored["exposure"]))


def test_the_planner_schedule_is_the_cards_schedule_for_every_fixture():
    """For every fixture request whose taper-plan-missing card proposes a schedule, the inputs the
    card's link stores give the planner (engine of the API, no holds, evening split) exactly the card's
    schedule — and so do its alternative paces."""
    settings = Settings(allow_clock_override=True, dev_mode=True)
    compared = 0
    for path in _requests():
        body = json.loads(path.read_text(encoding="utf-8"))
        service = SERVICES.get(f"trappa-{body.get('hook')}")
        if service is None:
            continue
        seen = []

        def links(finding, facts, ctx, lang):
            stored = proposals.proposal_inputs(finding, facts, ctx)
            if stored is not None:
                seen.append((finding, facts, ctx, stored))
            return None

        evaluate_request(service, body, settings, None, "sv", links=links)
        for finding, facts, ctx, stored in seen:
            if finding.topic != taper_plan_missing.TOPIC:
                continue
            card = taper_plan_missing.proposal(facts, ctx)
            assert base_schedule(_inputs(stored)) == card.schedule, path.name
            for _, alternative in card.alternatives:
                assert base_schedule(_inputs(stored, alternative.pace)) == alternative, path.name
            compared += 1
    assert compared >= 10, "the fixtures hold many taper proposals"


# --- through the real server ------------------------------------------------------------------------------


def _hook(service, name: str, lang: str = "sv") -> dict:
    body = load_fixture(f"requests/{name}.json")
    r = service.post(f"/cds-services/trappa-{body['hook']}", body, headers={"Accept-Language": lang})
    assert r.status_code == 200, r.text
    return r.json()


def _planner(service, name: str = "order-sign.anna-testsson"):
    response = _hook(service, name)
    (card, link), = planner_links(response)
    token = token_of(link["url"])
    page = service.get(f"/planner/{token}")
    assert page.status_code == 200
    return card, link, token, page_config(page.text)


def _api(service, token: str, body, path: str = "/taper/schedule", lang: str = "sv") -> requests.Response:
    return service.post(path, body, headers={"Authorization": f"Bearer {token}", "Accept-Language": lang})


def test_card_link_opens_the_planner_and_its_schedule_is_the_cards(service):
    card, link, token, config = _planner(service)
    assert card["source"]["topic"]["code"] == "taper-plan-missing"
    assert link["type"] == "absolute" and link["url"] == f"{service.base_url}/planner/{token}"
    assert link["label"].startswith("Planera nedtrappningen")
    assert proposals.well_formed(token)
    r = _api(service, token, first_body(config, views=["chart", "print"]))
    assert r.status_code == 200, r.text
    answer = r.json()
    assert not list(RESPONSE_SCHEMA.iter_errors(answer))
    card_steps = card["extension"]["trappa"]["taperSteps"]
    assert [{k: s[k] for k in ("start", "days", "dailyDose", "unit", "medd")} for s in answer["steps"]] == card_steps
    assert answer["end"] == card["extension"]["trappa"]["projectedEnd"]
    for line in table_lines(answer["table"]):  # the table is the card's, line for line
        assert line in card["detail"]
    assert answer["views"]["chart"].startswith("<svg") and 'class="dose-step"' in answer["views"]["chart"]
    assert "Överenskommelse om nedtrappning" in answer["views"]["print"]


def test_english_card_gets_an_english_link_label(service):
    response = _hook(service, "order-sign.anna-testsson", lang="en")
    (_, link), = planner_links(response)
    assert link["label"].startswith("Plan the taper with the patient")


def test_taper_status_card_links_the_rest_of_a_running_taper(service):
    response = _hook(service, "prescribing-restriction")  # its patient is on step 3 of a running taper
    found = [(c, link) for c, link in planner_links(response) if c["source"]["topic"]["code"] == "taper-status"]
    assert found, "a running taper's status card links the planner"
    card, link = found[0]
    config = page_config(service.get(f"/planner/{token_of(link['url'])}").text)
    facts = card["extension"]["trappa"]
    assert config["proposal"]["startDailyDose"] == facts["todayStepDose"]
    r = _api(service, token_of(link["url"]), first_body(config))
    assert r.status_code == 200, r.text
    assert r.json()["steps"][0]["dailyDose"] == facts["todayStepDose"]


def test_stored_proposal_holds_no_identity(service):
    _, _, token, _ = _planner(service)
    db = service.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select key, inputs from planner_proposal").fetchall()
    assert token not in {k for k, _ in rows}, "the id itself is not stored, only its hash"
    key = hashlib.sha256(token.encode()).hexdigest()
    stored = dict(rows)[key]
    body = load_fixture("requests/order-sign.anna-testsson.json")
    for secret in ("Anna", "Testsson", body["context"]["patientId"], body["context"]["userId"], "1968"):
        assert secret not in stored
    assert set(json.loads(stored)) <= {"v", "topic", "today", "exposure", "exposureDays", "drug", "startDailyDose",
                                       "unit", "startDate", "pace", "maxStartDailyDose", "doseBasis"}


def test_custom_pace_holds_and_split(service):
    _, _, token, config = _planner(service)
    base = _api(service, token, first_body(config)).json()
    custom = _api(service, token, first_body(config, pace={"percentPerStep": 25, "daysPerStep": 14})).json()
    assert custom["pace"]["preset"] is None and all(s["days"] % 14 == 0 for s in custom["steps"])
    # 12.5 % a week after long-term use, in 25 % steps: two warnings, no refusal
    assert [w["code"] for w in custom["warnings"]] == ["faster-than-recommended", "step-larger-than-guideline"]
    held = _api(service, token, first_body(config, holds=[{"step": 2, "extraDays": 7}])).json()
    assert [s["dailyDose"] for s in held["steps"]] == [s["dailyDose"] for s in base["steps"]]
    assert held["steps"][1]["days"] == base["steps"][1]["days"] + 7 and held["steps"][1]["extraDays"] == 7
    assert date.fromisoformat(held["end"]) == date.fromisoformat(base["end"]) + timedelta(days=7)
    morning = _api(service, token, first_body(config, split="morning")).json()
    for a, b in zip(base["steps"], morning["steps"]):
        assert [d["amount"] for d in a["doses"]] == [d["amount"] for d in b["doses"]][::-1]


def test_fewer_strengths(service):
    _, _, token, config = _planner(service)
    body = first_body(config)
    body["drug"] = {**body["drug"], "strengths": [10]}
    answer = _api(service, token, body).json()
    assert answer["drug"]["strengths"] == [10.0]
    assert {u["strength"] for s in answer["steps"] for d in s["doses"] for u in d["units"]} == {10.0}


@pytest.mark.parametrize("change,field,words", [
    ({"startDailyDose": "tjugo"}, "startDailyDose", "is not a number"),
    ({"startDailyDose": None}, "startDailyDose", "is not a number"),
    ({"pace": {"percentPerStep": -10, "daysPerStep": 7}}, "pace.percentPerStep", "never raises the dose"),
    ({"pace": {"percentPerStep": 0.01, "daysPerStep": 1}}, "pace.percentPerStep", "10000 steps"),
    ({"holds": [{"step": 1, "extraDays": 1}] * 1000}, "holds", "is too long"),
    ({"holds": [{"step": 1, "extraDays": -7}]}, "holds.0.extraDays", "never raised"),
    ({"holds": [{"step": 99, "extraDays": 7}]}, "holds", "does not exist"),
    ({"drug": {"ingredient": "unobtainium", "form": "depot"}}, "drug", "no strengths row"),
    ({"drug": {"ingredient": "morphine", "form": "depot"}}, "drug.ingredient", "this plan is for oxycodone"),
    ({"drug": {"ingredient": "oxycodone", "form": "depot", "strengths": [7]}}, "drug.strengths", "not a strength"),
    ({"startDailyDose": 400}, "startDailyDose", "never raises the dose"),
    ({"startDate": "2026-02-30"}, "startDate", "not a date"),
    ({"startDate": "2030-01-01"}, "startDate", "within"),
    ({"pace": {"preset": "turbo"}}, "pace.preset", "turbo"),
    ({"split": "noon"}, "split", "noon"),
    ({"extra": 1}, "(root)", "Additional properties"),
])
def test_bad_input_is_a_400_that_says_what(service, change, field, words):
    _, _, token, config = _planner(service)
    r = _api(service, token, first_body(config, **change))
    assert r.status_code == 400, r.text
    issue = r.json()["issue"][0]
    assert r.json()["resourceType"] == "OperationOutcome" and issue["code"] == "invalid"
    assert issue["expression"] == [field] and words in issue["diagnostics"]


def test_not_json_and_no_authority(service):
    _, _, token, config = _planner(service)
    r = service.post("/taper/schedule", "{not json", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
    r = _api(service, token, first_body(config, holds=[{"step": 1, "extraDays": 1}] * 10000))  # 10 000 steps held
    assert r.status_code == 413 and r.json()["issue"][0]["code"] == "too-costly"
    for headers in ({}, {"Authorization": "Bearer " + "0" * 32}, {"Authorization": "Bearer ../../etc"}):
        r = service.post("/taper/schedule", first_body(config), headers=headers)
        assert r.status_code == 401 and r.json()["issue"][0]["code"] == "security"


def test_unknown_and_expired_ids_are_a_404_page(service):
    for token in ("0" * 32, "not-an-id", "a" * 500):
        r = service.get(f"/planner/{token}", headers={"Accept-Language": "sv"})
        assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html")
        assert "finns inte eller har gått ut" in r.text and "does not exist or has expired" in r.text
    r = service.get("/planner/" + "0" * 32, headers={"Accept-Language": "en"})
    assert r.text.index("has expired") < r.text.index("har gått ut"), "English first when asked for"
    _, _, token, config = _planner(service)
    db = service.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:  # the row's time is up: the same as waiting TRAPPA_PROPOSAL_TTL_HOURS
        conn.execute("update planner_proposal set expires = 0 where key = ?", (hashlib.sha256(token.encode()).hexdigest(),))
    assert service.get(f"/planner/{token}").status_code == 404
    assert _api(service, token, first_body(config)).status_code == 401


def test_page_has_its_own_strict_content_security_policy(service):
    _, link, _, _ = _planner(service)
    r = requests.get(link["url"], timeout=10)
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert 'id="planner" hidden' in r.text, "nothing is shown before the API has answered"
    for name in ("planner.js", "planner.css", "print.css"):
        assert service.get(f"/planner/static/{name}").status_code == 200


def test_bundle_validates_with_fhir_resources(service):
    from fhir.resources.R4B.bundle import Bundle

    _, _, token, config = _planner(service)
    r = _api(service, token, first_body(config, holds=[{"step": 1, "extraDays": 7}]), path="/taper/schedule/bundle")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/fhir+json")
    bundle = r.json()
    Bundle.model_validate(bundle)
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert types == ["CarePlan", "MedicationRequest", "Flag"]
    request = bundle["entry"][1]["resource"]
    answer = _api(service, token, first_body(config, holds=[{"step": 1, "extraDays": 7}])).json()
    sequences = sorted({d["sequence"] for d in request["dosageInstruction"]})
    assert sequences == [s["number"] for s in answer["steps"]]
    first = next(d for d in request["dosageInstruction"] if d["sequence"] == 1)
    assert first["timing"]["repeat"]["boundsPeriod"]["start"] == answer["steps"][0]["start"]
    assert first["timing"]["repeat"]["boundsPeriod"]["end"] == answer["steps"][0]["end"]
    assert "reference" not in request["subject"], "the proposal knows no patient"


def test_server_pdf_holds_dates_doses_and_tablets(service, tmp_path):
    _, _, token, config = _planner(service)
    r = _api(service, token, first_body(config), path="/taper/schedule/pdf")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-")
    pdf = tmp_path / "schedule.pdf"
    pdf.write_bytes(r.content)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    answer = _api(service, token, first_body(config)).json()
    assert "Mitt nedtrappningsschema" in text and "Överenskommelse om nedtrappning" in text
    assert "Ambivalenskors" in text and "Tilltro till min egen förmåga" in text
    assert "Patientens underskrift" in text and "Ansvarig läkares underskrift" in text
    lines = text.replace("\u00a0", " ").splitlines()
    for step in answer["steps"]:  # the step's first row: its first day, each dose time's tablets, the daily dose
        d = date.fromisoformat(step["start"])
        row = next(line for line in lines if f" {d.day}/{d.month} " in f" {line} ")
        for dose in step["doses"]:
            tablets = " + ".join(f"{u['count']} st {u['strength']:g} mg" for u in dose["units"]) or "–"
            assert tablets in row, (tablets, row)
        assert f"{step['dailyDose']:g} mg/dygn" in row
    assert "Slut – ingen mer tablett" in text
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    assert len(list(tmp_path.glob("page-*.png"))) >= 3  # schedule, agreement, conversation aids


def test_a_proposal_that_cannot_be_stored_takes_its_link_off_the_card(service):
    from tests.web.test_storage_failures import fail_inserts

    fail_inserts(service, "planner_proposal")
    try:
        response = _hook(service, "order-sign.anna-testsson")
    finally:
        fail_inserts(service, "planner_proposal", on=False)
    topics = [c["source"]["topic"]["code"] for c in response["cards"]]
    assert "taper-plan-missing" in topics and planner_links(response) == []
    assert "planner proposals not stored" in service.log()
    assert planner_links(_hook(service, "order-sign.anna-testsson")), "back once the database takes them"


# --- the table on each database ---------------------------------------------------------------------------

from tests.conftest import _postgres_admin_url  # noqa: E402

DATABASES = ["sqlite"] + (["postgresql"] if _postgres_admin_url() else [])


@pytest.mark.parametrize("database", DATABASES)
def test_proposals_are_kept_until_they_expire(database, tmp_path, request):
    import time

    from cds_service.web.storage import Store

    url = f"sqlite:///{tmp_path}/t.sqlite3" if database == "sqlite" else request.getfixturevalue("postgres_db")[0]
    store = Store(url, journal_dir=str(tmp_path / "journal"))
    now = time.time()
    store.save_proposals([("a" * 64, now + 60, '{"v": 1}'), ("b" * 64, now - 1, '{"v": 1}')])
    assert store.proposal("a" * 64) == '{"v": 1}'
    assert store.proposal("b" * 64) is None  # expired
    assert store.proposal("c" * 64) is None  # unknown
    store._proposals_purged = 0  # the next save deletes what has expired
    store.save_proposals([("d" * 64, now + 60, "{}")])
    from sqlalchemy import select

    from cds_service.web.storage import planner_proposal

    with store.engine.connect() as conn:
        keys = {r[0] for r in conn.execute(select(planner_proposal.c.key))}
    assert keys == {"a" * 64, "d" * 64}
    store.engine.dispose()


def test_a_database_failure_on_the_page_is_a_503_and_the_id_stays_out_of_the_log(service):
    _, _, token, _ = _planner(service)
    db = service.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        conn.execute("alter table planner_proposal rename to planner_proposal_away")
    try:
        r = service.get(f"/planner/{token}")
    finally:
        with sqlite3.connect(db) as conn:
            conn.execute("alter table planner_proposal_away rename to planner_proposal")
    assert r.status_code == 503 and r.json()["issue"][0]["code"] == "transient"
    assert "/planner/<id>" in service.log() and token not in service.log()
    assert service.get(f"/planner/{token}").status_code == 200


@pytest.mark.parametrize("value", ["x", "0", "-1", "721", "nan", "inf"])
def test_a_bad_proposal_lifetime_stops_the_start_up(value):
    from cds_service.domain.settings import ConfigurationError

    with pytest.raises(ConfigurationError, match="TRAPPA_PROPOSAL_TTL_HOURS"):
        Settings.from_env({"TRAPPA_PROPOSAL_TTL_HOURS": value})


def test_proposal_lifetime_and_contact_settings():
    assert Settings.from_env({}).proposal_ttl_hours == 24.0
    s = Settings.from_env({"TRAPPA_PROPOSAL_TTL_HOURS": "2.5", "TRAPPA_PLANNER_CONTACT": " Vårdcentralen, 036-12 34 56 "})
    assert s.proposal_ttl_hours == 2.5 and s.planner_contact == "Vårdcentralen, 036-12 34 56"
