"""medd-unknown — an opioid's MEDD could not be computed: the total is only a lower bound.

Source: [RJL "Praktiska tips och trix"] "Identifiera vilken total dygnsdos patienten använder idag …
beräkna patientens totala morfinekvivalenta dygnsdos (MEDD)"; clinical-rules §4 "Unknown ingredient or
unknown unit: never guess silently — say so on the card ('MEDD could not be computed for X') and do
not let it count as 0"; clinical-rules §9 (name-only identification is lower confidence).

When (all hooks; also for excluded patients — the dose matters to every prescriber)
  - an opioid in effect in the record, or being ordered (order hooks), has no computable MEDD, or
  - an opioid was identified by its name only (no ATC/RxNorm code: lower confidence), or
  - the patient uses opioids and some medication could not be identified at all (it may be an
    opioid the total leaves out)
Then
  - info: name each opioid and why its MEDD is unknown (the dose's or the conversion's problem), say
    the total is a lower bound ("minst X"), and — when the known part is within the referral limit —
    that the 60 MEDD limit could not be judged; list name-only identifications and unidentified
    medications.

Decisions: unidentified medications alone fire the card only for patients with opioid use (otherwise
nothing depends on them); the excluded get this card because MEDD is a safety fact, not a taper card
(they get no limit note, since the referral cards do not apply to them).
"""
from __future__ import annotations

from cds_service.domain.model import MedicationOrder, PatientFacts

from cds_service.domain.hooks import ALL_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.common import drug_name, fmt_medd, fmt_number
from cds_service.rules.referral_common import Versus, bullet, medd_versus
from cds_service.cards.problems import problem_text

TOPIC = "medd-unknown"
HOOKS = ALL_HOOKS

_SUMMARY_NAME_MAX = 40


def considered_opioids(facts: PatientFacts, ctx: RuleContext) -> list[MedicationOrder]:
    """The opioids of the current regimen (this call's drafts applied: on patient-view there are none)."""
    return list(facts.regimen.opioids)


def unknown_medd(facts: PatientFacts, ctx: RuleContext) -> list[MedicationOrder]:
    return [o for o in considered_opioids(facts, ctx) if o.medd.value is None]


def low_confidence(facts: PatientFacts, ctx: RuleContext) -> list[MedicationOrder]:
    return [o for o in considered_opioids(facts, ctx) if o.drug.low_confidence]


def relevant_unidentified(facts: PatientFacts, ctx: RuleContext) -> tuple[str, ...]:
    return facts.unidentified if considered_opioids(facts, ctx) else ()


def inclusion_criteria(facts: PatientFacts, ctx: RuleContext) -> bool:
    return bool(unknown_medd(facts, ctx) or low_confidence(facts, ctx) or relevant_unidentified(facts, ctx))


def exclusion_criteria(facts: PatientFacts) -> bool:
    return False  # deliberately none: see the module docstring


def is_applicable(facts: PatientFacts, ctx: RuleContext) -> bool:
    return inclusion_criteria(facts, ctx) and not exclusion_criteria(facts)


def _why(order: MedicationOrder, lang: str) -> str:
    """The Medd problem, or the dose's when the Medd has none."""
    problem = order.medd.problem or order.daily_dose.problem
    return problem_text(problem, lang)


_SOURCE_TEXT = {
    "medication": ("läkemedlets styrka i journalen", "the Medication's strength in the record"),
    "rxnorm": ("RxNorm-koden", "the RxNorm code"),
    "text": ("produktnamnet", "the product name"),
    "products-table": ("produkttabellen (produkten finns i en styrka)", "the products table (one strength only)"),
}


def strength_text(order: MedicationOrder, lang: str) -> str | None:
    """"30 mg per enhet enligt produkttabellen": the strength a count of tablets was read with."""
    drug = order.drug
    if drug.strength is None or not order.daily_dose.counted:
        return None
    unit = "µg/h" if drug.strength_unit == "ug/h" else drug.strength_unit
    source = _SOURCE_TEXT.get(drug.strength_source or "", ("", ""))[0 if lang == "sv" else 1]
    where = (f" enligt {source}" if lang == "sv" else f" from {source}") if source else ""
    return (f"{fmt_number(drug.strength, lang)} {unit} per enhet{where}" if lang == "sv"
            else f"{fmt_number(drug.strength, lang)} {unit} per unit{where}")


