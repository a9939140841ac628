"""FHIR R4 resources Trappa proposes: taper CarePlan and MedicationRequest, prescribing-restriction
Flag, referral ServiceRequest (clinical-rules §2, §3, §5).

Plain dicts that validate with ``fhir.resources.R4B``. Texts in Swedish (``lang="sv"``, default)
or English (``lang="en"``), in the guidelines' own terms (nedtrappning, dygnsdos, dos-steg,
depotberedning, förskrivningsrestriktion, uppmärksamhetssignal).

Shape decisions
---------------
* A step whose morning and evening doses differ is two ``dosageInstruction`` entries with the same
  ``sequence`` (one per dose size, each with its ``timing.repeat.when``): a Dosage holds one dose
  quantity, and lines with one sequence add up to the step's daily dose. Equal doses: one entry.
* Patches: ``doseQuantity`` is the number of patches applied (UCUM ``{patch}``), ``rateQuantity``
  the total µg/h (UCUM ``ug/h``), repeated every change interval (72 h fentanyl, 7 days
  buprenorphine).
* The CarePlan's ``period.end`` is the last dosing day (inclusive, as a FHIR date); the schedule's
  ``end`` (first day at zero dose) is the due date of the "opioid-free" goal.
"""
from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING

from fhir_mappings.codes.names import ingredient_sv
from fhir_mappings.codes.tables import rxnorm_table
from cds_service.domain.model import UG_PER_H
from fhir_mappings.codes.systems import (
    ATC,
    NPL,
    RXNORM,
    CAREPLAN_TAPER_CODE,
    FLAG_RESTRICTION_CODE,
    LOINC,
    SNOMED,
    SNOMED_OPIOID_TAPER,
    TRAPPA_CAREPLAN,
    TRAPPA_FLAG,
    TRAPPA_REFERRAL,
    UCUM,
)

if TYPE_CHECKING:  # the schedule lives in the service package; builders only read its fields
    from cds_service.domain.taper import TaperSchedule, TaperStep

FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
SNOMED_PATIENT_REFERRAL = "3457005"
LOINC_PAIN_NRS = "72514-3"  # Pain severity - 0-10 verbal numeric rating [Score] - Reported
EVENT_TIMING = {1: (), 2: ("MORN", "EVE"), 3: ("MORN", "NOON", "EVE"), 4: ("MORN", "NOON", "AFT", "EVE")}

_LANGS = ("sv", "en")

_SLOT_NAMES = {
    "sv": {1: ("en gång dagligen",), 2: ("morgon", "kväll"), 3: ("morgon", "mitt på dagen", "kväll"),
           4: ("morgon", "lunch", "eftermiddag", "kväll")},
    "en": {1: ("once daily",), 2: ("morning", "evening"), 3: ("morning", "midday", "evening"),
           4: ("morning", "noon", "afternoon", "evening")},
}

_PACE_TEXT = {
    "sv": {
        "fast": "snabb nedtrappning: cirka 10 % av startdygnsdosen var tredje dag",
        "weekly": "långsam nedtrappning: 10 % av startdygnsdosen per vecka ned till 30 %, därefter 5 % per vecka",
        "slow": "mycket långsam nedtrappning: 10 % av startdygnsdosen var fjärde vecka",
        "tramadol": "tramadol: minst 4 veckor på varje dos-steg (serotonerga utsättningsbesvär)",
    },
    "en": {
        "fast": "fast taper: about 10% of the starting daily dose every third day",
        "weekly": "slow taper: 10% of the starting daily dose per week down to 30%, then 5% per week",
        "slow": "very slow taper: 10% of the starting daily dose every fourth week",
        "tramadol": "tramadol: at least 4 weeks on every dose step (serotonergic withdrawal)",
    },
}

