"""Every topic's words: topic → its module in the cards (``words(finding, facts, lang)`` → summary and
detail, ``suggestions(finding, facts)`` → the suggestions its proposals make). The rules decide and
give typed data; ``render`` asks the topic's module for the words (tests/test_architecture.py checks
that every topic has one)."""
from __future__ import annotations

from types import ModuleType

from cds_service.cards import (
    co_sedatives,
    exit_plan,
    gabapentinoid_caution,
    medd_unknown,
    opioid_review,
    pain_diagnosis_missing,
    prescribing_restriction,
    referral_pain_clinic,
    referral_psychiatry,
    taper_dose_increase,
    taper_early_renewal,
    taper_other_prescriber,
    taper_plan_missing,
    taper_prn,
    taper_status,
    withdrawal_sedative,
)

WORDED: dict[str, ModuleType] = {
    co_sedatives.TOPIC: co_sedatives,
    exit_plan.TOPIC: exit_plan,
    gabapentinoid_caution.TOPIC: gabapentinoid_caution,
    medd_unknown.TOPIC: medd_unknown,
    opioid_review.TOPIC: opioid_review,
    pain_diagnosis_missing.TOPIC: pain_diagnosis_missing,
    prescribing_restriction.TOPIC: prescribing_restriction,
    referral_pain_clinic.TOPIC: referral_pain_clinic,
    referral_psychiatry.TOPIC: referral_psychiatry,
    taper_dose_increase.TOPIC: taper_dose_increase,
    taper_early_renewal.TOPIC: taper_early_renewal,
    taper_other_prescriber.TOPIC: taper_other_prescriber,
    taper_plan_missing.TOPIC: taper_plan_missing,
    taper_prn.TOPIC: taper_prn,
    taper_status.TOPIC: taper_status,
    withdrawal_sedative.TOPIC: withdrawal_sedative,
}
