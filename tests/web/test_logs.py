"""Log hygiene: a request cannot write lines of its own into the service's log (cds_service/web/logs.py).

Against the real server process: a path with an encoded line break and a forged log line in it, sent
without a token, used to appear in the log as a line of its own ("… ERROR …")."""
from __future__ import annotations

import logging
import re

import pytest
import requests

from cds_service.web.logs import safe
from tests.support.service import ServiceProcess

FORGED = "2026-12-02 00:00:00,000 ERROR cds_service: forged line"
#: every way of ending or disguising a line: LF, CR, NEL, U+2028/2029, an ANSI escape, a bidi override
BREAKS = ["%0a", "%0d", "%0d%0a", "%c2%85", "%e2%80%a8", "%e2%80%a9"]


def forged_lines(log: str) -> list[str]:
    return [line for line in re.split(r"[\n\r\x85\u2028\u2029]", log) if line.startswith("2026-12-02")]


@pytest.fixture(scope="module")
def production():
    """Production configuration (authentication required, no issuers: every call is refused and logged)."""
    with ServiceProcess(env={}, dev=False, workers=1) as proc:
        yield proc


@pytest.mark.parametrize("brk", BREAKS)
def test_a_path_cannot_forge_a_log_line_through_the_auth_refusal(production, brk):
    path = "/cds-services/x" + brk + FORGED.replace(" ", "%20")
    resp = requests.get(production.base_url + path, timeout=5)
    assert resp.status_code == 401
    log = production.log()
    assert forged_lines(log) == [], forged_lines(log)
    assert "EHR authentication refused for GET /cds-services/x\\" in log  # the path is there, escaped


def test_control_characters_and_bidi_overrides_are_escaped(production):
    resp = requests.get(production.base_url + "/cds-services/y%1b%5b31m%e2%80%aeevil%5c", timeout=5)
    assert resp.status_code == 401
    line = next(ln for ln in production.log().splitlines() if "/cds-services/y" in ln)
    assert "/cds-services/y\\x1b[31m\\u202eevil\\\\:" in line


def test_the_unexpected_error_handler_escapes_the_path(tmp_path, caplog):
    """The handler of our own bugs logs the path too (in-process: a route that fails on purpose)."""
    from flask import request

    from cds_service.web.app import create_app
    from cds_service.web.config import Settings

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/t.sqlite3", dev_mode=True, auth_required=False))

    @app.before_request
    def boom():
        if request.path.startswith("/boom/"):
            raise RuntimeError("a bug")

    with caplog.at_level(logging.ERROR, logger="cds_service"):
        resp = app.test_client().get("/boom/x%0a" + FORGED.replace(" ", "%20"))
    assert resp.status_code == 500 and resp.json["resourceType"] == "OperationOutcome"
    assert "unhandled RuntimeError on GET /boom/x\\n2026-12-02" in caplog.text
    assert forged_lines(caplog.text) == []


@pytest.mark.parametrize("value, expected", [
    ("plain /path", "plain /path"),
    ("a\nb\rc\td", "a\\nb\\rc\\td"),
    ("back\\slash", "back\\\\slash"),
    ("\x00\x1b\x7f\x85", "\\x00\\x1b\\x7f\\x85"),
    ("\u2028\u2029\u202e\u200b", "\\u2028\\u2029\\u202e\\u200b"),
    ("svenska åäö", "svenska åäö"),
    (None, "None"),
    ({"a": "\n"}, "{'a': '\\\\n'}"),
])
def test_safe_escapes_what_could_end_or_disguise_a_line(value, expected):
    assert safe(value) == expected


def test_safe_cuts_long_values():
    assert safe("x" * 500, 10) == "x" * 10 + "…"
    assert safe("\n" * 500, 3) == "\\n\\n\\n…"


# --- JSON lines (TRAPPA_LOG_FORMAT=json) ----------------------------------------------------------------

ISS = "https://ehr.jsonlog.test"


@pytest.fixture(scope="module")
def json_server():
    import json

    from tests.support.jwt_keys import JwksServer, SigningKey

    key = SigningKey("ES384")
    with JwksServer() as jwks:
        jwks.publish("jwks.json", [key])
        env = {"TRAPPA_LOG_FORMAT": "json", "TRAPPA_LOG_LEVEL": "DEBUG",
               "TRAPPA_TRUSTED_ISSUERS": json.dumps([{"iss": ISS, "jwks_url": jwks.url("jwks.json")}])}
        with ServiceProcess(env=env, dev=False, workers=2) as proc:
            yield proc, key


def records(proc) -> list[dict]:
    import json

    lines = [line for line in proc.log().splitlines() if line.strip()]
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line[:200]!r}")
    return out


def test_json_lines_carry_the_request_id_and_hook_instance_and_no_token(json_server):
    import time

    from conftest import load_fixture
    from tests.support.jwt_keys import claims

    proc, key = json_server
    path = "/cds-services/trappa-order-sign"
    body = load_fixture("requests/order-sign.anna-testsson.json")
    body["hookInstance"] = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"
    token = key.token(claims(ISS, proc.base_url + path))
    resp = proc.post(path, body, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    request_id = resp.headers["X-Request-ID"]
    # the EHR's (or a proxy's) own id is taken when it is a plain token; anything else is replaced
    refused = proc.post(path, body, headers={"Authorization": "Bearer x.y.z", "X-Request-ID": "ehr-4711"})
    assert refused.status_code == 401 and refused.headers["X-Request-ID"] == "ehr-4711"
    forged = proc.post(path, body, headers={"Authorization": "Bearer x.y.z", "X-Request-ID": "a b\tc"})
    assert forged.headers["X-Request-ID"] not in ("a b\tc", request_id, "ehr-4711")
    time.sleep(0.3)
    recs = records(proc)  # every line, gunicorn's own included, is JSON
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in recs)
    assert any(r["logger"] == "gunicorn.error" and "Booting worker" in r["message"] for r in recs)
    mine = [r for r in recs if r.get("request_id") == request_id]
    assert {r["logger"] for r in mine} >= {"cds_service.web.auth", "cds_service.web.views.hooks"}
    answered = next(r for r in mine if "answered 200" in r["message"])
    assert answered["hookInstance"] == body["hookInstance"]
    assert any(r.get("request_id") == "ehr-4711" and "refused" in r["message"] for r in recs)
    text = proc.log()
    for segment in token.split("."):
        assert segment not in text
    assert "Testsson" not in text and "Anna" not in text


def test_a_bad_log_format_stops_the_start_up():
    proc = ServiceProcess(env={"TRAPPA_LOG_FORMAT": "xml"})
    with pytest.raises(RuntimeError):
        proc.start(timeout=15)
    log = proc.log()
    proc.cleanup()
    assert "TRAPPA_LOG_FORMAT='xml': must be 'text' or 'json'" in log