_AGREEMENT = {
    "sv": (
        "**Överenskommelse med patienten under nedtrappningen**\n\n"
        "- Nedtrappningen följer det gemensamt överenskomna schemat. Vid oenighet avgör ansvarig läkare "
        "nästa steg.\n"
        "- Dosen ökas aldrig. Blir abstinensen för besvärlig på ett dos-steg kan steget i stället förlängas "
        "en eller några veckor.\n"
        "- Inga vid behovsdoser eller extra-tabletter av opioid – en fast dygnsdos.\n"
        "- Opioider förskrivs enbart av den läkare som ansvarar för nedtrappningen (eller av denne utsedd "
        "kollega). Patienten söker inte opioider hos andra vårdgivare eller från annan källa.\n"
        "- Patienten samtycker till att vården tar del av uthämtade läkemedel och NPÖ, och till att en "
        "uppmärksamhetssignal med förskrivningsrestriktion registreras.\n"
        "- Förskriven opioid är en värdehandling: borttappade läkemedel ersätts inte.\n"
        "- Vid misstanke om sidomissbruk eller hög alkoholkonsumtion kan toxikologiskt prov och B-PEth "
        "begäras. Upprepat positivt prov eller vägran att lämna prov bryter överenskommelsen; då upphör "
        "förskrivningen och recepten makuleras."
    ),
    "en": (
        "**Agreement with the patient during the taper**\n\n"
        "- The taper follows the jointly agreed schedule. On disagreement the responsible physician decides "
        "the next step.\n"
        "- The dose is never increased. If withdrawal on a dose step is too hard, that step is extended by "
        "one or more weeks instead.\n"
        "- No as-needed doses or extra tablets of any opioid – a fixed daily dose.\n"
        "- Opioids are prescribed only by the physician responsible for the taper (or a named colleague). "
        "The patient does not seek opioids from other prescribers or sources.\n"
        "- The patient consents to the care team viewing dispensed medicines and the national patient "
        "summary (NPÖ), and to an alert with a prescribing restriction being registered.\n"
        "- The prescribed opioid is a thing of value: lost medication is not replaced.\n"
        "- On suspicion of other substance use or heavy drinking, toxicology and B-PEth may be required. "
        "Repeated positive or refused tests break the agreement: prescribing stops and prescriptions are "
        "cancelled."
    ),
}

_SUPPORT = {
    "sv": (
        "**Symtomlindring vid abstinens (tillfälligt)**: paracetamol + ibuprofen mot smärta, loperamid mot "
        "diarré, metoklopramid mot illamående, alimemazin och/eller mirtazapin för sömn och mot ångest. "
        "Erbjud aldrig bensodiazepiner, zopiklon eller zolpidem. Öka inte opioiden vid ökad smärta – se "
        "över övrig smärtbehandling."
    ),
    "en": (
        "**Temporary relief of withdrawal symptoms**: paracetamol + ibuprofen for pain, loperamide for "
        "diarrhoea, metoclopramide for nausea, alimemazine and/or mirtazapine for sleep and anxiety. Never "
        "offer benzodiazepines, zopiclone or zolpidem. Do not raise the opioid for increased pain – review "
        "the other pain treatment."
    ),
}

_WARNING_TEXT = {
    "sv": {
        "longer-than-6-months": "Schemat är längre än ett halvår. En alltför utdragen nedtrappning leder till "
        "onödigt lidande – överväg en snabbare takt.",
        "no-depot-formulation": "Depotberedning saknas för {ingredient}; schemat använder {product}.",
        "start-dose-rounded-down": "Dygnsdosen {start} kan inte ges med tillgängliga styrkor; första steget "
        "är {first}.",
        "acute-stop-possible": "Efter kort tids behandling kan opioiden oftast sättas ut direkt; snabb "
        "nedtrappning är ett alternativ.",
    },
    "en": {
        "longer-than-6-months": "The schedule is longer than half a year. An overly drawn-out taper causes "
        "needless suffering – consider a faster pace.",
        "no-depot-formulation": "No depot formulation of {ingredient}; the schedule uses {product}.",
        "start-dose-rounded-down": "The daily dose {start} cannot be given with the available strengths; the "
        "first step is {first}.",
        "acute-stop-possible": "After short treatment the opioid can usually be stopped at once; a fast taper "
        "is the alternative.",
    },
}

_RESTRICTION_DISPLAY = {
    "sv": "Förskrivningsrestriktion: opioider förskrivs endast av ansvarig läkare",
    "en": "Prescribing restriction: opioids are prescribed only by the responsible physician",
}

_REFERRAL_TARGET = {
    "psychiatry": {"sv": "Psykiatrisk klinik / beroendemottagning", "en": "Psychiatry / addiction clinic"},
    "pain-clinic": {"sv": "Smärtklinik", "en": "Pain clinic"},
}


def _lang(lang: str) -> str:
    if lang not in _LANGS:
        raise ValueError(f"lang must be one of {_LANGS}, not {lang!r}")
    return lang


