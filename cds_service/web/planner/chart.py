"""The planner's chart, drawn on the server as SVG from the schedule API's answer.

Daily dose and MEDD over time, step by step, today marked, the 30 % point and the ~6-month line
([RJL "När behövs nedtrappning?"]: slower from 30 % of the start; [RJL "Allmänna principer"]: beyond
about half a year a taper is too drawn out). Drawn from the same JSON the table is made of, so the two
cannot disagree; every step carries its numbers as ``data-*`` attributes (the browser test reads them).

Server-side rather than a chart library in the page: the same SVG goes into the page, the browser's
print-out and the server's PDF (WeasyPrint draws SVG), there is nothing to vendor or update, and the
page needs no script to draw. Presentation attributes (fill, stroke), not style attributes, so the
page's Content-Security-Policy needs no 'unsafe-inline'. The SVG is an image with a title and a
description for screen readers; the table beside it holds the same numbers.
"""
from __future__ import annotations

import math
from datetime import date, timedelta
from xml.sax.saxutils import escape

W, H = 760, 330
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 44, 52
DOSE, DOSE_FILL, MEDD, MARK, GRID, INK = "#1f4e79", "#d6e4f2", "#a33d00", "#4d4d4d", "#d9d9d9", "#1a1a1a"

MONTHS = {"sv": ("jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec"),
          "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")}

WORDS = {
    "sv": {"dose": "Dygnsdos", "medd": "MEDD (mg morfinekvivalenter/dygn)", "today": "I dag",
           "thirty": "30 % av startdosen", "six": "≈ 6 månader", "beyond": "≈ 6 månader: {date} (efter diagrammet)",
           "title": "Nedtrappningsschema: dygnsdos och MEDD över tid",
           "desc": "{product}: från {start} den {first} i {steps} steg till 0 den {end}. Streckad linje: MEDD."},
    "en": {"dose": "Daily dose", "medd": "MEDD (mg morphine equivalents/day)", "today": "Today",
           "thirty": "30 % of the start dose", "six": "≈ 6 months", "beyond": "≈ 6 months: {date} (after the chart)",
           "title": "Taper schedule: daily dose and MEDD over time",
           "desc": "{product}: from {start} on {first} in {steps} steps to 0 on {end}. Dashed line: MEDD."},
}


def _num(x: float, lang: str) -> str:
    r = round(x, 2)
    text = str(int(r)) if r == int(r) else f"{r:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if lang == "sv" else text


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * exp >= value:
            return m * exp
    return 10 * exp


def _short(day: date, lang: str) -> str:
    return f"{day.day} {MONTHS[lang][day.month - 1]}"


