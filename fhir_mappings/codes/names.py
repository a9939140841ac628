"""Ingredient names as a Swedish clinician writes them (the Swedish ATC names of Läkemedelsverket).

The mapping's ingredient keys are English (they match the MEDD table); Swedish text — cards and the
resources Trappa suggests for a Swedish record — uses these names. A key not listed is shown as is.
"""
from __future__ import annotations

INGREDIENT_SV: dict[str, str] = {
    "morphine": "morfin",
    "oxycodone": "oxikodon",
    "oxycodone/naloxone": "oxikodon/naloxon",
    "tramadol": "tramadol",
    "buprenorphine": "buprenorfin",
    "fentanyl": "fentanyl",
    "hydromorphone": "hydromorfon",
    "ketobemidone": "ketobemidon",
    "tapentadol": "tapentadol",
    "codeine": "kodein",
    "dihydrocodeine": "dihydrokodein",
    "pethidine": "petidin",
    "methadone": "metadon",
    "ethylmorphine": "etylmorfin",
    # the other parts of combination products (cds_service.domain.model.Drug.companions)
    "naloxone": "naloxon",
    "naltrexone": "naltrexon",
    "paracetamol": "paracetamol",
    "acetylsalicylic acid": "acetylsalicylsyra",
    "ibuprofen": "ibuprofen",
    "caffeine": "koffein",
}


def ingredient_sv(ingredient: str | None) -> str | None:
    """The Swedish name of an ingredient key, or the key itself when it has none here."""
    if not ingredient:
        return None
    return INGREDIENT_SV.get(ingredient, ingredient)