def _num(x: float, lang: str) -> str:
    """12.0 → "12", 0.2 → "0,2" in Swedish (decimal comma), "0.2" in English."""
    text = f"{x:.3f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if lang == "sv" else text


def _unit_text(unit: str, lang: str) -> str:
    if unit == UG_PER_H:
        return "mikrog/timme" if lang == "sv" else "µg/h"
    return unit


def _per_day(unit: str, lang: str) -> str:
    """Daily-dose unit: "mg/dygn", or the patch rate as such."""
    if unit == UG_PER_H:
        return _unit_text(unit, lang)
    return f"{unit}/dygn" if lang == "sv" else f"{unit}/day"


def _quantity(value: float, unit: str) -> dict:
    if unit == UG_PER_H:
        return {"value": value, "unit": "µg/h", "system": UCUM, "code": "ug/h"}
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _is_patch(schedule: TaperSchedule) -> bool:
    return schedule.unit == UG_PER_H


def _ingredient_name(schedule: TaperSchedule, lang: str) -> str:
    return (schedule.ingredient_sv or schedule.ingredient) if lang == "sv" else schedule.ingredient


def _product(schedule: TaperSchedule, lang: str) -> str:
    if lang == "en" and schedule.product_en:
        return schedule.product_en
    return schedule.display or _ingredient_name(schedule, lang)


def _listed(words, lang: str) -> str:
    """"morgon, lunch och kväll" / "morning, noon and evening"."""
    words = list(words)
    if len(words) < 2:
        return "".join(words)
    return ", ".join(words[:-1]) + (" och " if lang == "sv" else " and ") + words[-1]


_NOUNS = (  # the unit a product is given in, found in its name: (word in the name, sv one/many, en one/many)
    ("depottablett", ("depottablett", "depottabletter"), ("prolonged-release tablet", "prolonged-release tablets")),
    ("resoriblett", ("resoriblett", "resoribletter"), ("sublingual tablet", "sublingual tablets")),
    ("kapsel", ("kapsel", "kapslar"), ("capsule", "capsules")),
    ("tablett", ("tablett", "tabletter"), ("tablet", "tablets")),
)
_STRENGTH_IN_NAME = re.compile(r"\d+(?:[.,]\d+)?\s*(?:mg|mikrogram|µg)", re.IGNORECASE)


def _units_named(units: tuple[tuple[float, int], ...], schedule: TaperSchedule, unit: str, lang: str) -> str:
    """((10.0, 2),) → "2 depottabletter Oxikodon 10 mg"; a name that holds its own strengths keeps them
    ("1 tablett Paracetamol/kodein 500 mg/30 mg"). Without a product name: as :func:`_units_text`."""
    name = schedule.display or ""
    found = next((n for n in _NOUNS if n[0] in name.lower()), None)
    if not name or found is None:
        return _units_text(units, unit, False, lang)
    bare = " ".join(w for w in name.split() if w.lower() != found[0]).strip()
    nouns = found[1] if lang == "sv" else found[2]
    parts = []
    for strength, count in units:
        if _STRENGTH_IN_NAME.search(bare):
            label = bare
        elif "naloxone" in schedule.combination:  # oxycodone/naloxone: naloxone is half (Targiniq 10 mg/5 mg)
            label = f"{bare} {_num(strength, lang)} mg/{_num(strength / 2, lang)} mg"
        else:
            label = f"{bare} {_num(strength, lang)} {_unit_text(unit, lang)}"
        parts.append(f"{count} {nouns[count != 1]} {label}")
    return " + ".join(parts)


def _units_text(units: tuple[tuple[float, int], ...], unit: str, patch: bool, lang: str) -> str:
    """((10.0, 1), (5.0, 1)) → "1 tablett 10 mg + 1 tablett 5 mg"."""
    parts = []
    for strength, count in units:
        if patch:
            noun = ("plåster", "plåster") if lang == "sv" else ("patch", "patches")
        else:
            noun = ("tablett", "tabletter") if lang == "sv" else ("tablet", "tablets")
        parts.append(f"{count} {noun[count != 1]} {_num(strength, lang)} {_unit_text(unit, lang)}")
    return " + ".join(parts)


