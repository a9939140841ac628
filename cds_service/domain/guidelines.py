"""The guidelines every rule cites: their names and the documents a card links (``source``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

Localized = Mapping[str, str]  # {"sv": "...", "en": "..."}


@dataclass(frozen=True)
class Guideline:
    key: str
    label: Localized
    url: str


# The two source guidelines (verbatim copies in docs/guidelines/). Neither text carries its own address,
# so a card's source.url is the document the guideline itself links for what the cards are about: RJL's
# guidance points to the fakta-dokument "Svår smärta och opioidbehandling" it belongs to; VGR's guideline
# links its own document on opioids in long-term non-cancer pain. The label names that document.
RJL = Guideline(
    key="RJL",
    label={
        "sv": "Region Jönköpings län: Att tänka på som läkare ansvarig för nedtrappning av opioider (2024),"
              " i Fakta-dokument Svår smärta och opioidbehandling",
        "en": "Region Jönköping: Guidance for the physician responsible for an opioid taper (2024),"
              " in the fact document Svår smärta och opioidbehandling",
    },
    url="https://folkhalsaochsjukvard.rjl.se/dokument/nkk/40916_profession_primarvard?pageId=218881&blockId=329824",
)
VGR = Guideline(
    key="VGR",
    label={
        "sv": "VGR: Regional medicinsk riktlinje – Smärta långvarig, icke cancerrelaterad;"
              " Opioider vid långvarig icke-cancerrelaterad smärta",
        "en": "VGR: Regional guideline – long-term non-cancer pain;"
              " Opioider vid långvarig icke-cancerrelaterad smärta (opioids in long-term non-cancer pain)",
    },
    url=(
        "https://alfresco.vgregion.se/alfresco/service/vgr/storage/node/content/32876/"
        "Opioider%20vid%20l%c3%a5ngvarig%20icke-cancerrelaterad%20sm%c3%a4rta.pdf?a=false&guest=true"
    ),
)
