"""The patient's print-out: the schedule, the agreement, and the conversation aids — in Swedish.

"När ni väl har kommit överens om ett nedtrappningsschema, skriv ut eller fyll i och ge till
patienten" [RJL "Praktiska tips och trix"]. One HTML fragment (``templates/planner/print.html``) made
from the schedule API's answer serves both the page's print stylesheet (A4) and the PDF the server
makes with WeasyPrint, so what the browser prints and what the PDF holds are the same text.

What is on it:

* **Schedule**: dates, what to take morning and evening (tablets of which strength), the daily dose,
  a tick box per day (schedules of at most six weeks) or per week (longer ones: each step cut in
  pieces of at most seven days, so a box never spans a dose change); the next follow-up ("kort
  avstämning varje vecka", [RJL "Allmänna principer"]); whom to call (``TRAPPA_PLANNER_CONTACT``, else
  a line to fill in).
* **The agreement** of [RJL "Vilka krav kan jag som läkare ställa?"] (clinical-rules §3), in the words
  of the guideline turned to the patient, with signature lines for patient and physician.
* **VAS** (motivation, tilltro, beredskap, 0–10) and the **ambivalenskors** of [RJL "Motiverande samtal
  med hjälp av VAS och ambivalenskors"], to fill in together.

Always Swedish: the patient takes it home (the page around it follows the physician's language).
No name or identity number is printed; the paper has lines to write them by hand.
"""
from __future__ import annotations

import logging
from datetime import date, timedelta

from flask import render_template

from cds_service.cards.phrases import fmt_number

logging.getLogger("weasyprint").setLevel(logging.WARNING)  # its progress lines say nothing to an operator

PER_DAY_MAX_DAYS = 42  # a tick box per day up to six weeks; beyond, one per week
MONTHS = ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
          "november", "december")
WEEKDAYS = ("mån", "tis", "ons", "tor", "fre", "lör", "sön")

_UNIT_WORD = {"depot": ("depottablett", "depottabletter"), "immediate": ("tablett", "tabletter"),
              "sublingual": ("resoriblett", "resoribletter"), "patch": ("plåster", "plåster")}


def long_date(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def short_date(day: date) -> str:
    return f"{WEEKDAYS[day.weekday()]} {day.day}/{day.month}"


def _unit_text(unit: str) -> str:
    return "µg/h" if unit == "ug/h" else unit


def units_text(units: list[dict], form: str, unit: str) -> str:
    """"1 st 20 mg + 1 st 5 mg" (tablets, or patches, of each strength); nothing → "–". Short, so a
    dose fits its column on A4; the sheet says above the table what "st" is of."""
    parts = [f"{u['count']}\u00a0st {fmt_number(u['strength'])}\u00a0{_unit_text(unit)}" for u in units if u["count"]]
    return " + ".join(parts) if parts else "–"


def unit_words(form: str) -> tuple[str, str]:
    return _UNIT_WORD.get(form, ("tablett", "tabletter"))


def _rows(answer: dict) -> tuple[list[dict], bool]:
    """Rows of the schedule table and whether they are per day."""
    per_day = answer["totalDays"] <= PER_DAY_MAX_DAYS
    form, unit = answer["drug"]["form"], answer["drug"]["unit"]
    rows = []
    for step in answer["steps"]:
        start = date.fromisoformat(step["start"])
        doses = [units_text(d["units"], form, unit) for d in step["doses"]]
        piece = 1 if per_day else 7
        offset = 0
        while offset < step["days"]:
            length = min(piece, step["days"] - offset)
            first = start + timedelta(days=offset)
            last = first + timedelta(days=length - 1)
            rows.append({"step": step["number"], "new_step": offset == 0, "first": first, "last": last,
                         "dates": short_date(first) if length == 1 else f"{short_date(first)} – {short_date(last)}",
                         "doses": doses, "daily": f"{fmt_number(step['dailyDose'])}\u00a0{_unit_text(unit)}"
                         + ("" if unit == "ug/h" else "/dygn"), "held": bool(step["extraDays"]) and offset == 0})
            offset += length
    return rows, per_day


def context(answer: dict, contact: str | None, follow_up_days: int) -> dict:
    rows, per_day = _rows(answer)
    n = answer["drug"]["administrationsPerDay"]
    times = {1: ["Dygnsdos"], 2: ["Morgon", "Kväll"], 3: ["Morgon", "Mitt på dagen", "Kväll"],
             4: ["Morgon", "Lunch", "Eftermiddag", "Kväll"]}.get(n, [f"Dos {i + 1}" for i in range(n)])
    patch = answer["drug"]["form"] == "patch"
    if patch:
        times = ["Plåster (bärs hela tiden)"]
    start, end = date.fromisoformat(answer["startDate"]), date.fromisoformat(answer["end"])
    return {
        "a": answer, "rows": rows, "per_day": per_day, "times": times, "patch": patch,
        "product": answer["drug"]["product"], "unit_plural": unit_words(answer["drug"]["form"])[1],
        "start": long_date(start), "end": long_date(end),
        "last_day": long_date(end - timedelta(days=1)),
        "start_dose": f"{fmt_number(answer['startDailyDose'])} {_unit_text(answer['drug']['unit'])}"
                      + ("" if patch else "/dygn"),
        "steps": len(answer["steps"]), "weeks": fmt_number(round(answer["totalDays"] / 7, 1)),
        "change_days": answer["drug"].get("changeIntervalDays"),
        "follow_up": long_date(date.fromisoformat(answer["followUp"])), "follow_up_days": follow_up_days,
        "contact": contact, "vas": ("Motivation till förändring", "Tilltro till min egen förmåga att lyckas",
                                    "Beredskap att här och nu påbörja en förändring"),
    }


def fragment(answer: dict, contact: str | None, follow_up_days: int) -> str:
    """The print-out as an HTML fragment (a ``<section>``), for the page and the PDF."""
    return render_template("planner/print.html", **context(answer, contact, follow_up_days))


def pdf(answer: dict, contact: str | None, follow_up_days: int, static_dir: str) -> bytes:
    """The print-out as an A4 PDF (WeasyPrint), with the page's print stylesheet."""
    import weasyprint  # imported here: only the PDF needs it, and it takes a moment to load

    html = render_template("planner/print_document.html", body=fragment(answer, contact, follow_up_days))
    css = weasyprint.CSS(filename=f"{static_dir}/print.css")
    return weasyprint.HTML(string=html, base_url=static_dir).write_pdf(stylesheets=[css])
