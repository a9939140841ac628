"""Test-data builders for R2's rule tests: PatientFacts built directly from the domain model.

Every value is given by the test (doses, MEDDs, days); the builders only assemble them, so expected
values in the tests stay hand-computed. ``facts(...)`` derives the current regimen (the opioid orders
given as current, the other orders given that are current by their status and dates, drafts applied),
its total MEDD (sum of the given MEDDs, incomplete when one is None) and the
episode's exposure class from its length (clinical-rules §2: < 14 acute, 14–89 subacute, 90–729 long-term,
≥ 730 multi-year).
"""
from __future__ import annotations

from cds_service.domain.problems import Problem

from datetime import date, timedelta

from cds_service.domain.settings import ClinicalSettings
from cds_service.rules.finding import RuleContext
from fhir_mappings.read.referrals import read_referrals
from cds_service.domain.regimen import REGIMEN_CLASSES, is_current_status, reaches_today, regimen_of
from cds_service.domain.model import (
    MG,
    UG_PER_H,
    Conditions,
    CurrentRegimen,
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
    TaperPlan,
)

TODAY = date(2026, 11, 23)

__all__ = [
    "MG",
    "UG_PER_H",
    "TODAY",
    "Conditions",
    "DrugClass",
    "Exposure",
    "ctx",
    "day",
    "episode",
    "facts",
    "opioid",
    "other",
    "plan",
    "step",
]


from tests.support.rules_facts import day, exposure_for  # noqa: E402  (one definition of the test calendar)


def episode(days: int, today: date = TODAY) -> Episode:
    if days <= 0:
        return Episode(start=None, end=None, days=0, exposure=Exposure.NONE)
    return Episode(start=today - timedelta(days=days - 1), end=today + timedelta(days=14), days=days,
                   exposure=exposure_for(days))


def opioid(
    display: str = "Oxykodon depot 20 mg",
    ingredient: str | None = "oxycodone",
    amount: float | None = 40.0,
    unit: str | None = MG,
    medd: float | None = 80.0,
    *,
    id: str = "mr-oxy",
    form: Form = Form.DEPOT,
    status: str = "active",
    start: date | None = None,
    supply_end: date | None = None,
    dose_problem: Problem | None = None,
    medd_problem: Problem | None = None,
    identified_by: IdentifiedBy = IdentifiedBy.ATC,
    atc: str | None = "N02AA05",
    prn: bool = False,
    draft: bool = False,
    requester: str | None = "Practitioner/dr-a",
    resource_type: str = "MedicationRequest",
) -> MedicationOrder:
    drug = Drug(
        drug_class=DrugClass.OPIOID,
        display=display,
        ingredient=ingredient,
        form=form,
        atc=atc,
        identified_by=identified_by,
    )
    dose = DailyDose(
        amount=amount,
        unit=unit if amount is not None else None,
        prn=prn,
        basis="dosage" if amount is not None else "unknown",
        problem=dose_problem if amount is None else None,
    )
    return MedicationOrder(
        id=id,
        resource_type=resource_type,
        status="draft" if draft else status,
        intent="order",
        drug=drug,
        daily_dose=dose,
        medd=Medd(value=medd, factor=None, problem=medd_problem if medd is None else None),
        start=start if start is not None else (None if draft else day(-30)),
        supply_end=supply_end if supply_end is not None else (None if draft else day(14)),
        authored_on=start,
        requester=requester,
        is_draft=draft,
    )


def other(
    drug_class: DrugClass,
    display: str,
    *,
    id: str | None = None,
    status: str = "active",
    start: date | None = None,
    supply_end: date | None = None,
    amount: float | None = None,
    draft: bool = False,
    atc: str | None = None,
    resource_type: str = "MedicationRequest",
) -> MedicationOrder:
    """A non-opioid order (benzodiazepine, paracetamol, ...). Default: in effect today."""
    return MedicationOrder(
        id=id or display.lower().replace(" ", "-"),
        resource_type=resource_type,
        status="draft" if draft else status,
        intent="order",
        drug=Drug(drug_class=drug_class, display=display, atc=atc, identified_by=IdentifiedBy.ATC),
        daily_dose=DailyDose(amount=amount, unit=MG if amount is not None else None),
        medd=Medd(value=None, problem=Problem("not-an-opioid", drug_class=drug_class.value)),
        start=start if start is not None else (None if draft else day(-30)),
        supply_end=supply_end if supply_end is not None else (None if draft else day(30)),
        is_draft=draft,
    )


