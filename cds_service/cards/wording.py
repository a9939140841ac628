"""The topics whose words are in the cards: topic → its module (``words(finding, facts, lang)`` →
summary and detail, ``suggestions(finding, facts)`` → the suggestions its proposals make). The other
topics' rules still give their texts on the finding; they move here one by one."""
from __future__ import annotations

from types import ModuleType

from cds_service.cards import referral_psychiatry, taper_plan_missing

WORDED: dict[str, ModuleType] = {
    referral_psychiatry.TOPIC: referral_psychiatry,
    taper_plan_missing.TOPIC: taper_plan_missing,
}
