"""The planner page in a real browser (Playwright driving Debian's chromium) against the real server.

A real hook call gives a card with the planner link; the browser opens it, changes the pace, holds a
step; the chart (its SVG steps) and the table agree with what the API answers for the same inputs;
the browser's print (page.pdf, the print stylesheet) and the server's PDF are turned into text
(pdftotext) and pictures (pdftoppm). One browser for the module.

``TRAPPA_SCREENSHOTS_DIR=docs/images`` also writes the README's pictures of the page and of a printed
schedule.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
import requests

from tests.conftest import load_fixture
from tests.support.planner import planner_links, token_of

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = os.environ.get("TRAPPA_SCREENSHOTS_DIR")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(locale="sv-SE", extra_http_headers={"Accept-Language": "sv"},
                                  viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield pg
    context.close()
    # no script error, no CSP violation (the 400 a bad value is answered with is the browser's own line)
    assert not [e for e in errors if "status of 400" not in e], errors


def _card_link(service, name="order-sign.anna-testsson") -> str:
    body = load_fixture(f"requests/{name}.json")
    r = service.post(f"/cds-services/trappa-{body['hook']}", body)
    assert r.status_code == 200
    (_, link), = planner_links(r.json())
    return link["url"]


def _api(service, url: str, body: dict) -> dict:
    r = requests.post(service.base_url + "/taper/schedule", json=body, timeout=10,
                      headers={"Authorization": f"Bearer {token_of(url)}", "Accept-Language": "sv"})
    assert r.status_code == 200, r.text
    return r.json()


def _wait_answer(page, body_check=None):
    page.wait_for_selector("#results:not([hidden]) #schedule-table tbody tr", state="attached")
    page.wait_for_function("() => document.getElementById('main').getAttribute('aria-busy') === 'false'")


def _shown(page) -> dict:
    """What the page shows: the table's rows and the chart's steps."""
    rows = page.eval_on_selector_all("#schedule-table tbody tr", "rows => rows.map(r => "
                                     "Array.from(r.cells).slice(0, -1).map(c => c.firstChild ? c.firstChild.textContent : ''))")
    bars = page.eval_on_selector_all("#chart rect.dose-step", "rs => rs.map(r => ({step: +r.dataset.step, "
                                     "start: r.dataset.start, days: +r.dataset.days, dose: +r.dataset.dose, "
                                     "medd: r.dataset.medd === '' ? null : +r.dataset.medd}))")
    body = page.evaluate("window.TrappaPlanner.body()")
    return {"rows": rows, "bars": bars, "body": body}


def _agree(shown: dict, answer: dict) -> None:
    assert shown["rows"] == answer["table"]["rows"]
    assert shown["bars"] == [{"step": s["number"], "start": s["start"], "days": s["days"], "dose": s["dailyDose"],
                              "medd": s["medd"]} for s in answer["steps"]]


def _pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout.replace("\u00a0", " ")


def _pages(path: Path, prefix: Path) -> list[Path]:
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(path), str(prefix)], check=True)
    return sorted(prefix.parent.glob(prefix.name + "-*.png"))


def test_planner_from_a_real_card(service, page, tmp_path):
    url = _card_link(service)
    page.goto(url)
    _wait_answer(page)
    assert page.locator("html").get_attribute("lang") == "sv"
    assert page.locator("header h1").inner_text() == "Nedtrappningsplanerare"
    first = _shown(page)
    _agree(first, _api(service, url, first["body"]))
    assert page.locator("#chart svg line.today").count() == 1
    assert page.locator("#chart svg .thirty-percent").count() == 1
    assert page.locator("#chart svg .six-months").count() == 1

    # every control has a name a screen reader says
    for control in page.query_selector_all("#controls input, #controls select"):
        assert control.evaluate("c => c.labels && c.labels.length > 0"), control.evaluate("c => c.outerHTML")

    # the pace, by keyboard: the fast pace's radio, then Space
    page.focus("input[name=pace][value=fast]")
    page.keyboard.press("Space")
    page.wait_for_function("() => window.TrappaPlanner.answer() && window.TrappaPlanner.answer().pace.preset === 'fast'")
    fast = _shown(page)
    answer = _api(service, url, fast["body"])
    _agree(fast, answer)
    assert answer["pace"]["preset"] == "fast" and len(fast["rows"]) != len(first["rows"]) or fast["rows"] != first["rows"]
    assert page.locator("#warnings li[data-code=faster-than-recommended]").count() == 1  # long-term use: a warning

    # hold step 2 a week longer
    before = answer
    page.click("button.hold[data-step='2']")
    page.wait_for_function("() => window.TrappaPlanner.answer().holds.length === 1")
    held = _shown(page)
    answer = _api(service, url, held["body"])
    _agree(held, answer)
    assert held["body"]["holds"] == [{"step": 2, "extraDays": 7}]
    assert answer["steps"][1]["days"] == before["steps"][1]["days"] + 7
    assert [s["dailyDose"] for s in answer["steps"]] == [s["dailyDose"] for s in before["steps"]]
    assert page.locator("#schedule-table tr.held").count() == 1

    # a custom pace, typed in
    page.check("input[name=pace][value=custom]")
    page.fill("#custom-percent", "5")
    page.fill("#custom-days", "7")
    page.wait_for_function("() => { const a = window.TrappaPlanner.answer(); return a && a.pace.percentPerStep === 5 "
                           "&& a.pace.daysPerStep === 7; }")
    custom = _shown(page)
    _agree(custom, _api(service, url, custom["body"]))
    assert custom["body"]["holds"] == [] and page.locator("#holds-note").is_visible()

    # back to the card's pace and step 2 held, for the print-outs
    page.check("input[name=pace][value=weekly]")
    page.wait_for_function("() => window.TrappaPlanner.answer().pace.preset === 'weekly'")
    page.click("button.hold[data-step='2']")
    page.wait_for_function("() => window.TrappaPlanner.answer().holds.length === 1")
    final = _shown(page)
    answer = _api(service, url, final["body"])
    _agree(final, answer)
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / "planner-page.png"), full_page=True)

    # the browser's print: the print stylesheet's sheets, not the controls
    printed = tmp_path / "printed.pdf"
    page.emulate_media(media="print")
    page.pdf(path=str(printed), format="A4", print_background=True, prefer_css_page_size=True)
    page.emulate_media(media="screen")
    _check_printout(_pdf_text(printed), answer)
    pictures = _pages(printed, tmp_path / "printed")
    assert len(pictures) >= 3
    if SHOTS:  # page 1, sharp enough to read in the README
        subprocess.run(["pdftoppm", "-r", "80", "-f", "1", "-l", "1", "-singlefile", "-png", str(printed),
                        str(Path(SHOTS) / "planner-printed-schedule")], check=True)

    # the server's PDF, through the page's download button
    with page.expect_download() as download:
        page.click("#download-pdf")
    server_pdf = tmp_path / "server.pdf"
    download.value.save_as(str(server_pdf))
    assert download.value.suggested_filename == f"nedtrappningsschema-{answer['startDate']}.pdf"
    _check_printout(_pdf_text(server_pdf), answer)
    assert len(_pages(server_pdf, tmp_path / "server")) >= 3

    # the FHIR Bundle
    with page.expect_download() as download:
        page.click("#download-bundle")
    bundle = tmp_path / "bundle.json"
    download.value.save_as(str(bundle))
    assert '"resourceType":"Bundle"' in bundle.read_text().replace(" ", "")
    assert page.locator("#save").is_hidden(), "no Save without a session that may write"


def _check_printout(text: str, answer: dict) -> None:
    assert "Mitt nedtrappningsschema" in text and "Nedtrappningsplanerare" not in text
    assert "Överenskommelse om nedtrappning" in text and "Ambivalenskors" in text
    assert "Motivation till förändring" in text and "Patientens underskrift" in text
    lines = text.splitlines()
    for step in answer["steps"]:
        d = date.fromisoformat(step["start"])
        row = next(line for line in lines if f" {d.day}/{d.month} " in f" {line} ")
        for dose in step["doses"]:
            tablets = " + ".join(f"{u['count']} st {u['strength']:g} mg" for u in dose["units"]) or "–"
            assert tablets in row, (tablets, row)
        assert f"{step['dailyDose']:g} mg/dygn" in row
    assert "förlängt" in text  # the held step is marked


def test_bad_value_shows_the_services_words_and_no_schedule(service, page):
    page.goto(_card_link(service))
    _wait_answer(page)
    page.fill("#start-dose", "400")
    page.wait_for_selector("#error:not([hidden])")
    assert "never raises the dose" in page.inner_text("#error")
    assert page.locator("#results").is_hidden() and page.inner_html("#print-area") == ""
    page.fill("#start-dose", "15")
    _wait_answer(page)
    assert page.locator("#error").is_hidden()
    assert page.evaluate("window.TrappaPlanner.answer().startDailyDose") == 15


def test_english_page_and_the_404_page(service, browser):
    context = browser.new_context(locale="en-GB", extra_http_headers={"Accept-Language": "en"})
    pg = context.new_page()
    try:
        pg.goto(_card_link(service))
        _wait_answer(pg)
        assert pg.locator("header h1").inner_text() == "Taper planner"
        assert pg.locator("#schedule-table thead th").first.inner_text() == "Step"
        response = pg.goto(service.base_url + "/planner/" + "0" * 32)
        assert response.status == 404
        assert "expired" in pg.inner_text("main") and "har gått ut" in pg.inner_text("main")
    finally:
        context.close()
