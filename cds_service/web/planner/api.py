"""``POST /taper/schedule``: the planner's one clinical computation, as JSON in and out.

The request (``cds_service/protocol/schemas/taper-schedule.request.schema.json``) names the drug by its strengths
row, the start dose and date, the pace (a card's preset or a custom % per step and days per step), the
morning/evening split and held steps; the answer (``taper-schedule.response.schema.json``) is the dated
schedule from the same engine as the cards (:func:`cds_service.domain.taper_plan_inputs.base_schedule` is
``taper_schedule`` with the card's arguments), with what the planner adds applied and the guideline's
limits said as warnings.

Validated as the hook endpoints are: the first problem is a 400 OperationOutcome naming the field. What
the guideline forbids is refused, not warned: a start above the dose the patient takes today, a pace
that raises the dose ("Öka aldrig dosen under en pågående nedtrappning!", [RJL "Allmänna principer"]).
What it advises against — faster, slower, larger steps, longer than half a year — is a warning
("inom rimliga gränser", [RJL "Hur hjälper jag min patient att hitta motivation?"]): the physician and
the patient decide.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from cds_service.domain import taper_plan_inputs as plan
from cds_service.protocol.errors import RequestProblem
from cds_service.cards.phrases import fmt_daily_dose, fmt_number, taper_table
from cds_service.domain.taper import CustomPace, Pace, TaperSchedule, strengths_table
from cds_service.domain.model import MG, UG_PER_H, Exposure, Form

from cds_service.web.planner import texts

#: At most this many steps in one schedule: a custom pace of 1 % per step already makes 100. More is no
#: plan to give a patient (and a bound on the work of one request).
MAX_STEPS = 120
#: How far from today a schedule may start: a taper planned today may have begun last month (a running
#: one re-planned from its step) or begin within the year.
START_BEFORE_DAYS, START_AFTER_DAYS = 31, 366

_UNIT_NAMES = {MG: "mg", UG_PER_H: "µg/h"}


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    text = resources.files("cds_service.protocol.schemas").joinpath("taper-schedule.request.schema.json").read_text("utf-8")
    return Draft202012Validator(json.loads(text))


def _where(error) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "(root)"


def _problem(where: str, message: str) -> RequestProblem:
    return RequestProblem(400, "invalid", f"{where}: {message}", expression=where)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _precheck(body: dict) -> None:
    """The refusals worth their own words, before the schema's generic ones."""
    dose = body.get("startDailyDose")
    if "startDailyDose" in body and not _number(dose):
        raise _problem("startDailyDose", f"{json.dumps(dose)[:40]} is not a number (mg/day, or µg/h for a patch)")
    if _number(dose) and not math.isfinite(dose):
        raise _problem("startDailyDose", "not a finite number")
    pace = body.get("pace")
    if isinstance(pace, dict) and "percentPerStep" in pace:
        pct = pace["percentPerStep"]
        if not _number(pct):
            raise _problem("pace.percentPerStep", f"{json.dumps(pct)[:40]} is not a number")
        if pct <= 0:
            raise _problem("pace.percentPerStep", "a pace must lower the dose (above 0 % per step): a taper never "
                                                  "raises the dose")
    for i, hold in enumerate(body.get("holds") or () if isinstance(body.get("holds"), list) else ()):
        if isinstance(hold, dict) and _number(hold.get("extraDays")) and hold["extraDays"] <= 0:
            raise _problem(f"holds.{i}.extraDays", "a held step lasts longer (at least 1 extra day); the dose is "
                                                   "never raised")


def validate(body) -> None:
    """400 naming the first problem, as the hook endpoints answer."""
    if not isinstance(body, dict):
        raise _problem("(root)", "the request must be a JSON object")
    _precheck(body)
    error = best_match(_validator().iter_errors(body))
    if error is not None:
        if error.validator == "maxItems":  # jsonschema would quote the whole list
            message = f"{len(error.instance)} items is too long (at most {error.validator_value})"
        else:
            message = error.message if len(error.message) <= 300 else error.message[:300] + "…"
        raise _problem(_where(error), message)


@dataclass(frozen=True)
class Bounds:
    """What the authority allows: the opioid of the proposal, and the dose the patient takes today
    (the highest start: never an increase). ``exposure`` is the proposal's (it decides the warnings)."""

    ingredient: str
    max_start_dose: float
    unit: str
    exposure: Exposure
    today: date

    @classmethod
    def of(cls, proposal: dict, today: date) -> "Bounds":
        drug = proposal.get("drug") or {}
        return cls(ingredient=str(drug.get("ingredient") or ""), max_start_dose=float(proposal["maxStartDailyDose"]),
                   unit=str(proposal.get("unit") or MG), exposure=Exposure(proposal.get("exposure") or "long-term"),
                   today=today)


