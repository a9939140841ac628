"""Fixtures that never go stale: every FHIR date of a fixture moved by whole days when it is used.

The fixtures under ``fixtures/`` are written for one day, :data:`REFERENCE_DATE` (2026-11-23): the
histories end near it, the drafts are dated on it, and every request says so in
``extension.trappa.today``. Used on another day — loaded into a FHIR server, sent as a request, run by
a test — a fixture is rolled first: :func:`roll_to` moves all its dates by the days between the day it
was written for and the day it is used, so a patient who renewed 25 days before the reference day
renewed 25 days before today, and gets the same cards. This is the CDC opioid CDS's ``dataDateRoller``
(``dateLastUpdated`` + ``frequency``: every date moved forward by the time since it was last rolled),
with one difference: the files are never rewritten, the rolling happens on the way out.

What moves, by the same number of days everywhere in the document (so every interval stays the same):

- the value of every FHIR element of type date, dateTime or instant, recognised by the element's name
  (:data:`DATE_ELEMENTS`: every such name of the R4 resources and data types, choice types spelt out —
  ``authoredOn``, ``birthDate``, ``onsetDateTime``, ``whenHandedOver``, ``issued``, the ``start`` and
  ``end`` of every Period, the ``event`` of a Timing, the ``valueDateTime`` of an extension …), when
  it is a string of a date's shape. A Period thus moves whole, a ``birthDate`` moves with the rest so
  that every age stays the same, and a ``dataDateRoller``'s ``dateLastUpdated`` (a ``valueDateTime``)
  moves too, so it names the day the data are now rolled to;
- a request's ``extension.trappa.today`` (the day the request is evaluated as of; only development mode
  honours it). :func:`without_today` removes it, for a request sent as an EHR or the sandbox would.

How each kind moves:

- a date ``YYYY-MM-DD``: by ``days`` days, by the calendar (month ends and 29 February as it has them);
- a dateTime or instant with a time (``2026-11-23T08:30:00+01:00``, ``…T00:00:00.000Z``): its date by
  ``days`` days; the time of day, the fraction of a second and the zone stay as written, so the instant
  moves by exactly ``days`` × 24 hours;
- a partial date (``YYYY-MM``, ``YYYY``), which says no more than its month or year: by whole months or
  whole years, the count rounded from ``days`` (:func:`whole_months`, :func:`whole_years`). A shift of
  less than half a month (half a year) leaves it as it is, and a shift of 400 days moves ``2025-09`` to
  ``2026-10`` and ``1968`` to ``1969``. Rounding is symmetric, so rolling by +N and then by −N gives the
  document back exactly, for every kind (the tests check this), though two rolls do not always add up to
  one (+10 and +10 leave ``2025-09`` where +20 moves it).

What does not move: ids, references, URLs (search URLs with date parameters too), codes, free text
(``text``, ``display``, a Narrative's ``div``, a dosage's wording), numbers, and strings of a date's
shape under any other name (an identifier's ``value`` ``"2026"``). A string of a date's shape under a
date element's name that is not a real date (``2026-02-30``), or a date that would leave the years
0001–9999, raises :class:`ValueError` naming where it is: a broken fixture should stop the run, not
travel on unrolled.

Standard library only: ``./trappa demo`` and the tests import it from the repository root.
"""
from __future__ import annotations

import copy
import re
from datetime import date, timedelta
from typing import Any

#: The day every fixture under ``fixtures/`` is written for (``TODAY`` of ``fixtures/build_*.py``). A
#: request that carries ``extension.trappa.today`` is taken to be written for that day instead
#: (:func:`fixture_date`); patients' transaction Bundles carry no mark and are written for this one.
REFERENCE_DATE = date(2026, 11, 23)