def _change_text(schedule: TaperSchedule, lang: str) -> str | None:
    days = schedule.change_interval_days
    if not days:
        return None
    if lang == "sv":
        return "byts var 3:e dygn (72 timmar)" if days == 3 else f"byts var {days}:e dygn"
    return f"changed every {days} days"


def step_description(schedule: TaperSchedule, step: TaperStep, lang: str = "sv") -> str:
    """"Steg 1: 20 mg/dygn (10 mg morgon + 10 mg kväll)" — one line per step, for cards and plans."""
    lang = _lang(lang)
    word = "Steg" if lang == "sv" else "Step"
    head = f"{word} {step.number}: {_num(step.daily_dose, lang)} {_per_day(step.unit, lang)}"
    if _is_patch(schedule):
        inner = _units_text(step.units[0], step.unit, True, lang)
        change = _change_text(schedule, lang)
        return f"{head} ({inner}{', ' + change if change else ''})"
    names = _SLOT_NAMES[lang].get(len(step.per_administration))
    if names is None:  # more administrations a day than we have names for: count them
        doses = [a for a in step.per_administration if a > 0]
        times = "gånger dagligen" if lang == "sv" else "times daily"
        return f"{head} ({len(doses)} {times})"
    parts = [f"{_num(a, lang)} {step.unit} {name}" for a, name in zip(step.per_administration, names) if a > 0]
    return f"{head} ({' + '.join(parts)})"


def _period(step: TaperStep) -> dict:
    return {"start": step.start.isoformat(), "end": step.end.isoformat()}


def _dates(step: TaperStep, lang: str) -> str:
    unit = "dygn" if lang == "sv" else ("day" if step.days == 1 else "days")
    return f"{step.start.isoformat()} – {step.end.isoformat()}, {step.days} {unit}"


def medication_concept(schedule: TaperSchedule, lang: str = "sv", systems: tuple[str, ...] = ()) -> dict:
    """The depot product as text, with its codes where the strengths table knows them.

    ``systems``: the code systems the draft came with ("rxnorm", "npl", "atc": ``Drug.code_systems``), in
    its order; the product keeps them, then ATC (always, when known). RxNorm and NPL codes name one
    strength: the one the first step uses most (``TaperSchedule.main_strength``) — the text names the
    product generically, the dosage lines each tablet. The CDS Hooks sandbox takes the first coding of
    a suggested MedicationRequest as its new draft's RxNorm code, so an RxNorm draft gets RxNorm first.
    """
    concept: dict = {"text": _product(schedule, _lang(lang))}
    codings = []
    row = schedule.row
    strength = schedule.main_strength()
    for system in dict.fromkeys((*systems, "atc")):
        if system == "atc" and schedule.atc:
            coding = {"system": ATC, "code": schedule.atc}
            if schedule.atc.startswith("N02A") and not schedule.atc.startswith("N02AJ") and not schedule.combination:
                # single-ingredient ATC: its name is the ingredient's, in the record's language
                coding["display"] = ingredient_sv(schedule.ingredient) if _lang(lang) == "sv" else schedule.ingredient
            codings.append(coding)
        elif system in ("rxnorm", "npl") and row is not None and strength is not None:
            code = row.code_for(system, strength)
            if code is None:
                continue
            coding = {"system": RXNORM if system == "rxnorm" else NPL, "code": code}
            entry = rxnorm_table().get(code) if system == "rxnorm" else None
            if entry is not None:
                coding["display"] = entry.display
            codings.append(coding)
    if codings:
        concept["coding"] = codings
    return concept


def _warning_notes(schedule: TaperSchedule, lang: str) -> list[str]:
    out = []
    first = schedule.steps[0] if schedule.steps else None
    for code in schedule.warnings:
        template = _WARNING_TEXT[lang].get(code)
        if template is None:
            continue
        out.append(template.format(
            ingredient=_ingredient_name(schedule, lang),
            product=_product(schedule, lang),
            start=f"{_num(schedule.start_dose, lang)} {_per_day(schedule.unit, lang)}",
            first=f"{_num(first.daily_dose, lang)} {_per_day(schedule.unit, lang)}" if first else "–",
        ))
    return out


