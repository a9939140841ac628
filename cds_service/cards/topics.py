"""The card topics' names, as card words (``source.topic.display``, in the card's language).

The code (``urn:trappa:card-topic``) is the rule module's ``TOPIC`` and never changes; the display is
what a physician or an EHR's feedback screen shows.
"""
from __future__ import annotations

TOPIC_TITLES: dict[str, dict[str, str]] = {
    "taper-plan-missing": {"sv": "Nedtrappningsplan saknas", "en": "No taper plan"},
    "prescribing-restriction": {"sv": "Förskrivningsrestriktion saknas", "en": "No prescribing restriction"},
    "referral-psychiatry": {"sv": "Remiss till beroendemottagning", "en": "Referral to the addiction clinic"},
    "referral-pain-clinic": {"sv": "Remiss till smärtklinik", "en": "Referral to the pain clinic"},
    "taper-dose-increase": {"sv": "Dosökning under nedtrappning", "en": "Dose increase during a taper"},
    "taper-prn": {"sv": "Vid behovsdos av opioid", "en": "As-needed opioid"},
    "taper-early-renewal": {"sv": "Tidig förnyelse under nedtrappning", "en": "Early renewal during a taper"},
    "taper-other-prescriber": {"sv": "Annan förskrivare under nedtrappning", "en": "Another prescriber during a taper"},
    "co-sedatives": {"sv": "Opioid och lugnande medel eller sömnläkemedel", "en": "Opioid with sedatives"},
    "withdrawal-sedative": {"sv": "Sömnläkemedel mot abstinens", "en": "Hypnotic for withdrawal"},
    "gabapentinoid-caution": {"sv": "Gabapentinoider och beroende", "en": "Gabapentinoids and dependence"},
    "exit-plan": {"sv": "Plan för utsättning saknas", "en": "No exit plan"},
    "pain-diagnosis-missing": {"sv": "Diagnos för långvarig smärta saknas", "en": "No long-term pain diagnosis"},
    "opioid-review": {"sv": "Ompröva opioidbehandlingen", "en": "Review the opioid treatment"},
    "taper-status": {"sv": "Nedtrappningens läge", "en": "Taper status"},
    "medd-unknown": {"sv": "MEDD kunde inte beräknas", "en": "MEDD could not be computed"},
}


def topic_title(topic: str, lang: str) -> str:
    """The topic's name in ``lang`` (Swedish when the language has none); the code for an unknown topic."""
    titles = TOPIC_TITLES.get(topic)
    if not titles:
        return topic
    return titles.get(lang) or titles["sv"]