def chart_svg(answer: dict, lang: str = "sv") -> str:
    """The SVG (a string) of one ``POST /taper/schedule`` answer."""
    words = WORDS.get(lang, WORDS["sv"])
    steps = answer["steps"]
    unit = "µg/h" if answer["drug"]["unit"] == "ug/h" else "mg/" + ("dygn" if lang == "sv" else "day")
    start = date.fromisoformat(answer["startDate"])
    end = date.fromisoformat(answer["end"])
    six = date.fromisoformat(answer["sixMonths"]["date"])
    today = date.fromisoformat(answer["today"])
    span = max((end - start).days, 1)
    # The half-year line is drawn inside the chart when it is near enough not to squeeze the steps.
    six_inside = (six - start).days <= 1.4 * span
    x_end = max(end, six) if six_inside else end
    days = max((x_end - start).days, 1)
    y_top = _nice_max(max([answer["startDailyDose"]] + [s["medd"] or 0 for s in steps]) * 1.05)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(day: date) -> float:
        return round(LEFT + pw * (day - start).days / days, 2)

    def y(value: float) -> float:
        return round(TOP + ph * (1 - value / y_top), 2)

    desc = words["desc"].format(product=answer["drug"]["product"], start=f"{_num(answer['startDailyDose'], lang)} {unit}",
                                first=answer["startDate"], steps=len(steps), end=answer["end"])
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="planner-chart" viewBox="0 0 {W} {H}" width="100%" '
           f'role="img" aria-labelledby="chart-title chart-desc" font-family="DejaVu Sans, Liberation Sans, Arial, '
           f'sans-serif" font-size="12" data-start="{answer["startDate"]}" data-end="{answer["end"]}" '
           f'data-y-max="{y_top}">',
           f'<title id="chart-title">{escape(words["title"])}</title>',
           f'<desc id="chart-desc">{escape(desc)}</desc>',
           f'<rect x="0" y="0" width="{W}" height="{H}" fill="#ffffff"/>']
    # y grid and ticks
    for i in range(6):
        v = y_top * i / 5
        yy = y(v)
        out.append(f'<line x1="{LEFT}" y1="{yy}" x2="{W - RIGHT}" y2="{yy}" stroke="{GRID}" stroke-width="1"/>')
        out.append(f'<text x="{LEFT - 6}" y="{yy + 4}" text-anchor="end" fill="{INK}">{_num(v, lang)}</text>')
    # x ticks: about six dates, on step starts when there are few steps
    ticks = [date.fromisoformat(s["start"]) for s in steps] + [end] if len(steps) <= 7 else \
        [start + timedelta(days=round(days * i / 6)) for i in range(7)]
    for day in ticks:
        xx = x(day)
        out.append(f'<line x1="{xx}" y1="{TOP + ph}" x2="{xx}" y2="{TOP + ph + 5}" stroke="{INK}"/>')
        anchor = "end" if xx > W - RIGHT - 24 else "middle"  # the last date inside the picture
        out.append(f'<text x="{xx}" y="{TOP + ph + 18}" text-anchor="{anchor}" fill="{INK}">{escape(_short(day, lang))}</text>')
    out.append(f'<line x1="{LEFT}" y1="{TOP + ph}" x2="{W - RIGHT}" y2="{TOP + ph}" stroke="{INK}" stroke-width="1.2"/>')
    out.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + ph}" stroke="{INK}" stroke-width="1.2"/>')
    # dose steps: areas and the step line
    dose_path, medd_path = [], []
    for s in steps:
        s0 = date.fromisoformat(s["start"])
        s1 = s0 + timedelta(days=s["days"])
        x0, x1, yd = x(s0), x(s1), y(s["dailyDose"])
        held = ' stroke-dasharray="3 2" stroke="#1f4e79"' if s["extraDays"] else ""
        out.append(f'<rect class="dose-step" x="{x0}" y="{yd}" width="{round(x1 - x0, 2)}" height="{round(TOP + ph - yd, 2)}" '
                   f'fill="{DOSE_FILL}"{held} data-step="{s["number"]}" data-start="{s["start"]}" data-days="{s["days"]}" '
                   f'data-dose="{s["dailyDose"]}" data-medd="{"" if s["medd"] is None else s["medd"]}">'
                   f'<title>{escape(_step_title(s, unit, lang))}</title></rect>')
        dose_path.append(f'{"M" if not dose_path else "L"}{x0},{yd} L{x1},{yd}')
        if s["medd"] is not None:
            ym = y(s["medd"])
            medd_path.append(f'{"M" if not medd_path else "L"}{x0},{ym} L{x1},{ym}')
    zero_x = x(end)
    dose_path.append(f"L{zero_x},{y(0)}")
    out.append(f'<path class="dose-line" d="{" ".join(dose_path)}" fill="none" stroke="{DOSE}" stroke-width="2.5"/>')
    if medd_path:
        medd_path.append(f"L{zero_x},{y(0)}")
        out.append(f'<path class="medd-line" d="{" ".join(medd_path)}" fill="none" stroke="{MEDD}" stroke-width="2" '
                   f'stroke-dasharray="6 4"/>')
    # the 30 % point: a level and the day the schedule reaches it
    thirty = answer["thirtyPercent"]
    y30 = y(thirty["dailyDose"])
    out.append(f'<line class="thirty-percent" x1="{LEFT}" y1="{y30}" x2="{W - RIGHT}" y2="{y30}" stroke="{MARK}" '
               f'stroke-width="1" stroke-dasharray="2 3" data-date="{thirty["date"]}"/>')
    x30 = x(date.fromisoformat(thirty["date"]))
    out.append(f'<circle cx="{x30}" cy="{y30}" r="4" fill="{MARK}"/>')
    out.append(f'<text x="{W - RIGHT - 4}" y="{y30 - 5}" text-anchor="end" fill="{INK}">{escape(words["thirty"])}</text>')
    # the half-year line
    if six_inside:
        xs = x(six)
        out.append(f'<line class="six-months" x1="{xs}" y1="{TOP}" x2="{xs}" y2="{TOP + ph}" stroke="{MARK}" '
                   f'stroke-width="1.5" stroke-dasharray="8 4" data-date="{answer["sixMonths"]["date"]}"/>')
        out.append(f'<text x="{xs - 4}" y="{TOP + 12}" text-anchor="end" fill="{INK}">{escape(words["six"])}</text>')
    else:
        out.append(f'<text class="six-months" x="{W - RIGHT}" y="{H - 8}" text-anchor="end" fill="{INK}" '
                   f'data-date="{answer["sixMonths"]["date"]}">{escape(words["beyond"].format(date=answer["sixMonths"]["date"]))}</text>')
    # today
    if start <= today <= x_end:
        xt = x(today)
        out.append(f'<line class="today" x1="{xt}" y1="{TOP - 6}" x2="{xt}" y2="{TOP + ph}" stroke="{INK}" '
                   f'stroke-width="2" data-date="{answer["today"]}"/>')
        out.append(f'<text x="{xt + 4}" y="{TOP - 8}" fill="{INK}" font-weight="bold">{escape(words["today"])}</text>')
    # legend
    lx = LEFT + 70
    out.append(f'<line x1="{lx}" y1="14" x2="{lx + 26}" y2="14" stroke="{DOSE}" stroke-width="2.5"/>'
               f'<text x="{lx + 32}" y="18" fill="{INK}">{escape(words["dose"])} ({escape(unit)})</text>')
    lx += 220
    out.append(f'<line x1="{lx}" y1="14" x2="{lx + 26}" y2="14" stroke="{MEDD}" stroke-width="2" stroke-dasharray="6 4"/>'
               f'<text x="{lx + 32}" y="18" fill="{INK}">{escape(words["medd"])}</text>')
    out.append("</svg>")
    return "".join(out)


def _step_title(step: dict, unit: str, lang: str) -> str:
    medd = "?" if step["medd"] is None else _num(step["medd"], lang)
    if lang == "sv":
        return f"Steg {step['number']}: från {step['start']}, {step['days']} dagar, {_num(step['dailyDose'], lang)} {unit}, MEDD {medd}"
    return f"Step {step['number']}: from {step['start']}, {step['days']} days, {_num(step['dailyDose'], lang)} {unit}, MEDD {medd}"