def _pace_text(schedule: TaperSchedule, lang: str) -> str:
    """The pace in words; a custom pace (set in the planner, ``cds_service.domain.taper.CustomPace``) by its numbers."""
    named = _PACE_TEXT[lang].get(schedule.pace.value)
    if named is not None:
        return named
    pct, days = _num(schedule.pace.percent, lang), schedule.pace.days
    if lang == "sv":
        return f"överenskommen takt: {pct} % av startdygnsdosen var {days}:e dag"
    return f"agreed pace: {pct}% of the starting daily dose every {days} days"


def _slow_steps(schedule: TaperSchedule) -> bool:
    """Steps of four weeks or so: a slow taper, where dose dispensing suits [RJL "Praktiska tips och trix"]."""
    if schedule.pace.value == "custom":
        return schedule.pace.days >= 28
    return schedule.pace.value in ("slow", "tramadol")


def _dispensing_text(schedule: TaperSchedule, lang: str) -> str:
    slow = _slow_steps(schedule)
    if lang == "sv":
        text = ("**Expediering**: förskriv 1–2 dos-steg i taget. Gör varje uttag litet (högst 1–2 veckor av "
                "schemat) och ange ett fast intervall mellan uttagen.")
        if slow:
            text += " Vid långsam nedtrappning med långa steg passar dosdispensering (t.ex. Pascal)."
        return text
    text = ("**Dispensing**: prescribe 1–2 dose steps at a time. Keep each dispensing small (at most 1–2 weeks "
            "of the schedule) with a set interval between dispensings.")
    if slow:
        text += " For a slow taper with long steps, dose dispensing (multi-dose packaging) suits well."
    return text


def _follow_up_text(schedule: TaperSchedule, lang: str) -> str:
    if lang == "sv":
        return ("**Uppföljning**: kort avstämning varje vecka (besök eller telefon) under hela nedtrappningen. "
                "Följ smärtintensitet (NRS 0–10) och funktion: sömn, fysisk och social aktivitet. Följ upp även "
                "efter avslutad nedtrappning: akut abstinens går oftast över inom 1–2 veckor, postabstinens "
                "(nedstämdhet, energilöshet, svårt att känna lust och glädje) kan kvarstå upp till 6 månader.")
    return ("**Follow-up**: a short check-in every week (visit or phone) throughout the taper. Follow pain "
            "intensity (NRS 0–10) and function: sleep, physical and social activity. Follow up after the end "
            "too: acute withdrawal usually passes within 1–2 weeks, post-withdrawal (low mood, low energy, "
            "anhedonia) can last up to 6 months.")


def _goals(schedule: TaperSchedule, patient_ref: str, lang: str) -> list[dict]:
    """Treatment goals per clinical-rules §1 ([RJL, inledning]): opioid-free by the end date, pain
    intensity on a rating scale, function (sleep, physical and social activity), weekly follow-up."""
    sv = lang == "sv"
    name = _ingredient_name(schedule, lang)
    end = schedule.end.isoformat()
    subject = {"reference": patient_ref}
    return [
        {
            "resourceType": "Goal", "id": "goal-opioid-free", "lifecycleStatus": "proposed",
            "description": {"text": f"Utsatt {name} senast {end} enligt nedtrappningsschemat" if sv
                            else f"Off {name} by {end} following the taper schedule"},
            "subject": subject,
            "target": [{"dueDate": end}],
        },
        {
            "resourceType": "Goal", "id": "goal-pain", "lifecycleStatus": "proposed",
            "description": {"text": "Smärtintensitet skattad med NRS 0–10 varje vecka; målnivå enligt "
                            "överenskommelse med patienten" if sv else
                            "Pain intensity rated on NRS 0–10 every week; target level as agreed with the "
                            "patient"},
            "subject": subject,
            "target": [{"measure": {"coding": [{"system": LOINC, "code": LOINC_PAIN_NRS,
                                                "display": "Pain severity - 0-10 verbal numeric rating "
                                                           "[Score] - Reported"}]},
                        "dueDate": end}],
        },
        {
            "resourceType": "Goal", "id": "goal-function", "lifecycleStatus": "proposed",
            "description": {"text": "Funktion: bibehållen eller bättre sömn, fysisk aktivitet och social "
                            "aktivitet, följs upp varje vecka" if sv else
                            "Function: sleep, physical activity and social activity kept or improved, "
                            "followed up every week"},
            "subject": subject,
            "target": [{"dueDate": end}],
        },
    ]


