"""The small domain model every clinical decision rests on.

FHIR R4 JSON goes in at the edges (``fhir_mappings.*``); inside the service only these plain,
immutable values travel. The four facts that matter (clinical-rules §2, §4, §9) are:
which opioids the patient takes (:class:`Drug`), the daily dose of each (:class:`DailyDose`), the
total morphine-equivalent daily dose (:class:`TotalMedd`) and how long use has gone on
(:class:`Episode`).

Honesty rule (clinical-rules §4): anything we cannot read is *unknown* (``None`` plus a ``problem``
saying why), never zero. Every consumer must handle the unknown case.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum

from cds_service.domain.problems import Problem


class DrugClass(str, Enum):
    """What a medication is, as far as the rules care (clinical-rules §9)."""

    OPIOID = "opioid"  # analgesic opioid: ATC N02A*, R05DA04 codeine, R05DA01 ethylmorphine
    LARO = "laro"  # opioid maintenance treatment, ATC N07BC* (excludes the patient, §8)
    BENZODIAZEPINE = "benzodiazepine"  # N05BA, N05CD
    Z_DRUG = "z-drug"  # N05CF (zopiclone, zolpidem)
    GABAPENTINOID = "gabapentinoid"  # N02BF01/02, older N03AX12/16
    PARACETAMOL = "paracetamol"  # N02BE01
    NSAID = "nsaid"  # M01A*
    DULOXETINE = "duloxetine"  # N06AX21
    AMITRIPTYLINE = "amitriptyline"  # N06AA09
    WITHDRAWAL_SUPPORT = "withdrawal-support"  # §6: loperamide, metoclopramide, alimemazine, mirtazapine
    OTHER = "other"  # identified, and none of the above
    UNKNOWN = "unknown"  # could not be identified at all (no code or name we recognise)


#: The one drug class no rule looks at. The rules read opioids, LARO, sedatives, gabapentinoids, the
#: pain treatments tried (clinical-rules §5), withdrawal support (§6) and what could not be identified
#: (shown on the card, §4); a drug identified as none of those (simvastatin, metformin …) decides
#: nothing, so the record's history (``PatientFacts.orders``) leaves it out — in a real record it is
#: most of the orders. (A constant compared with ``is``, not a predicate: it is asked once per order.)
NOT_READ_BY_RULES = DrugClass.OTHER


class Form(str, Enum):
    """Administration form; matters for MEDD factors and taper formulations."""

    PATCH = "patch"  # transdermal; dose in µg/h while worn
    DEPOT = "depot"  # oral extended release (depotberedning)
    IMMEDIATE = "immediate"  # oral immediate release (tablet, capsule, oral solution)
    SUBLINGUAL = "sublingual"  # incl. buccal
    INJECTION = "injection"
    UNKNOWN = "unknown"


class IdentifiedBy(str, Enum):
    ATC = "atc"
    RXNORM = "rxnorm"
    NAME = "name"  # last resort, lower confidence (clinical-rules §9)
    NONE = "none"


class Exposure(str, Enum):
    """Class of the current continuous opioid episode (clinical-rules §2)."""

    NONE = "none"
    ACUTE = "acute"  # < 14 days
    SUBACUTE = "subacute"  # 14–89 days
    LONG_TERM = "long-term"  # 90–729 days
    MULTI_YEAR = "multi-year"  # ≥ 730 days


MG = "mg"  # daily dose unit for everything but patches: mg per day
UG_PER_H = "ug/h"  # patches: µg per hour while worn


@dataclass(frozen=True)
class Drug:
    """One identified (or unidentified) medication."""

    drug_class: DrugClass
    display: str  # human-readable name as the record gave it, for cards
    ingredient: str | None = None  # canonical English key ("oxycodone"), matches the MEDD table
    form: Form = Form.UNKNOWN
    atc: str | None = None
    rxnorm: str | None = None
    strength: float | None = None  # per unit: mg per tablet, or µg/h per patch
    strength_unit: str | None = None  # MG or UG_PER_H
    identified_by: IdentifiedBy = IdentifiedBy.NONE
    # Where ``strength`` came from (fhir_mappings.read.medication): "medication" (a Medication resource's
    # ingredient.strength), "rxnorm" (the RxNorm table), "text" (the product text, read with the products
    # table's ingredient order for combinations), "products-table" (the product has one strength only);
    # None without a strength. A dose counted in tablets or patches is only as good as this.
    strength_source: str | None = None
    # The other active ingredients of a combination product (ingredient keys, e.g. ("naloxone",) for
    # Targiniq, ("paracetamol",) for Citodon): not counted for MEDD, kept by the taper (clinical-rules §2,
    # [RJL "Praktiska tips och trix"]: taper with a depot formulation of the opioid the patient uses).
    companions: tuple[str, ...] = ()
    # The code systems the product came with, in its order: "atc", "rxnorm", "npl" (a suggested order for
    # the same patient keeps them, fhir_mappings.write.builders.medication_concept).
    code_systems: tuple[str, ...] = ()

    @property
    def is_opioid(self) -> bool:
        return self.drug_class is DrugClass.OPIOID

    @property
    def low_confidence(self) -> bool:
        return self.identified_by is IdentifiedBy.NAME


@dataclass(frozen=True)
class DailyDose:
    """Daily dose of one medication: mg/day, or µg/h while worn for patches.

    ``amount is None`` means unknown; ``problem`` then says why (a code with parameters, worded by the
    cards: ``Problem("free-text-only")``, ``Problem("unit-not-convertible", unit="ml")``).
    """

    amount: float | None
    unit: str | None  # MG or UG_PER_H
    prn: bool = False  # as needed: amount is the maximum allowed
    # Where the amount comes from: "dosage" (the structured doseAndRate/timing), "free-text" (only
    # Dosage.text was given, read by fhir_mappings.read.dosage_text: "1x2", "1 tablett morgon och kväll"),
    # "supply" (quantity ÷ supply duration) or "unknown".
    basis: str = "dosage"
    problem: Problem | None = None
    # The as-needed maximum included in ``amount`` when fixed and as-needed lines are mixed in one
    # order ("1 x 2 and 1 extra as needed, at most 2 a day"). None: all of ``amount`` is PRN when
    # ``prn``, none of it otherwise.
    prn_part: float | None = None
    # The dose was given in units of presentation (tablets, patches, {pill} …) and made mg or µg/h with
    # the drug's strength (Drug.strength_source says where that came from).
    counted: bool = False

    @property
    def known(self) -> bool:
        return self.amount is not None

    @property
    def prn_amount(self) -> float | None:
        """The as-needed maximum per day within ``amount`` (0 for a fixed dose); None when unknown."""
        if self.amount is None:
            return None
        if self.prn_part is not None:
            return self.prn_part
        return self.amount if self.prn else 0.0

    @property
    def fixed_amount(self) -> float | None:
        """What the patient takes regularly per day, as-needed doses left out [RJL "Praktiska tips
        och trix": the taper starts from the regular dose]; None when unknown."""
        prn = self.prn_amount
        if self.amount is None or prn is None:
            return None
        return max(0.0, round(self.amount - prn, 6))


@dataclass(frozen=True)
class DoseStep:
    """One step of stepped dosage instructions (a taper), by ``Dosage.sequence``."""

    sequence: int
    start: date | None
    end: date | None  # inclusive last day, None = open
    daily_dose: DailyDose


@dataclass(frozen=True)
class Medd:
    """Morphine-equivalent daily dose of one medication (mg oral morphine per day)."""

    value: float | None
    factor: float | None = None
    source: str | None = None  # source column of the conversion table
    problem: Problem | None = None  # why unknown, e.g. Problem("no-conversion-factor-form", ingredient="tapentadol", form="sublingual")


@dataclass(frozen=True)
class MedicationOrder:
    """One MedicationRequest (or MedicationDispense / MedicationStatement) mapped to our model."""

    id: str | None
    resource_type: str  # "MedicationRequest" | "MedicationDispense" | "MedicationStatement"
    status: str | None
    intent: str | None
    drug: Drug
    daily_dose: DailyDose  # the step in effect today (or the first step if none has started)
    medd: Medd
    steps: tuple[DoseStep, ...] = ()  # more than one: stepped instructions (a taper)
    start: date | None = None  # start of coverage
    supply_end: date | None = None  # exclusive end of coverage: start + supply
    authored_on: date | None = None
    requester: str | None = None  # reference, e.g. "Practitioner/123"
    requester_display: str | None = None  # the prescriber's name as the record gives it
    is_draft: bool = False  # from the hook context (draftOrders / medications)
    has_planned_end: bool = False  # dosage bounds end / validity end / supply given
    # Where supply_end came from: "supply-duration" | "quantity" | "days-supply" | "dosage-bounds" |
    # "effective-period" | "validity" | None (no supply_end). "validity" is only the outer limit of
    # when the prescription may be dispensed, not when a supply runs out (early-renewal checks).
    supply_basis: str | None = None

    @property
    def is_decreasing_steps(self) -> bool:
        """Stepped instructions whose known daily doses never rise and fall at least once."""
        doses = [s.daily_dose.amount for s in self.steps if s.daily_dose.amount is not None]
        return len(doses) >= 2 and all(b <= a for a, b in zip(doses, doses[1:])) and doses[-1] < doses[0]


@dataclass(frozen=True)
class TotalMedd:
    """Sum of MEDD over the opioids in effect; honest about unknown parts (clinical-rules §4)."""

    value: float | None  # sum of the known parts; None when no part is known
    complete: bool  # False when any opioid in effect could not be converted
    unknown: tuple[str, ...] = ()  # displays of the opioids not convertible

    @property
    def is_lower_bound(self) -> bool:
        return not self.complete


@dataclass(frozen=True)
class CurrentRegimen:
    """What the patient takes now: one value that every rule and every card's facts read.

    Built by :func:`cds_service.domain.regimen.current_regimen` (the selection rules are there and in
    docs/design-notes.md "The current regimen"). ``orders`` are the record's current orders of the
    classes that matter (opioids, LARO, benzodiazepines, z-drugs, gabapentinoids) with this call's
    drafts applied: a draft of an ingredient and form replaces the record's order of it, a draft of a
    new one adds to it. ``record`` is the same before the drafts (what the patient takes today, for
    comparisons with a draft); ``replaced`` the record orders the drafts renew.
    """

    orders: tuple[MedicationOrder, ...]
    record: tuple[MedicationOrder, ...]
    replaced: tuple[MedicationOrder, ...] = ()
    # MEDD of the opioids in ``orders``: fixed daily doses plus as-needed maxima (the referral
    # thresholds, clinical-rules §4 "PRN counts at its maximum"), and fixed doses alone.
    medd: TotalMedd = TotalMedd(value=0.0, complete=True)
    fixed_medd: TotalMedd = TotalMedd(value=0.0, complete=True)
    record_medd: TotalMedd = TotalMedd(value=0.0, complete=True)  # ``record``'s opioids, fixed + PRN

    @property
    def opioids(self) -> tuple[MedicationOrder, ...]:
        return tuple(o for o in self.orders if o.drug.is_opioid)

    @property
    def record_opioids(self) -> tuple[MedicationOrder, ...]:
        return tuple(o for o in self.record if o.drug.is_opioid)

    @property
    def takes_opioid(self) -> bool:
        return any(o.drug.is_opioid for o in self.orders)

    def of_class(self, *classes: DrugClass, record: bool = False) -> tuple[MedicationOrder, ...]:
        return tuple(o for o in (self.record if record else self.orders) if o.drug.drug_class in classes)

    @property
    def prn_opioids(self) -> tuple[MedicationOrder, ...]:
        """Opioids taken as needed (wholly or in part): the card names them and asks for the real
        consumption [RJL "Praktiska tips och trix"]."""
        return tuple(o for o in self.opioids if o.daily_dose.prn)


@dataclass(frozen=True)
class Episode:
    """The current continuous opioid episode (merged coverage reaching today or the draft)."""

    start: date | None
    end: date | None  # exclusive
    days: int
    exposure: Exposure


@dataclass(frozen=True)
class TaperPlan:
    """A taper plan found in the record: a CarePlan or a stepped, decreasing MedicationRequest."""

    source: str  # "CarePlan" | "MedicationRequest"
    id: str | None
    status: str | None  # FHIR status: active, completed, revoked, stopped, ...
    author: str | None  # responsible physician, reference
    steps: tuple[DoseStep, ...] = ()
    ingredient: str | None = None
    start: date | None = None
    end: date | None = None
    outcome: str | None = None  # for ended plans: "completed" | "failed" | None (unknown)
    author_display: str | None = None  # the responsible physician's name, as the record gives it

    def step_on(self, day: date) -> DoseStep | None:
        """The step in effect on ``day`` (None before the first, or when dates are missing)."""
        for step in self.steps:
            if step.start and step.start <= day and (step.end is None or day <= step.end):
                return step
        return None


@dataclass(frozen=True)
class RestrictionFlag:
    """An active prescribing-restriction Flag (förskrivningsrestriktion)."""

    id: str | None
    author: str | None
    start: date | None
    end: date | None


@dataclass(frozen=True)
class Conditions:
    """Diagnoses that matter to the rules (clinical-rules §5, §7, §8)."""

    long_term_pain: bool = False  # R52.1, R52.2*, MG30*
    cancer: bool = False  # C00–C97
    palliative: bool = False  # Z51.5
    substance_use: tuple[str, ...] = ()  # F10–F19 codes present
    opioid_dependence: bool = False  # F11*
    sedative_dependence: bool = False  # F13*
    mixed_dependence: bool = False  # F19* or two or more different F1x groups
    psychiatric: tuple[str, ...] = ()  # other F-codes (F00–F09, F20–F99): psychiatric comorbidity


# The clinics a referral card proposes [RJL "Hjälp och kontaktvägar"], clinical-rules §5.
PSYCHIATRY = "psychiatry"  # beroendemottagning / psykiatrisk klinik
PAIN_CLINIC = "pain-clinic"  # smärtklinik
# A referral in these states is still open: proposing the same referral again would only be noise.
REFERRAL_OPEN_STATUSES = ("draft", "active", "on-hold")


@dataclass(frozen=True)
class Referral:
    """A referral already in the record (a ServiceRequest, read by ``fhir_mappings.read.referrals``)."""

    id: str | None
    status: str | None  # the ServiceRequest's status as written (None when missing or not a text)
    # The clinics it is to: PSYCHIATRY / PAIN_CLINIC, named by Trappa's own target coding, or by the
    # words of its code, performer type, category or performer (a referral the EHR wrote).
    targets: frozenset[str]
    requester: str | None  # "Practitioner/123"
    authored_on: date | None
    by_trappa: bool  # it carries Trappa's target coding: one Trappa proposed and the EHR kept

    @property
    def open(self) -> bool:
        return self.status in REFERRAL_OPEN_STATUSES


@dataclass(frozen=True)
class PatientFacts:
    """Everything the rules read, built by ``fhir_mappings.read.facts.build_patient_facts``."""

    patient_id: str
    today: date
    age: int | None  # None when birthDate unknown
    orders: tuple[MedicationOrder, ...]  # the record's history (not drafts), but NOT_READ_BY_RULES
    drafts: tuple[MedicationOrder, ...]  # draft orders from the hook context
    regimen: "CurrentRegimen"  # what the patient takes now, drafts applied (cds_service.domain.regimen)
    episode: Episode
    conditions: Conditions
    taper_plan: TaperPlan | None = None  # the active one
    previous_tapers: tuple[TaperPlan, ...] = ()
    restriction_flag: RestrictionFlag | None = None
    is_renewal: bool | None = None  # draft opioid continues the current episode (None: no draft opioid)
    exclusions: tuple[str, ...] = ()  # "cancer" | "palliative" | "laro" | "under-18"
    data_gaps: tuple[str, ...] = ()  # prefetch keys that could not be had (optional data)
    unidentified: tuple[str, ...] = ()  # displays of medications we could not identify
    referrals: tuple[Referral, ...] = ()  # referrals already in the record (not entered-in-error)

    @property
    def excluded(self) -> bool:
        return bool(self.exclusions)


# --- Where an order comes from: the kind of record (a prescription, a dispensing, a medication-list entry).
# Named after the FHIR resource types they are read from (fhir_mappings/read/orders.py), because those are
# the words of the record; the domain only compares them.
MEDICATION_REQUEST = "MedicationRequest"
MEDICATION_DISPENSE = "MedicationDispense"
MEDICATION_STATEMENT = "MedicationStatement"
ORDER_TYPES = frozenset({MEDICATION_REQUEST, MEDICATION_DISPENSE, MEDICATION_STATEMENT})


def add_days(day: date, days: int) -> date | None:
    try:
        return day + (_DAY_SPANS[days] if 0 <= days < len(_DAY_SPANS) else timedelta(days=days))
    except OverflowError:
        return None

# Supplies are days to a few years: their timedeltas made once, not per order.
_DAY_SPANS = tuple(timedelta(days=n) for n in range(1100))

