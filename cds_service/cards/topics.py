"""The card topics' names, as card words (``source.topic.display``, in the card's language).

The code (``urn:trappa:card-topic``) is the rule module's ``TOPIC`` and never changes; the display is
what a physician or an EHR's feedback screen shows. The words are in the catalogs (``topic.<code>``).
"""
from __future__ import annotations

from cds_service.cards.words import N_, text

#: topic code → its message id.
TOPIC_TITLES: dict[str, str] = {
    "taper-plan-missing": N_("topic.taper-plan-missing"),
    "prescribing-restriction": N_("topic.prescribing-restriction"),
    "referral-psychiatry": N_("topic.referral-psychiatry"),
    "referral-pain-clinic": N_("topic.referral-pain-clinic"),
    "taper-dose-increase": N_("topic.taper-dose-increase"),
    "taper-prn": N_("topic.taper-prn"),
    "taper-early-renewal": N_("topic.taper-early-renewal"),
    "taper-other-prescriber": N_("topic.taper-other-prescriber"),
    "co-sedatives": N_("topic.co-sedatives"),
    "withdrawal-sedative": N_("topic.withdrawal-sedative"),
    "gabapentinoid-caution": N_("topic.gabapentinoid-caution"),
    "exit-plan": N_("topic.exit-plan"),
    "pain-diagnosis-missing": N_("topic.pain-diagnosis-missing"),
    "opioid-review": N_("topic.opioid-review"),
    "taper-status": N_("topic.taper-status"),
    "medd-unknown": N_("topic.medd-unknown"),
}


def topic_title(topic: str, lang: str) -> str:
    """The topic's name in ``lang`` (Swedish when the language has none); the code for an unknown topic."""
    msgid = TOPIC_TITLES.get(topic)
    return text(msgid, lang) if msgid else topic