def taper_careplan(
    schedule: TaperSchedule,
    *,
    patient_ref: str,
    author_ref: str | None,
    lang: str = "sv",
    resource_id: str | None = None,
) -> dict:
    """The proposed taper as a CarePlan (status draft, intent proposal), one activity per dose step.

    Category SNOMED CT 874903005 "Management of opioid dosage tapering" (+ ``urn:trappa:careplan``
    ``opioid-taper``). Goals per clinical-rules §1 (contained Goal resources), the agreement of
    clinical-rules §3 / [RJL "Vilka krav kan jag som läkare ställa?"], follow-up and dispensing per
    [RJL "Allmänna principer"] and [RJL "Praktiska tips och trix"], support drugs per clinical-rules §6.
    Raises ``ValueError`` for a schedule without steps (nothing to plan: the caller checks first).
    """
    lang = _lang(lang)
    if not schedule.steps:
        raise ValueError("taper schedule has no steps")
    sv = lang == "sv"
    name = _ingredient_name(schedule, lang)
    first, last = schedule.steps[0], schedule.steps[-1]
    pace = _pace_text(schedule, lang)
    weeks = schedule.total_days / 7
    duration = (f"{_num(round(weeks, 1), lang)} veckor" if sv else f"{_num(round(weeks, 1), lang)} weeks")
    start_dose = f"{_num(schedule.start_dose, lang)} {_per_day(schedule.unit, lang)}"
    description = (
        f"Förslag till nedtrappning av {name} ({_product(schedule, lang)}) från {start_dose} till 0 på "
        f"{len(schedule.steps)} dos-steg under {duration} ({first.start.isoformat()} – {last.end.isoformat()}; "
        f"utsatt från {schedule.end.isoformat()}). Takt: {pace}."
        if sv else
        f"Proposed taper of {name} ({_product(schedule, lang)}) from {start_dose} to 0 in {len(schedule.steps)} "
        f"dose steps over {duration} ({first.start.isoformat()} – {last.end.isoformat()}; off from "
        f"{schedule.end.isoformat()}). Pace: {pace}."
    )
    if not _is_patch(schedule):
        # [RJL "Praktiska tips och trix"]: spread the daily dose evenly over the day.
        description += " Dygnsdosen fördelas jämnt över dygnet." if sv else " The daily dose is spread evenly over the day."
    goals = _goals(schedule, patient_ref, lang)
    product = medication_concept(schedule, lang)
    activities = []
    for step in schedule.steps:
        activities.append({"detail": {
            "kind": "MedicationRequest",
            "status": "not-started",
            "scheduledPeriod": _period(step),
            "productCodeableConcept": product,
            "dailyAmount": _quantity(step.daily_dose, step.unit),
            "description": f"{step_description(schedule, step, lang)} ({_dates(step, lang)})",
        }})
    notes = [_AGREEMENT[lang], _follow_up_text(schedule, lang), _dispensing_text(schedule, lang), _SUPPORT[lang]]
    notes += _warning_notes(schedule, lang)
    resource: dict = {
        "resourceType": "CarePlan",
        "contained": goals,
        "status": "draft",
        "intent": "proposal",
        "category": [{
            "coding": [
                {"system": SNOMED, "code": SNOMED_OPIOID_TAPER,
                 "display": "Management of opioid dosage tapering (procedure)"},
                {"system": TRAPPA_CAREPLAN, "code": CAREPLAN_TAPER_CODE,
                 "display": "Nedtrappning av opioid" if sv else "Opioid taper"},
            ],
            "text": "Nedtrappning av opioid" if sv else "Opioid taper",
        }],
        "title": f"Nedtrappning av {name}" if sv else f"Taper of {name}",
        "description": description,
        "subject": {"reference": patient_ref},
        "period": {"start": first.start.isoformat(), "end": last.end.isoformat()},
        "goal": [{"reference": f"#{g['id']}"} for g in goals],
        "activity": activities,
        "note": [{"text": n} for n in notes],
    }
    if resource_id:
        resource["id"] = resource_id
    if author_ref:
        resource["author"] = {"reference": author_ref}
    return resource