def _short(name: str) -> str:
    return name if len(name) <= _SUMMARY_NAME_MAX else name[: _SUMMARY_NAME_MAX - 1] + "…"


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts, ctx):
        return []
    unknown = unknown_medd(facts, ctx)
    low = low_confidence(facts, ctx)
    unidentified = relevant_unidentified(facts, ctx)
    total = facts.regimen.medd
    limit = ctx.settings.referral_medd
    undecided = bool(unknown) and medd_versus(total, limit) is Versus.UNDECIDED and not facts.excluded

    summary = {}
    for lang in ("sv", "en"):
        sv = lang == "sv"
        bound = fmt_medd(total.value, lang, complete=total.complete, suffix=False)
        if unknown:
            names = list(dict.fromkeys(drug_name(o.drug, lang) for o in unknown))  # one drug, two orders: one name
            who = _short(names[0]) if len(names) == 1 else (
                f"{len(names)} opioider" if sv else f"{len(names)} opioids")
            if all(o.is_draft for o in unknown):
                who += " som ordineras nu" if sv else " being ordered"
            summary[lang] = (
                f"MEDD kunde inte beräknas för {who} – total MEDD är {bound}"
                if sv
                else f"MEDD could not be computed for {who} – total MEDD is {bound}"
            )
        elif low:
            who = _short(drug_name(low[0].drug, lang)) if len(low) == 1 else (
                f"{len(low)} opioider" if sv else f"{len(low)} opioids")
            summary[lang] = (
                f"{who} identifierad enbart via namnet – kontrollera läkemedel och MEDD"
                if sv
                else f"{who} identified by name only – check the drug and its MEDD"
            )
        else:
            summary[lang] = (
                f"Läkemedel som inte kunde identifieras – total MEDD kan vara högre än {fmt_medd(total.value, lang)}"
                if sv
                else f"Medication not identified – total MEDD may be higher than {fmt_medd(total.value, lang)}"
            )

    detail = {}
    for lang in ("sv", "en"):
        sv = lang == "sv"
        parts = []
        if unknown:
            parts.append(
                f"**MEDD kunde inte beräknas för alla opioider** – total MEDD är "
                f"{fmt_medd(total.value, lang, complete=total.complete, suffix=False)}. Okända delar räknas inte som 0."
                if sv
                else f"**MEDD could not be computed for every opioid** – total MEDD is "
                f"{fmt_medd(total.value, lang, complete=total.complete, suffix=False)}. Unknown parts are not counted as 0."
            )
            parts.append(bullet(
                f"{drug_name(o.drug, lang)}"
                + ((" (ordineras nu)" if sv else " (being ordered)") if o.is_draft else "")
                + f": {_why(o, lang)}"
                for o in unknown
            ))
            if undecided:
                parts.append(
                    f"Gränsen {fmt_number(limit)} MEDD (remiss till beroendemottagning, smärtklinikens krav) "
                    "kan därför inte bedömas. Kontrollera dosering och läkemedel i journalen."
                    if sv
                    else f"The {fmt_number(limit, 'en')} MEDD limit (referral to the addiction clinic, the pain "
                    "clinic's requirement) therefore cannot be judged. Check dosage and medication in the record."
                )
        if low:
            parts.append(
                ("**Identifierad enbart via namnet** (ingen läkemedelskod) – kontrollera att läkemedel och MEDD stämmer:"
                 if sv
                 else "**Identified by name only** (no drug code) – check that drug and MEDD are right:")
                + "\n"
                + bullet(
                    f"{drug_name(o.drug, lang)}: "
                    + (fmt_medd(o.medd.value, lang) if o.medd.value is not None else _why(o, lang))
                    + (f" ({strength_text(o, lang)})" if strength_text(o, lang) else "")
                    for o in low
                )
            )
        if unidentified:
            parts.append(
                ("**Ej identifierade läkemedel** – kan vara opioider som inte räknas in i totalen:"
                 if sv
                 else "**Medication not identified** – may be opioids left out of the total:")
                + "\n"
                + bullet(unidentified)
            )
        detail[lang] = "\n\n".join(parts)

    return [
        Finding(
            topic=TOPIC,
            indicator="info",
            summary=summary,
            detail=detail,
            guideline=RJL,
            section="Praktiska tips och trix",
            facts={
                "meddUnknownFor": [
                    {"display": o.drug.display, "problem": o.medd.problem or o.daily_dose.problem}
                    for o in unknown
                ],
                "lowConfidence": [o.drug.display for o in low],
                "lowConfidenceStrengths": [
                    {"display": o.drug.display, "strength": o.drug.strength, "unit": o.drug.strength_unit,
                     "source": o.drug.strength_source} for o in low if o.drug.strength is not None],
                "unidentified": list(unidentified),
                "meddKnownPart": total.value,
                "meddLowerBound": not total.complete,
                "meddThresholdUndecided": undecided,
            },
            override_reasons=("data-incorrect", "not-opioid"),
        )
    ]