def step(sequence: int, start_offset: int, days: int, amount: float | None, unit: str = MG) -> DoseStep:
    return DoseStep(
        sequence=sequence,
        start=day(start_offset),
        end=day(start_offset + days - 1),
        daily_dose=DailyDose(amount=amount, unit=unit if amount is not None else None),
    )


def plan(
    steps: tuple[DoseStep, ...] = (),
    *,
    ingredient: str | None = "oxycodone",
    status: str = "active",
    outcome: str | None = None,
    start: date | None = None,
    end: date | None = None,
    source: str = "CarePlan",
    id: str = "cp-1",
    author: str | None = "Practitioner/dr-a",
) -> TaperPlan:
    return TaperPlan(
        source=source,
        id=id,
        status=status,
        author=author,
        steps=steps,
        ingredient=ingredient,
        start=start if start is not None else (steps[0].start if steps else None),
        end=end if end is not None else (steps[-1].end if steps else None),
        outcome=outcome,
    )


def _regimen(opioids, orders, drafts, today) -> CurrentRegimen:
    current = tuple(opioids) + tuple(
        o for o in orders
        if not o.drug.is_opioid and o.drug.drug_class in REGIMEN_CLASSES
        and is_current_status(o) and reaches_today(o, today)
    )
    return regimen_of(current, drafts)


def facts(
    *,
    opioids: tuple[MedicationOrder, ...] = (),
    orders: tuple[MedicationOrder, ...] = (),
    drafts: tuple[MedicationOrder, ...] = (),
    days: int | None = None,
    conditions: Conditions = Conditions(),
    taper_plan: TaperPlan | None = None,
    previous_tapers: tuple[TaperPlan, ...] = (),
    exclusions: tuple[str, ...] = (),
    unidentified: tuple[str, ...] = (),
    data_gaps: tuple[str, ...] = (),
    service_requests: tuple = (),  # ServiceRequest JSON, read as the facts builder reads it
    age: int | None = 55,
    today: date = TODAY,
) -> PatientFacts:
    """``opioids``: record opioid orders in effect today (also put into ``orders``); ``orders``: any
    other record orders (history, sedatives, ...). ``days``: episode length (default 0 without
    opioids, else 200)."""
    if days is None:
        days = 200 if opioids else 0
    return PatientFacts(
        patient_id="pat-1",
        today=today,
        age=age,
        orders=tuple(opioids) + tuple(orders),
        drafts=tuple(drafts),
        regimen=_regimen(opioids, orders, drafts, today),
        episode=episode(days, today),
        conditions=conditions,
        taper_plan=taper_plan,
        previous_tapers=previous_tapers,
        exclusions=exclusions,
        data_gaps=data_gaps,
        unidentified=unidentified,
        referrals=read_referrals(service_requests),
        is_renewal=(True if drafts and opioids else None),
    )


def ctx(hook: str = "patient-view", today: date = TODAY, **settings) -> RuleContext:
    return RuleContext(
        hook=hook,
        today=today,
        user_ref="Practitioner/dr-a",
        patient_ref="Patient/pat-1",
        settings=ClinicalSettings(**settings),
    )


# English words that must never leak into Swedish card text (checked with word boundaries).
ENGLISH_WORDS = (
    "taper", "tapering", "dose", "daily", "referral", "review", "unknown", "pain", "clinic", "the",
    "and", "of", "with", "without", "step", "follow-up", "week", "weeks", "days", "at least",
    "could not", "missing", "consider", "patch", "sedative", "dependence", "none", "record",
)


def check_texts(finding) -> None:
    """Summary < 140 characters in both languages; no English word in the Swedish texts."""
    import re

    for lang in ("sv", "en"):
        assert finding.summary[lang], lang
        assert len(finding.summary[lang]) < 140, (lang, len(finding.summary[lang]), finding.summary[lang])
        assert finding.detail[lang], lang
    sv_texts = [finding.summary["sv"], finding.detail["sv"]]
    for s in finding.suggestions:
        sv_texts.append(s.label["sv"])
        sv_texts += [a.description["sv"] for a in s.actions]
    for text in sv_texts:
        for word in ENGLISH_WORDS:
            assert not re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text, re.IGNORECASE), (word, text)
    for code in finding.override_reasons:
        from cds_service.cards.overrides import OVERRIDE_REASONS

        assert code in OVERRIDE_REASONS, code