def _dosage_lines(schedule: TaperSchedule, step: TaperStep, lang: str) -> list[dict]:
    bounds = {"boundsPeriod": _period(step)}
    head = f"{step_description(schedule, step, lang)} ({_dates(step, lang)})"
    short = f"{'Steg' if lang == 'sv' else 'Step'} {step.number} ({_dates(step, lang)})"
    if _is_patch(schedule):
        count = sum(c for _, c in step.units[0])
        repeat = {**bounds}
        if schedule.change_interval_days:
            repeat.update({"frequency": 1, "period": schedule.change_interval_days, "periodUnit": "d"})
        return [{
            "sequence": step.number,
            "text": head,
            "timing": {"repeat": repeat},
            "doseAndRate": [{
                "doseQuantity": {"value": count, "unit": "plåster" if lang == "sv" else "patch",
                                 "system": UCUM, "code": "{patch}"},
                "rateQuantity": _quantity(step.daily_dose, step.unit),
            }],
        }]
    n = len(step.per_administration)
    when_codes = EVENT_TIMING.get(n)
    names = _SLOT_NAMES[lang].get(n)
    by_amount: dict[float, list[int]] = {}
    for slot, amount in enumerate(step.per_administration):
        if amount > 0:
            by_amount.setdefault(amount, []).append(slot)
    total = (f"dygnsdos {_num(step.daily_dose, lang)} {step.unit}" if lang == "sv"
             else f"daily dose {_num(step.daily_dose, lang)} {step.unit}")
    if schedule.combination:  # the daily dose is the opioid part's: say which
        total += f" {_ingredient_name(schedule, lang)}"
    parts = []
    for amount, slots in sorted(by_amount.items(), key=lambda item: item[1][0]):  # morning first
        units = _units_named(step.units[slots[0]], schedule, step.unit, lang)
        at = _listed((names[s] for s in slots), lang) if names and n > 1 else ""
        parts.append(f"{units}{' ' + at if at else ''}")
    # What the patient takes, as a prescriber writes it ("2 tabletter Paracetamol/kodein 500 mg/30 mg
    # morgon, lunch, eftermiddag och kväll"), the whole step on each of its lines: a step of unequal
    # doses has a line per dose, and two lines each saying "dygnsdos 15 mg" read as 30.
    text = f"{short}: {' + '.join(parts)}; {total}"
    lines = []
    for amount, slots in sorted(by_amount.items()):
        repeat = {**bounds, "frequency": len(slots), "period": 1, "periodUnit": "d"}
        if when_codes:
            repeat["when"] = [when_codes[s] for s in slots]
        lines.append({
            "sequence": step.number,
            "text": text,
            "timing": {"repeat": repeat},
            "doseAndRate": [{"doseQuantity": _quantity(amount, step.unit)}],
        })
    return lines


def taper_medication_request(
    schedule: TaperSchedule,
    *,
    patient_ref: str,
    requester_ref: str | None,
    medication_codeable_concept: dict | None = None,
    lang: str = "sv",
    resource_id: str | None = None,
    systems: tuple[str, ...] = (),
) -> dict:
    """The schedule as one stepped MedicationRequest (status draft, intent proposal).

    ``systems``: the code systems of the draft it replaces (:func:`medication_concept`).

    One ``dosageInstruction`` per step (``sequence`` 1..n, ``timing.repeat.boundsPeriod``, frequency
    per day, ``doseAndRate``); see the module docstring for uneven splits and patches. Dispensing
    advice (1–2 weeks per dispensing, [RJL "Praktiska tips och trix"]) in ``note`` and as
    ``dispenseRequest.dispenseInterval`` (7 days for the fast pace, 14 otherwise).
    Raises ``ValueError`` for a schedule without steps.
    """
    lang = _lang(lang)
    if not schedule.steps:
        raise ValueError("taper schedule has no steps")
    dosage = [line for step in schedule.steps for line in _dosage_lines(schedule, step, lang)]
    # Short steps, small dispensings: a week of the schedule for the fast pace (and a custom one of steps
    # under a week), else two [RJL "Praktiska tips och trix"].
    fast = schedule.pace.value == "fast" or (schedule.pace.value == "custom" and schedule.pace.days < 7)
    interval = 7 if fast else 14
    notes = [_dispensing_text(schedule, lang),
             "Inga vid behovsdoser eller extra-tabletter under nedtrappningen. Dosen ökas aldrig; borttappade "
             "läkemedel ersätts inte." if lang == "sv" else
             "No as-needed doses or extra tablets during the taper. The dose is never increased; lost "
             "medication is not replaced."]
    notes += _warning_notes(schedule, lang)
    resource: dict = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "proposal",
        "medicationCodeableConcept": medication_codeable_concept or medication_concept(schedule, lang, systems),
        "subject": {"reference": patient_ref},
        "dosageInstruction": dosage,
        "dispenseRequest": {"dispenseInterval": {"value": interval, "unit": "dygn" if lang == "sv" else "days",
                                                 "system": UCUM, "code": "d"}},
        "note": [{"text": n} for n in notes],
    }
    if resource_id:
        resource["id"] = resource_id
    if requester_ref:
        resource["requester"] = {"reference": requester_ref}
    return resource


