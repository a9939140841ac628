"""Test-data builders for the rule tests: PatientFacts assembled directly from the domain model.

The builders only assemble what the test gives (doses, MEDD factors, days of use); no clinical
logic of the service is used, so every expected value in a test stays computed by hand.

- ``order(...)`` / ``draft(...)``: a MedicationOrder (record order in effect / draft of this call);
  MEDD = amount × ``factor`` when both are given, else unknown.
- ``sedative(...)``: a benzodiazepine / z-drug draft.
- ``plan(...)`` with ``step(...)``: an active taper plan with dated steps.
- ``facts(...)``: PatientFacts; the current regimen = the record orders given (``in_effect``) with the
  drafts applied (:func:`cds_service.domain.regimen.apply_drafts`), episode from ``days`` (< 14 acute, 14–89 subacute, 90–729
  long-term, ≥ 730 multi-year), ``is_renewal`` True when an opioid is drafted and use is ongoing.
- ``ctx(...)``: RuleContext on ``order-sign`` by ``Practitioner/dr-lind`` with the raw drafts.
- ``check_texts(finding)``: summary < 140 characters in both languages, no English in Swedish text.
"""
from __future__ import annotations

from cds_service.domain.problems import Problem

import re
from datetime import date, timedelta
from typing import Iterable

from cds_service.domain.hooks import ORDER_SIGN
from cds_service.domain.settings import ClinicalSettings
from cds_service.rules.finding import Finding, RuleContext
from cds_service.domain.regimen import regimen_of
from cds_service.domain.model import (
    MG,
    UG_PER_H,
    Conditions,
    DailyDose,
    DoseStep,
    Drug,
    DrugClass,
    Episode,
    Exposure,
    Form,
    IdentifiedBy,
    Medd,
    MedicationOrder,
    PatientFacts,
    RestrictionFlag,
    TaperPlan,
)

TODAY = date(2026, 11, 23)
USER = "Practitioner/dr-lind"
PATIENT = "Patient/p1"

__all__ = [
    "MG", "UG_PER_H", "TODAY", "USER", "PATIENT", "DrugClass", "Exposure", "Form", "Conditions",
    "day", "episode", "order", "draft", "sedative", "plan", "step", "flag", "facts", "ctx",
    "raw_request", "check_texts", "ENGLISH_WORDS",
]


def day(offset: int) -> date:
    """TODAY + offset days."""
    return TODAY + timedelta(days=offset)


def exposure_for(days: int) -> Exposure:
    if days <= 0:
        return Exposure.NONE
    if days < 14:
        return Exposure.ACUTE
    if days < 90:
        return Exposure.SUBACUTE
    if days < 730:
        return Exposure.LONG_TERM
    return Exposure.MULTI_YEAR


def episode(days: int) -> Episode:
    if days <= 0:
        return Episode(start=None, end=None, days=0, exposure=Exposure.NONE)
    return Episode(start=TODAY - timedelta(days=days - 1), end=TODAY + timedelta(days=14), days=days,
                   exposure=exposure_for(days))


def order(
    ingredient: str | None = "oxycodone",
    amount: float | None = 40.0,
    *,
    unit: str | None = MG,
    form: Form = Form.DEPOT,
    display: str | None = None,
    factor: float | None = None,
    prn: bool = False,
    id: str | None = None,
    is_draft: bool = False,
    has_planned_end: bool = False,
    strength: float | None = None,
    drug_class: DrugClass = DrugClass.OPIOID,
    atc: str | None = None,
    problem: Problem | None = None,
    requester: str | None = None,
) -> MedicationOrder:
    """One opioid order (record, in effect) — or, with ``is_draft``, a draft of this hook call."""
    drug = Drug(
        drug_class=drug_class,
        display=display or f"{ingredient or 'okänd'} {amount or ''}".strip(),
        ingredient=ingredient,
        form=form,
        atc=atc,
        strength=strength,
        strength_unit=(UG_PER_H if unit == UG_PER_H else MG) if strength else None,
        identified_by=IdentifiedBy.ATC,
    )
    dose = DailyDose(amount, unit if amount is not None else None, prn=prn,
                     basis="dosage" if amount is not None else "unknown",
                     problem=None if amount is not None else (problem or Problem("free-text-only")))
    value = amount * factor if amount is not None and factor is not None else None
    medd = Medd(value, factor=factor, problem=None if value is not None else Problem("no-conversion-factor", ingredient=ingredient or "?"))
    return MedicationOrder(
        id=id or (f"draft-{ingredient}" if is_draft else f"rx-{ingredient}"),
        resource_type="MedicationRequest",
        status="draft" if is_draft else "active",
        intent="order",
        drug=drug,
        daily_dose=dose,
        medd=medd,
        start=TODAY if is_draft else TODAY - timedelta(days=30),
        supply_end=None,
        authored_on=TODAY if is_draft else TODAY - timedelta(days=30),
        requester=requester or (USER if is_draft else "Practitioner/dr-berg"),
        is_draft=is_draft,
        has_planned_end=has_planned_end,
    )


def draft(ingredient: str | None = "oxycodone", amount: float | None = 40.0, **kw) -> MedicationOrder:
    """A draft opioid order of this hook call."""
    return order(ingredient, amount, is_draft=True, **kw)


