"""What the planner adds to a taper schedule: held steps, the morning/evening split, and the guideline's
limits as warnings. Pure functions beside :mod:`cds_service.domain.taper`, which they never change: the planner
asks the same engine as the cards, then applies what was agreed with the patient.

Sources (clinical-rules §2)
---------------------------
* "Om abstinensen upplevs för jobbig på ett visst dos-steg kan steget istället förlängas någon extra
  vecka" and "Öka aldrig dosen under en pågående nedtrappning!" [RJL "Allmänna principer och viktigt
  att tänka på"]: a held step lasts longer, every later step starts that much later, no dose changes.
* "Patienten själv har möjlighet att (inom rimliga gränser) påverka t.ex. nedtrappningstakt och
  tidsplan" [RJL "Hur hjälper jag min patient att hitta motivation?"]: the pace is the patient's and
  the physician's, the guideline's limits are said (warnings), not enforced.
* The limits: the fastest pace the guideline names is about 10 % of the daily dose every second day
  (after short use); after more than about 3 months a slow taper, 10 % a week; a step is "ungefär 10%";
  the slowest named pace is about 10 % every fourth week; tramadol 4 weeks on every step; more than
  about half a year is too drawn out [RJL "När behövs nedtrappning?", "Allmänna principer"].
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, timedelta

from cds_service.domain.model import Exposure, Form

from cds_service.domain.taper import (
    W_LONG,
    CustomPace,
    Pace,
    TaperSchedule,
    allowed_reduction,
    taper_schedule,
)

# Warning codes of the planner (beside the engine's W_* codes, which pass through).
W_FASTER_THAN_GUIDELINE = "faster-than-guideline"  # faster than 10 % of the daily dose every second day
W_FASTER_THAN_RECOMMENDED = "faster-than-recommended"  # faster than 10 %/week after ≥ 3 months of use
W_STEP_ABOVE_GUIDELINE = "step-larger-than-guideline"  # a custom step of more than about 10 %
W_SLOWER_THAN_GUIDELINE = "slower-than-guideline"  # slower than about 10 % every fourth week
W_TRAMADOL_SHORT_STEPS = "tramadol-steps-under-4-weeks"  # tramadol: 4 weeks on every dose step

FASTEST_RATE_PER_DAY = 0.10 / 2  # "10% av dygnsdosen varannan till var tredje dag"
LONG_TERM_RATE_PER_DAY = 0.10 / 7  # "10% minskning av dygnsdosen varje vecka" after > ~3 months
SLOWEST_RATE_PER_DAY = 0.10 / 28  # "ca 10% var fjärde vecka"
GUIDELINE_STEP_PERCENT = 10.0  # "ungefär 10%"
TRAMADOL_STEP_DAYS = 28  # "förslagsvis 4 veckor på varje dos-steg"

MORNING, EVENING = "morning", "evening"


@dataclass(frozen=True)
class PlanInputs:
    """What the planner asks for: the strengths row's drug (ingredient, form, combination), the start,
    the pace, which dose time takes the larger part of an uneven split, and held steps
    (``holds``: (step number, extra days) pairs, numbered as in the schedule without holds)."""

    ingredient: str
    form: Form
    combination: tuple[str, ...]
    start_dose: float
    unit: str
    start: date
    pace: Pace | CustomPace
    exposure: Exposure = Exposure.LONG_TERM
    strengths: tuple[float, ...] | None = None  # a subset of the row's strengths; None: all of them
    administrations_per_day: int | None = None  # the row's, when strengths are given
    split: str = EVENING
    holds: tuple[tuple[int, int], ...] = ()


def base_schedule(inputs: PlanInputs) -> TaperSchedule:
    """The engine's schedule for ``inputs``, before holds and split: exactly what a card computes for
    the same drug, dose, start and pace (the card passes the patient's product; the strengths row it
    lands on is the one ``inputs`` names)."""
    return taper_schedule(
        ingredient=inputs.ingredient, form=inputs.form, daily_dose=inputs.start_dose, unit=inputs.unit,
        exposure=inputs.exposure, start=inputs.start, pace=inputs.pace, strengths=inputs.strengths,
        administrations_per_day=inputs.administrations_per_day if inputs.strengths else None,
        companions=inputs.combination,
    )


def planned_schedule(inputs: PlanInputs) -> TaperSchedule:
    """:func:`base_schedule` with the split and the holds applied. ValueError when a hold names a
    step the schedule does not have."""
    schedule = base_schedule(inputs)
    if inputs.split == MORNING:
        schedule = larger_dose_in_the_morning(schedule)
    if inputs.holds:
        schedule = hold_steps(schedule, inputs.holds)
    return schedule


def hold_steps(schedule: TaperSchedule, holds: tuple[tuple[int, int], ...]) -> TaperSchedule:
    """Each held step lasts its extra days longer and every later step starts that much later; doses
    are never changed, so the schedule only gets slower (the engine's invariant D0 − dose ≤ R(t) still
    holds). ValueError for a step number outside the schedule or a non-positive extra."""
    extra: dict[int, int] = {}
    for number, days in holds:
        if not 1 <= number <= len(schedule.steps):
            raise ValueError(f"step {number} does not exist (the schedule has {len(schedule.steps)} steps)")
        if days < 1:
            raise ValueError(f"step {number}: extra days must be at least 1")
        extra[number] = extra.get(number, 0) + days
    shift = 0
    steps = []
    for step in schedule.steps:
        add = extra.get(step.number, 0)
        steps.append(replace(step, start=step.start + timedelta(days=shift), days=step.days + add))
        shift += add
    return replace(schedule, steps=tuple(steps), end=schedule.end + timedelta(days=shift),
                   total_days=schedule.total_days + shift)


def larger_dose_in_the_morning(schedule: TaperSchedule) -> TaperSchedule:
    """The engine gives the larger part of an uneven split to the evening (a dose below two tablets:
    the evening alone); this gives it to the morning instead — the first and last dose times swap.
    Daily doses, MEDD and dates are unchanged."""
    steps = []
    for step in schedule.steps:
        n = len(step.per_administration)
        if n < 2:
            steps.append(step)
            continue
        per, units = list(step.per_administration), list(step.units)
        per[0], per[-1] = per[-1], per[0]
        units[0], units[-1] = units[-1], units[0]
        steps.append(replace(step, per_administration=tuple(per), units=tuple(units)))
    return replace(schedule, steps=tuple(steps))


def rate_per_day(pace: Pace | CustomPace) -> float:
    """The pace's cut per day as a fraction of the start dose (its first phase)."""
    return allowed_reduction(pace, 1.0, 1.0)