def restriction_flag(
    *,
    patient_ref: str,
    author_ref: str | None,
    start: date,
    end: date | None,
    lang: str = "sv",
    resource_id: str | None = None,
    author_display: str | None = None,
) -> dict:
    """Uppmärksamhetssignal med förskrivningsrestriktion as a Flag (status active, category drug).

    ``author_display`` names the responsible physician in the Flag's text ("opioider förskrivs endast
    av Karin Berg") and on its author: the signal is read by prescribers who do not know the plan.

    [RJL "Vilka krav kan jag som läkare ställa?"], [RJL "Praktiska tips och trix"]: register a
    prescribing restriction so that only the responsible physician prescribes opioids.
    """
    lang = _lang(lang)
    display = _RESTRICTION_DISPLAY[lang]
    period = {"start": start.isoformat()}
    if end is not None:
        period["end"] = end.isoformat()
    resource: dict = {
        "resourceType": "Flag",
        "status": "active",
        "category": [{"coding": [{"system": FLAG_CATEGORY, "code": "drug", "display": "Drug"}]}],
        "code": {"coding": [{"system": TRAPPA_FLAG, "code": FLAG_RESTRICTION_CODE, "display": display}],
                 "text": _restriction_text(lang, author_display, author_ref) or display},
        "subject": {"reference": patient_ref},
        "period": period,
    }
    if resource_id:
        resource["id"] = resource_id
    if author_ref:
        resource["author"] = {"reference": author_ref}
        if author_display:
            resource["author"]["display"] = author_display
    return resource


def _restriction_text(lang: str, name: str | None, ref: str | None) -> str | None:
    """The Flag's text names the responsible physician: by name when the record gives one, else the
    reference in brackets after the role (a bare "Practitioner/123" is no name to a reader)."""
    if name:
        if lang == "sv":
            return f"Förskrivningsrestriktion: opioider förskrivs endast av {name} (ansvarig läkare för nedtrappningen)"
        return f"Prescribing restriction: opioids are prescribed only by {name} (the physician responsible for the taper)"
    if ref:
        if lang == "sv":
            return f"Förskrivningsrestriktion: opioider förskrivs endast av ansvarig läkare för nedtrappningen ({ref})"
        return f"Prescribing restriction: opioids are prescribed only by the physician responsible for the taper ({ref})"
    return None


def referral_service_request(
    *,
    patient_ref: str,
    requester_ref: str | None,
    target: str,
    reason: str,
    note: str,
    lang: str = "sv",
    resource_id: str | None = None,
) -> dict:
    """A referral (ServiceRequest, status draft, intent proposal) to psychiatry or the pain clinic.

    clinical-rules §5, [RJL "Hjälp och kontaktvägar"], [VGR "Organisation på fyra vårdnivåer"].
    ``target`` is "psychiatry" or "pain-clinic" (else ``ValueError``); ``note`` is the pre-filled
    referral content (markdown).
    """
    lang = _lang(lang)
    if target not in _REFERRAL_TARGET:
        raise ValueError(f"target must be one of {tuple(_REFERRAL_TARGET)}, not {target!r}")
    display = _REFERRAL_TARGET[target][lang]
    resource: dict = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "category": [{"coding": [{"system": SNOMED, "code": SNOMED_PATIENT_REFERRAL,
                                  "display": "Patient referral"}]}],
        "code": {"coding": [{"system": TRAPPA_REFERRAL, "code": target, "display": display}],
                 "text": ("Remiss: " if lang == "sv" else "Referral: ") + display},
        "subject": {"reference": patient_ref},
    }
    if reason:
        resource["reasonCode"] = [{"text": reason}]
    if note:
        resource["note"] = [{"text": note}]
    if resource_id:
        resource["id"] = resource_id
    if requester_ref:
        resource["requester"] = {"reference": requester_ref}
    return resource