@dataclass(frozen=True)
class Request:
    """A validated request: the engine's inputs and the print-out's."""

    inputs: plan.PlanInputs
    follow_up: date
    views: tuple[str, ...]
    row: Any  # cds_service.domain.taper.StrengthRow


def products(ingredient: str, unit: str) -> list[dict]:
    """The strengths rows the planner may taper ``ingredient`` with: the table's rows of it in ``unit``."""
    out = []
    for (ing, form, combination), row in strengths_table().items():
        if ing == ingredient and row.unit == unit:
            out.append({"form": form.value, "combination": list(combination), "product": row.product_sv,
                        "productEn": row.product_en, "strengths": list(row.strengths), "unit": row.unit,
                        "depot": row.depot})
    return out


def _date(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _problem(where, f"{text!r} is not a date") from None


def parse(body, bounds: Bounds, follow_up_days: int) -> Request:
    """The validated request as engine inputs, held to ``bounds``; RequestProblem(400) otherwise."""
    validate(body)
    drug = body["drug"]
    ingredient = drug["ingredient"].strip().lower()
    form = Form(drug["form"])
    combination = tuple(sorted({c.strip().lower() for c in drug.get("combination") or ()}))
    row = strengths_table().get((ingredient, form, combination))
    if row is None:
        raise _problem("drug", f"no strengths row for {ingredient!r} ({form.value}"
                               f"{', ' + '/'.join(combination) if combination else ''}) in the strengths table")
    if ingredient != bounds.ingredient:
        raise _problem("drug.ingredient", f"this plan is for {bounds.ingredient}: another opioid needs its own "
                                          f"proposal (the dose is that opioid's)")
    if row.unit != bounds.unit:
        raise _problem("drug.form", f"the proposal's dose is in {_UNIT_NAMES.get(bounds.unit, bounds.unit)}; "
                                    f"{row.product_sv} is dosed in {_UNIT_NAMES.get(row.unit, row.unit)}")
    if body.get("unit") not in (None, row.unit):
        raise _problem("unit", f"{row.product_sv} is dosed in {row.unit}")
    strengths = None
    if drug.get("strengths") is not None:
        chosen = tuple(sorted({float(s) for s in drug["strengths"]}))
        foreign = [s for s in chosen if s not in row.strengths]
        if foreign:
            raise _problem("drug.strengths", f"{fmt_number(foreign[0], 'en')} is not a strength of {row.product_en} "
                                             f"({', '.join(fmt_number(s, 'en') for s in row.strengths)})")
        strengths = None if chosen == row.strengths else chosen
    dose = float(body["startDailyDose"])
    if dose > bounds.max_start_dose + 1e-9:
        raise _problem("startDailyDose", f"{fmt_daily_dose(dose, row.unit, 'en')} is above the dose the patient "
                                         f"takes today ({fmt_daily_dose(bounds.max_start_dose, row.unit, 'en')}): "
                                         f"a taper never raises the dose")
    start = _date(body["startDate"], "startDate")
    if not bounds.today - timedelta(days=START_BEFORE_DAYS) <= start <= bounds.today + timedelta(days=START_AFTER_DAYS):
        raise _problem("startDate", f"must be within {START_BEFORE_DAYS} days before and {START_AFTER_DAYS} days "
                                    f"after today ({bounds.today.isoformat()})")
    raw_pace = body["pace"]
    if "preset" in raw_pace:
        pace: Pace | CustomPace = Pace(raw_pace["preset"])
    else:
        pace = CustomPace(float(raw_pace["percentPerStep"]), int(raw_pace["daysPerStep"]))
        if plan.estimated_steps(pace) > MAX_STEPS:
            raise _problem("pace.percentPerStep", f"{fmt_number(pace.percent, 'en')} % per step makes "
                                                  f"{plan.estimated_steps(pace)} steps; at most {MAX_STEPS}")
    holds = tuple((h["step"], h["extraDays"]) for h in body.get("holds") or ())
    follow_up = _date(body["followUp"], "followUp") if body.get("followUp") else start + timedelta(days=follow_up_days)
    inputs = plan.PlanInputs(
        ingredient=ingredient, form=form, combination=combination, start_dose=dose, unit=row.unit, start=start,
        pace=pace, exposure=bounds.exposure, strengths=strengths,
        administrations_per_day=row.administrations_per_day if strengths else None,
        split=body.get("split") or plan.EVENING, holds=holds,
    )
    return Request(inputs=inputs, follow_up=follow_up, views=tuple(body.get("views") or ()), row=row)


def schedule_of(req: Request) -> TaperSchedule:
    """The planned schedule; 400 when it has no steps (why, in the engine's words) or a hold names a
    step it does not have."""
    base = plan.base_schedule(req.inputs)
    if not base.steps:
        code = next((w for w in base.warnings if w in texts.NO_SCHEDULE), None)
        why = texts.NO_SCHEDULE[code]["en"] if code else "no schedule can be made"
        raise RequestProblem(400, "invalid", f"startDailyDose: {why}", expression="startDailyDose")
    if len(base.steps) > MAX_STEPS:
        raise _problem("pace", f"the schedule has {len(base.steps)} steps; at most {MAX_STEPS}")
    schedule = base
    if req.inputs.split == plan.MORNING:
        schedule = plan.larger_dose_in_the_morning(schedule)
    if req.inputs.holds:
        try:
            schedule = plan.hold_steps(schedule, req.inputs.holds)
        except ValueError as exc:
            raise _problem("holds", str(exc)) from None
    return schedule


def pace_json(pace: Pace | CustomPace, lang: str) -> dict:
    if isinstance(pace, CustomPace):
        return {"preset": None, "percentPerStep": pace.percent, "daysPerStep": pace.days,
                "label": texts.t(texts.PACES["custom"], lang)}
    return {"preset": pace.value, "label": texts.t(texts.PACES[pace.value], lang)}


def _time_codes(n: int) -> tuple[str, ...]:
    return texts.TIME_CODES.get(n) or tuple(f"dose-{i + 1}" for i in range(n))


def _time_labels(n: int, lang: str) -> tuple[str, ...]:
    return texts.TIMES[lang].get(n) or tuple(f"{i + 1}" for i in range(n))


def card_table(schedule: TaperSchedule, lang: str) -> dict:
    """The table exactly as the card shows it (``cards.phrases.taper_table``), as head and rows of cells."""
    lines = [line for line in taper_table(schedule, lang).splitlines() if not line.startswith("|---")]
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    return {"head": cells[0], "rows": cells[1:]}


def response(req: Request, schedule: TaperSchedule, lang: str, long_taper_days: int, today: date,
             contact: str | None) -> dict:
    """The answer of ``POST /taper/schedule`` (``taper-schedule.response.schema.json``)."""
    inputs = req.inputs
    n = schedule.administrations_per_day
    codes, labels = _time_codes(n), _time_labels(n, lang)
    extra = {}
    for number, days in inputs.holds:
        extra[number] = extra.get(number, 0) + days
    steps = []
    for step in schedule.steps:
        doses = []
        for i, (amount, units) in enumerate(zip(step.per_administration, step.units)):
            doses.append({"time": codes[i] if i < len(codes) else f"dose-{i + 1}",
                          "label": labels[i] if i < len(labels) else str(i + 1), "amount": amount,
                          "units": [{"strength": s, "count": c} for s, c in units]})
        steps.append({"number": step.number, "start": step.start.isoformat(), "end": step.end.isoformat(),
                      "days": step.days, "extraDays": extra.get(step.number, 0), "dailyDose": step.daily_dose,
                      "unit": step.unit, "medd": step.medd, "percentOfStart": round(100 * step.daily_dose / schedule.start_dose, 1),
                      "doses": doses})
    point, point_step = plan.thirty_percent_point(schedule)
    warnings = plan.guideline_warnings(schedule, inputs, long_taper_days)
    row = req.row
    return {
        "drug": {"ingredient": schedule.ingredient, "form": schedule.form.value, "combination": list(schedule.combination),
                 "product": row.product_sv, "productEn": row.product_en, "unit": schedule.unit,
                 "strengths": list(schedule.strengths), "availableStrengths": list(row.strengths),
                 "administrationsPerDay": n, "changeIntervalDays": schedule.change_interval_days},
        "startDailyDose": schedule.start_dose,
        "startDate": inputs.start.isoformat(),
        "today": today.isoformat(),
        "pace": pace_json(inputs.pace, lang),
        "split": inputs.split,
        "holds": [{"step": s, "extraDays": d} for s, d in sorted(extra.items())],
        "holdIncrementDays": plan.hold_increment_days(schedule),
        "steps": steps,
        "end": schedule.end.isoformat(),
        "totalDays": schedule.total_days,
        "thirtyPercent": {"date": point.isoformat(), "step": point_step, "dailyDose": round(0.3 * schedule.start_dose, 3)},
        "sixMonths": {"date": (inputs.start + timedelta(days=long_taper_days)).isoformat(), "days": long_taper_days},
        "warnings": [{"code": w, "text": texts.t(texts.WARNINGS.get(w, {"sv": w}), lang).format(long=long_taper_days)}
                     for w in warnings],
        "table": card_table(schedule, lang),
        "followUp": req.follow_up.isoformat(),
        "contact": contact or None,
        "products": products(schedule.ingredient, schedule.unit),
    }