#: The names of the FHIR R4 elements whose type is date, dateTime or instant (choice types with their
#: type: ``onset[x]`` → ``onsetDateTime``), from the R4 StructureDefinitions of resources and data types
#: (``tests/web/test_roll.py`` derives them again from the definitions the FHIR test server uses and checks
#: that this list is that list). ``value`` is left out: it is a dateTime only in
#: ``ImmunizationRecommendation.recommendation.dateCriterion`` and a string in Identifier and ContactPoint.
#: ``start``, ``end``, ``event``, ``when`` and ``lockedDate`` are something else in a few places (an
#: integer, a code, a CodeableConcept, a boolean); those values are never strings of a date's shape.
DATE_ELEMENTS = frozenset({
    "abatementDateTime", "answerDate", "answerDateTime", "approvalDate", "authored", "authoredOn", "birthDate",
    "bornDate", "collectedDateTime", "created", "createdDateTime", "creation", "date", "dateAsserted",
    "dateDateTime", "dateOfFirstAuthorization", "dateTime", "dateWritten", "deceasedDate", "deceasedDateTime",
    "defaultValueDate", "defaultValueDateTime", "defaultValueInstant", "detected", "dueDate", "effectiveDate",
    "effectiveDateTime", "effectiveInstant", "effectiveTime", "end", "enteredDate", "event", "eventDateTime",
    "expirationDate", "expiry", "fixedDate", "fixedDateTime", "fixedInstant", "identifiedDateTime",
    "ifModifiedSince", "internationalBirthDate", "issued", "lastModified", "lastOccurrence", "lastPerformed",
    "lastReviewDate", "lastUpdated", "lockedDate", "manufactureDate", "maxValueDate", "maxValueDateTime",
    "maxValueInstant", "minValueDate", "minValueDateTime", "minValueInstant", "nextScheduled", "occurredDateTime",
    "occurrenceDateTime", "onset", "onsetDateTime", "participantEffectiveDateTime", "patternDate",
    "patternDateTime", "patternInstant", "paymentDate", "performedDateTime", "presentationDate",
    "publicationDate", "received", "receivedTime", "recorded", "recordedDate", "recordedOn", "releaseDate",
    "restoreDate", "sent", "servicedDate", "start", "startDate", "started", "statusDate",
    "studyEffectiveDateTime", "time", "timeDateTime", "timestamp", "timingDate", "timingDateTime", "validTo",
    "validationDate", "valueDate", "valueDateTime", "valueInstant", "verificationDate", "when", "whenHandedOver",
    "whenPrepared",
})

# A FHIR date, dateTime or instant: year, optional month, optional day, and after a full date an
# optional time of day with optional fraction and zone (kept as written, never parsed).
_DATE_SHAPE = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?P<time>T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_DAYS_PER_YEAR = 365.2425  # the Gregorian calendar's mean year
_DAYS_PER_MONTH = _DAYS_PER_YEAR / 12


def is_date_shaped(value: Any) -> bool:
    """True for a string that has the shape of a FHIR date, dateTime or instant (valid or not)."""
    return isinstance(value, str) and _DATE_SHAPE.fullmatch(value) is not None


def whole_months(days: int) -> int:
    """The months a ``YYYY-MM`` date moves when the rest moves by ``days`` days (rounded half to even,
    so ``whole_months(-n) == -whole_months(n)``)."""
    return round(days / _DAYS_PER_MONTH)


def whole_years(days: int) -> int:
    """The years a ``YYYY`` date moves when the rest moves by ``days`` days (rounded like the months)."""
    return round(days / _DAYS_PER_YEAR)


def shift(value: str, days: int, where: str = "value") -> str:
    """One FHIR date, dateTime or instant moved by ``days`` days (partial dates by whole months or years;
    module docstring). Raises ValueError if ``value`` is not of a date's shape, not a real date, or would
    leave the years 0001–9999; ``where`` names it in the message."""
    m = _DATE_SHAPE.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"{where}: {value!r} is not a FHIR date, dateTime or instant")
    year, month, day = m["year"], m["month"], m["day"]
    try:
        if day is not None:
            moved = date(int(year), int(month), int(day)) + timedelta(days=days)
            return moved.isoformat() + (m["time"] or "")
        _check_year(int(year))
        if month is not None:
            if not 1 <= int(month) <= 12:
                raise ValueError(f"there is no month {month}")
            moved_year, moved_month = divmod(int(year) * 12 + int(month) - 1 + whole_months(days), 12)
            return f"{_check_year(moved_year):04d}-{moved_month + 1:02d}"
        return f"{_check_year(int(year) + whole_years(days)):04d}"
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{where}: {value!r} cannot be moved by {days} days ({exc})") from None


def _check_year(year: int) -> int:
    if not 1 <= year <= 9999:
        raise ValueError(f"year {year} is out of range")
    return year