def guideline_warnings(schedule: TaperSchedule, inputs: PlanInputs, long_taper_days: int) -> tuple[str, ...]:
    """The engine's warnings, with the half-year one judged by ``long_taper_days`` (the service's
    setting, as the cards do), and the pace's distance from the guideline's limits (module docstring)."""
    out = [w for w in schedule.warnings if w != W_LONG]
    rate = rate_per_day(inputs.pace)
    pace = inputs.pace
    custom = pace if isinstance(pace, CustomPace) else None
    if rate > FASTEST_RATE_PER_DAY + 1e-12:
        out.append(W_FASTER_THAN_GUIDELINE)
    elif inputs.exposure in (Exposure.LONG_TERM, Exposure.MULTI_YEAR) and rate > LONG_TERM_RATE_PER_DAY + 1e-12:
        out.append(W_FASTER_THAN_RECOMMENDED)
    if custom and custom.percent > GUIDELINE_STEP_PERCENT + 1e-9:
        out.append(W_STEP_ABOVE_GUIDELINE)
    if custom and rate < SLOWEST_RATE_PER_DAY - 1e-12:
        out.append(W_SLOWER_THAN_GUIDELINE)
    if inputs.ingredient == "tramadol" and inputs.exposure is not Exposure.ACUTE:
        short = custom.days < TRAMADOL_STEP_DAYS if custom else pace in (Pace.FAST, Pace.WEEKLY)
        if short:
            out.append(W_TRAMADOL_SHORT_STEPS)
    if schedule.total_days > long_taper_days:
        out.append(W_LONG)
    return tuple(dict.fromkeys(out))


def thirty_percent_point(schedule: TaperSchedule) -> tuple[date, int | None]:
    """The day the daily dose first is at most 30 % of the start dose, and that step's number (None:
    the zero day). Where [NKK via RJL "När behövs nedtrappning?"] has the pace slow down."""
    limit = 0.30 * schedule.start_dose + 1e-9
    for step in schedule.steps:
        if step.daily_dose <= limit:
            return step.start, step.number
    return schedule.end, None


def hold_increment_days(schedule: TaperSchedule) -> int:
    """A week, or for patches the whole change intervals that make at least one ("någon extra vecka")."""
    if schedule.form is Form.PATCH and schedule.change_interval_days:
        interval = schedule.change_interval_days
        return math.ceil(7 / interval) * interval
    return 7


def estimated_steps(pace: CustomPace) -> int:
    """Steps a custom pace makes from the start dose to zero, before rounding to the strengths."""
    return math.ceil(100 / pace.percent - 1e-9)
