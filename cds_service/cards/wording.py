"""The topics whose words are in the cards: topic → its module (``words(finding, facts, lang)`` →
summary and detail, ``suggestions(finding, facts)`` → the suggestions its proposals make). The other
topics' rules still give their texts on the finding; they move here one by one."""
from __future__ import annotations

from types import ModuleType

from cds_service.cards import referral_pain_clinic, referral_psychiatry

WORDED: dict[str, ModuleType] = {
    referral_psychiatry.TOPIC: referral_psychiatry,
    referral_pain_clinic.TOPIC: referral_pain_clinic,
}