def roll(document: Any, days: int) -> Any:
    """A copy of ``document`` (a FHIR resource or Bundle, a CDS Hooks request, or any JSON value holding
    them) with every FHIR date moved by ``days`` days, and a request's ``extension.trappa.today`` with
    them. ``document`` itself is not changed; ``roll(roll(d, n), -n) == d``."""
    rolled = _roll(document, days, "$")
    today = _trappa(rolled).get("today")
    if is_date_shaped(today):
        _trappa(rolled)["today"] = shift(today, days, "$.extension.trappa.today")
    return rolled


def _roll(node: Any, days: int, where: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            here = f"{where}.{key}"
            out[key] = _roll_element(value, days, here) if key in DATE_ELEMENTS else _roll(value, days, here)
        return out
    if isinstance(node, list):
        return [_roll(value, days, f"{where}[{i}]") for i, value in enumerate(node)]
    return node


def _roll_element(value: Any, days: int, where: str) -> Any:
    """The value of an element of a date element's name: a date string (or a list of them, as a Timing's
    ``event``) moves; anything else (the integer ``start`` of a MolecularSequence) is walked as usual."""
    if is_date_shaped(value):
        return shift(value, days, where)
    if isinstance(value, list):
        return [shift(v, days, f"{where}[{i}]") if is_date_shaped(v) else _roll(v, days, f"{where}[{i}]")
                for i, v in enumerate(value)]
    return _roll(value, days, where)


def _trappa(document: Any) -> dict:
    """``document["extension"]["trappa"]`` when it is there and an object, else an empty dict."""
    extension = document.get("extension") if isinstance(document, dict) else None
    trappa = extension.get("trappa") if isinstance(extension, dict) else None
    return trappa if isinstance(trappa, dict) else {}


def fixture_date(document: Any) -> date:
    """The day ``document`` is written for: a request's ``extension.trappa.today`` when that is a date,
    else :data:`REFERENCE_DATE` (a request whose ``today`` is no date gets its 400 from the service)."""
    today = _trappa(document).get("today")
    if isinstance(today, str) and len(today) == 10:
        try:
            return date.fromisoformat(today)
        except ValueError:
            pass
    return REFERENCE_DATE


def days_to(document: Any, day: date) -> int:
    """How many days :func:`roll_to` moves ``document`` to make it about ``day``."""
    return (day - fixture_date(document)).days


def roll_to(document: Any, day: date, *, keep_today: bool = True) -> Any:
    """``document`` rolled so that the day it is written for (:func:`fixture_date`) becomes ``day``:
    "rolled to today" is ``roll_to(fixture, date.today())``. With ``keep_today=False`` a request loses
    its ``extension.trappa.today`` (:func:`without_today`): sent as the CDS Hooks sandbox or an EHR
    would send it, evaluated as of the service's own today."""
    rolled = roll(document, days_to(document, day))
    return rolled if keep_today else without_today(rolled)


def without_today(request: Any) -> Any:
    """A copy of ``request`` without ``extension.trappa.today`` (and without ``extension.trappa`` and
    ``extension`` when nothing else is left in them). Anything but a dict comes back as it is."""
    if not isinstance(request, dict) or "today" not in _trappa(request):
        return copy.deepcopy(request)
    out = copy.deepcopy(request)
    trappa = out["extension"]["trappa"]
    del trappa["today"]
    if not trappa:
        del out["extension"]["trappa"]
    if not out["extension"]:
        del out["extension"]
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m demo.roll FILE [--to YYYY-MM-DD]``: FILE (a fixture patient's Bundle or a request)
    rolled to today (or ``--to``), without ``extension.trappa.today``, as JSON on stdout — for loading a
    fixture into a FHIR server of one's own (README, "Try it in the CDS Hooks sandbox"): the sandbox
    dates its draft orders with the browser's today, so the record must be about that day too."""
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(prog="python -m demo.roll", description=main.__doc__.split(":", 1)[0])
    parser.add_argument("file", help="a fixture: fixtures/patients/<name>.json or fixtures/requests/<name>.json")
    parser.add_argument("--to", type=date.fromisoformat, default=None, help="the day to roll to (default: today)")
    args = parser.parse_args(argv)
    try:
        with open(args.file, encoding="utf-8") as fh:
            document = json.load(fh)
        rolled = roll_to(document, args.to or date.today(), keep_today=False)
    except (OSError, ValueError) as exc:
        print(f"demo.roll: {args.file}: {exc}", file=sys.stderr)
        return 2
    json.dump(rolled, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