def sedative(display: str = "Zopiklon 7,5 mg", *, z_drug: bool = True, id: str = "draft-sedative",
             atc: str = "N05CF01") -> MedicationOrder:
    """A benzodiazepine or z-drug draft."""
    return order(
        "zopiclone" if z_drug else "oxazepam", 7.5, display=display, id=id, is_draft=True, form=Form.IMMEDIATE,
        drug_class=DrugClass.Z_DRUG if z_drug else DrugClass.BENZODIAZEPINE, atc=atc,
    )


def step(sequence: int, start_offset: int, days: int | None, amount: float | None, unit: str = MG) -> DoseStep:
    """A plan step from TODAY + start_offset lasting ``days`` days (inclusive end; None: open end)."""
    start = day(start_offset)
    end = start + timedelta(days=days - 1) if days is not None else None
    return DoseStep(sequence=sequence, start=start, end=end,
                    daily_dose=DailyDose(amount, unit if amount is not None else None))


def plan(*steps: DoseStep, ingredient: str | None = "oxycodone", author: str | None = USER,
         end: date | None = None, source: str = "CarePlan") -> TaperPlan:
    """An active taper plan."""
    starts = [s.start for s in steps if s.start]
    return TaperPlan(source=source, id="plan-1", status="active", author=author, steps=tuple(steps),
                     ingredient=ingredient, start=min(starts) if starts else None, end=end)


def flag(author: str = USER) -> RestrictionFlag:
    return RestrictionFlag(id="flag-1", author=author, start=day(-30), end=day(60))


def facts(
    *,
    drafts: Iterable[MedicationOrder] = (),
    in_effect: Iterable[MedicationOrder] = (),
    days: int = 0,
    taper_plan: TaperPlan | None = None,
    restriction: RestrictionFlag | None = None,
    exclusions: Iterable[str] = (),
    is_renewal: bool | None | str = "auto",
    data_gaps: Iterable[str] = (),
    age: int | None = 54,
) -> PatientFacts:
    drafts = tuple(drafts)
    in_effect = tuple(in_effect)
    if is_renewal == "auto":
        has_draft_opioid = any(d.drug.is_opioid for d in drafts)
        is_renewal = (days > 0) if has_draft_opioid else None
    return PatientFacts(
        patient_id="p1",
        today=TODAY,
        age=age,
        orders=in_effect,
        drafts=drafts,
        # The regimen of what the test gives: the record orders given are current; drafts applied.
        regimen=regimen_of(in_effect, drafts),
        episode=episode(days),
        conditions=Conditions(),
        taper_plan=taper_plan,
        restriction_flag=restriction,
        is_renewal=is_renewal,
        exclusions=tuple(exclusions),
        data_gaps=tuple(data_gaps),
    )


def raw_request(order_: MedicationOrder, *, dosage: list | None = None) -> dict:
    """A minimal raw draft MedicationRequest matching ``order_`` (for update suggestions)."""
    return {
        "resourceType": "MedicationRequest",
        "id": order_.id,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": PATIENT},
        "medicationCodeableConcept": {"text": order_.drug.display},
        "dosageInstruction": dosage if dosage is not None else [
            {"text": "1 tablett morgon och kväll", "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
             "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablett"}}]}
        ],
        "dispenseRequest": {"quantity": {"value": 100, "unit": "tablett"}},
    }


def ctx(hook: str = ORDER_SIGN, *, user: str | None = USER, today: date = TODAY,
        settings: ClinicalSettings | None = None) -> RuleContext:
    return RuleContext(hook=hook, today=today, user_ref=user, patient_ref=PATIENT,
                       settings=settings or ClinicalSettings())


def sent(drafts: Iterable[MedicationOrder]) -> dict[str, dict]:
    """The drafts as an EHR would send them (:func:`raw_request`), by id: what the card layer amends."""
    return {d.id: raw_request(d) for d in drafts if d.id}


# Words that must not leak into Swedish card text (whole words, case-insensitive).
ENGLISH_WORDS = (
    "the", "and", "with", "without", "dose", "daily", "taper", "tapering", "step", "days", "weeks",
    "renewal", "prescribing", "restriction", "never", "unknown", "missing", "draft", "order", "pain",
    "supply", "withdrawal", "opioids", "morning", "evening", "patch", "extended", "release",
    "as-needed", "prn", "consider", "end", "schedule", "until", "of", "for", "check", "could",
)


def check_texts(finding: Finding) -> None:
    """Summary < 140 characters in both languages; no English words in the Swedish texts."""
    for lang in ("sv", "en"):
        assert finding.summary[lang], f"empty {lang} summary"
        assert len(finding.summary[lang]) < 140, (lang, len(finding.summary[lang]), finding.summary[lang])
        assert finding.detail[lang], f"empty {lang} detail"
    sv_texts = [finding.summary["sv"], finding.detail["sv"]] + [s.label["sv"] for s in finding.suggestions] + [
        a.description["sv"] for s in finding.suggestions for a in s.actions
    ]
    for text in sv_texts:
        words = set(re.findall(r"[A-Za-zÅÄÖåäö\-]+", text.lower()))
        leaked = words & set(ENGLISH_WORDS)
        assert not leaked, f"English in Swedish text: {sorted(leaked)} in {text[:200]!r}"
