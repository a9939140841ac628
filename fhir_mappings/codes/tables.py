"""Classification tables and text helpers for identifying medications (clinical-rules §9).

Everything here is a lookup: ATC prefixes → class and ingredient, the RxNorm table
(``data/rxnorm.csv``), Swedish and English ingredient and brand names, administration form words,
and unit spellings. Tables are built once at import (the RxNorm CSV on first use) because mapping
runs on every MedicationRequest of a record (thousands per hook call): plain dicts, precompiled
regular expressions and small caches only.

Ingredient keys are lowercase English INNs and, for opioids, equal the ``ingredient`` column of the
MEDD table (``data/medd_factors.csv``).
"""
from __future__ import annotations

import csv
import re
from math import isfinite as _isfinite
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from cds_service.domain.model import MG, UG_PER_H, DrugClass, Form
from cds_service.runtime.caches import text_cache

DATA_DIR = Path(__file__).resolve().parent / "data"

#: Strength unit for liquids (mg per ml). Only used for oral solutions; the model's usual strength
#: units are MG (per tablet/capsule/dose) and UG_PER_H (per patch).
MG_PER_ML = "mg/ml"

OPIOID, LARO = DrugClass.OPIOID, DrugClass.LARO

# ---------------------------------------------------------------------------------------------
# ATC
# ---------------------------------------------------------------------------------------------

#: ATC code or prefix → (class, ingredient). The longest matching prefix wins.
#: Opioid analgesics are ATC N02A, codeine R05DA04 and ethylmorphine R05DA01 (clinical-rules §9);
#: hydrocodone R05DA03 is added because US-style records send it (it is an opioid analgesic in
#: combinations there). Other R05DA antitussives (noscapine, dextromethorphan, pholcodine) are not
#: opioid analgesics and fall to OTHER.
_ATC_RULES: dict[str, tuple[DrugClass, str | None]] = {
    "N02A": (OPIOID, None),  # any opioid analgesic; ingredient from a more specific code if known
    # N02AA natural opium alkaloids
    "N02AA01": (OPIOID, "morphine"),
    "N02AA51": (OPIOID, "morphine"),  # morphine, combinations
    "N02AA03": (OPIOID, "hydromorphone"),
    "N02AA05": (OPIOID, "oxycodone"),
    "N02AA55": (OPIOID, "oxycodone"),  # oxycodone and naloxone (Targiniq)
    "N02AA56": (OPIOID, "oxycodone"),  # oxycodone and naltrexone
    "N02AA08": (OPIOID, "dihydrocodeine"),
    "N02AA58": (OPIOID, "dihydrocodeine"),  # dihydrocodeine, combinations
    "N02AA59": (OPIOID, "codeine"),  # codeine, combinations excl. psycholeptics
    "N02AA79": (OPIOID, "codeine"),  # codeine, combinations with psycholeptics
    "N02AA11": (OPIOID, "oxymorphone"),
    # N02AB phenylpiperidine derivatives
    "N02AB01": (OPIOID, "ketobemidone"),
    "N02AB02": (OPIOID, "pethidine"),
    "N02AB52": (OPIOID, "pethidine"),  # pethidine, combinations excl. psycholeptics
    "N02AB03": (OPIOID, "fentanyl"),
    # N02AC diphenylpropylamine derivatives
    "N02AC52": (OPIOID, "methadone"),  # methadone, combinations excl. psycholeptics: a pain product
    # N02AE oripavine derivatives
    "N02AE01": (OPIOID, "buprenorphine"),
    # N02AG opioids in combination with antispasmodics
    "N02AG01": (OPIOID, "morphine"),
    "N02AG02": (OPIOID, "ketobemidone"),  # Ketogan
    "N02AG04": (OPIOID, "hydromorphone"),
    # N02AJ opioids in combination with non-opioid analgesics
    "N02AJ01": (OPIOID, "dihydrocodeine"),  # and paracetamol
    "N02AJ02": (OPIOID, "dihydrocodeine"),  # and acetylsalicylic acid
    "N02AJ03": (OPIOID, "dihydrocodeine"),  # and other non-opioid analgesics
    "N02AJ06": (OPIOID, "codeine"),  # and paracetamol (Citodon, Panocod)
    "N02AJ07": (OPIOID, "codeine"),  # and acetylsalicylic acid
    "N02AJ08": (OPIOID, "codeine"),  # and ibuprofen
    "N02AJ09": (OPIOID, "codeine"),  # and other non-opioid analgesics
    "N02AJ13": (OPIOID, "tramadol"),  # and paracetamol
    "N02AJ14": (OPIOID, "tramadol"),  # and dexketoprofen
    "N02AJ15": (OPIOID, "tramadol"),  # and other non-opioid analgesics
    # N02AX other opioids
    "N02AX02": (OPIOID, "tramadol"),
    "N02AX52": (OPIOID, "tramadol"),  # tramadol, combinations
    "N02AX06": (OPIOID, "tapentadol"),
    # Antitussive opioids counted as opioid analgesics (clinical-rules §9)
    "R05DA04": (OPIOID, "codeine"),
    "R05DA01": (OPIOID, "ethylmorphine"),
    "R05DA03": (OPIOID, "hydrocodone"),
    # Opioid maintenance treatment (LARO), clinical-rules §8
    "N07BC": (LARO, None),
    "N07BC01": (LARO, "buprenorphine"),
    "N07BC51": (LARO, "buprenorphine"),  # buprenorphine, combinations (with naloxone)
    "N07BC02": (LARO, "methadone"),
    "N07BC05": (LARO, "levomethadone"),
    "N07BC06": (LARO, "diamorphine"),
    # Co-medication the rules need (clinical-rules §6, §9)
    "N05BA": (DrugClass.BENZODIAZEPINE, None),
    "N05BA01": (DrugClass.BENZODIAZEPINE, "diazepam"),
    "N05BA04": (DrugClass.BENZODIAZEPINE, "oxazepam"),
    "N05BA06": (DrugClass.BENZODIAZEPINE, "lorazepam"),
    "N05BA12": (DrugClass.BENZODIAZEPINE, "alprazolam"),
    "N05CD": (DrugClass.BENZODIAZEPINE, None),
    "N05CD02": (DrugClass.BENZODIAZEPINE, "nitrazepam"),
    "N05CD03": (DrugClass.BENZODIAZEPINE, "flunitrazepam"),
    # Clonazepam is filed among antiepileptics but is a benzodiazepine for co-sedation purposes.
    "N03AE01": (DrugClass.BENZODIAZEPINE, "clonazepam"),
    "N05CF": (DrugClass.Z_DRUG, None),
    "N05CF01": (DrugClass.Z_DRUG, "zopiclone"),
    "N05CF02": (DrugClass.Z_DRUG, "zolpidem"),
    "N02BF01": (DrugClass.GABAPENTINOID, "gabapentin"),
    "N02BF02": (DrugClass.GABAPENTINOID, "pregabalin"),
    "N03AX12": (DrugClass.GABAPENTINOID, "gabapentin"),  # before 2023
    "N03AX16": (DrugClass.GABAPENTINOID, "pregabalin"),  # before 2023
    "N02BE01": (DrugClass.PARACETAMOL, "paracetamol"),
    "N02BE51": (DrugClass.PARACETAMOL, "paracetamol"),  # combinations excl. psycholeptics
    "M01A": (DrugClass.NSAID, None),
    "M01AE01": (DrugClass.NSAID, "ibuprofen"),
    "M01AE02": (DrugClass.NSAID, "naproxen"),
    "M01AB05": (DrugClass.NSAID, "diclofenac"),
    "N06AX21": (DrugClass.DULOXETINE, "duloxetine"),
    "N06AA09": (DrugClass.AMITRIPTYLINE, "amitriptyline"),
    # Withdrawal support, clinical-rules §6 (paracetamol and ibuprofen keep their own classes).
    "A07DA03": (DrugClass.WITHDRAWAL_SUPPORT, "loperamide"),
    "A03FA01": (DrugClass.WITHDRAWAL_SUPPORT, "metoclopramide"),
    "R06AD01": (DrugClass.WITHDRAWAL_SUPPORT, "alimemazine"),
    "N06AX11": (DrugClass.WITHDRAWAL_SUPPORT, "mirtazapine"),
}
_ATC_PREFIX_LENGTHS = sorted({len(k) for k in _ATC_RULES}, reverse=True)
_ATC_SHAPE = re.compile(r"^[A-Z][0-9]{2}(?:[A-Z](?:[A-Z](?:[0-9]{2})?)?)?$")


def normalize_atc(code: object) -> str | None:
    """Upper-case, space-free ATC code, or None if it does not look like one."""
    if not isinstance(code, str):
        return None
    c = code.replace(" ", "").upper()
    return c if _ATC_SHAPE.match(c) else None


def classify_atc(code: str) -> tuple[DrugClass, str | None]:
    """Class and ingredient of a (normalized) ATC code [clinical-rules §9].

    ATC is hierarchical and complete, so a well-formed code we have no rule for is a known
    medication of no interest: OTHER, not UNKNOWN.
    """
    for n in _ATC_PREFIX_LENGTHS:
        if len(code) >= n:
            hit = _ATC_RULES.get(code[:n])
            if hit is not None:
                return hit
    return DrugClass.OTHER, None


def is_atc_system(system: object) -> bool:
    if not isinstance(system, str):
        return False
    s = system.lower()
    # WHO's URI and OID, and the Swedish OID Swedish records and RIV-TA contracts use (systems.ATC_SE).
    return "atc" in s or s.endswith("2.16.840.1.113883.6.73") or s.endswith("1.2.752.129.2.2.3.1.1")


def is_rxnorm_system(system: object) -> bool:
    if not isinstance(system, str):
        return False
    s = system.lower()
    return "rxnorm" in s or s.endswith("2.16.840.1.113883.6.88")


def is_npl_system(system: object) -> bool:
    """Läkemedelsverket's NPL-id (systems.NPL; the OID alone, or with a urn:oid: prefix)."""
    return isinstance(system, str) and system.strip().lower().endswith("1.2.752.129.2.1.5.1")


# ---------------------------------------------------------------------------------------------
# RxNorm
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RxNormEntry:
    code: str
    tty: str  # IN | SCD
    ingredient: str
    drug_class: DrugClass
    strength: float | None
    strength_unit: str | None  # MG, UG_PER_H or MG_PER_ML
    form: Form
    atc: str | None
    display: str


_RXNORM_CACHE: dict[str, dict[str, RxNormEntry]] = {}
_DEFAULT_RXNORM: list[dict[str, RxNormEntry]] = []  # the bundled table once loaded


def rxnorm_table(path: str | Path | None = None) -> dict[str, RxNormEntry]:
    """RxNorm code → entry, from ``data/rxnorm.csv`` (loaded once per path)."""
    if path is None and _DEFAULT_RXNORM:  # hot path: once per medication, no path arithmetic
        return _DEFAULT_RXNORM[0]
    key = str(path or DATA_DIR / "rxnorm.csv")
    table = _RXNORM_CACHE.get(key)
    if table is None:
        table = {}
        with open(key, encoding="utf-8", newline="") as fh:
            rows = csv.DictReader(line for line in fh if line.strip() and not line.startswith("#"))
            for row in rows:
                strength = row["strength"].strip()
                table[row["code"].strip()] = RxNormEntry(
                    code=row["code"].strip(),
                    tty=row["tty"].strip(),
                    ingredient=row["ingredient"].strip(),
                    drug_class=DrugClass(row["drug_class"].strip()),
                    strength=float(strength) if strength else None,
                    strength_unit=row["strength_unit"].strip() or None,
                    form=Form(row["form"].strip()) if row["form"].strip() else Form.UNKNOWN,
                    atc=row["atc"].strip() or None,
                    display=row["display"].strip(),
                )
        _RXNORM_CACHE[key] = table
    if path is None:
        _DEFAULT_RXNORM.append(table)
    return table


# ---------------------------------------------------------------------------------------------
# Names (last resort, low confidence)
# ---------------------------------------------------------------------------------------------


@text_cache(maxsize=16384)
def normalize_text(text: str) -> str:
    """Lowercase, diacritics removed (å→a, ö→o, é→e), µ→u, whitespace collapsed.

    Cached: a record repeats the same few product, unit and period texts thousands of times, and
    Unicode decomposition per character was the largest single cost of mapping a record.
    """
    if text.isascii():  # NFKD leaves ASCII unchanged and ASCII has no combining marks or µ
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text.lower())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.replace("\u03bc", "u").replace("\u00b5", "u").split())


# name prefix (normalized) → (class, ingredient). Matched at a word start; the word may go on
# ("oxikodonhydroklorid", "morphine sulfate"). Swedish and English INNs plus common brands.
_NAMES: dict[str, tuple[DrugClass, str]] = {}


def _names(cls: DrugClass, ingredient: str, *prefixes: str) -> None:
    """Register the English ingredient name itself and its Swedish spellings and brands."""
    for p in (ingredient, *prefixes):
        _NAMES[normalize_text(p)] = (cls, ingredient)


# Opioid maintenance products (LARO, clinical-rules §8): recognised before the plain opioids.
_names(LARO, "buprenorphine", "suboxone", "subutex", "buvidal", "zubsolv", "espranor", "sixmo")
# Opioid analgesics
_names(OPIOID, "morphine", "morfin", "morphin", "dolcontin", "depolan", "ms contin")
_names(OPIOID, "oxycodone", "oxikodon", "oxycodon", "oxycontin", "oxynorm", "targiniq", "roxicodone",
       "percocet")
_names(OPIOID, "tramadol", "tradolan", "nobligan", "tiparol", "gemadol", "ultram", "ultracet")
_names(OPIOID, "buprenorphine", "buprenorfin", "buprenorphin", "norspan", "temgesic", "transtec",
       "butrans")
_names(OPIOID, "fentanyl", "durogesic", "duragesic", "matrifen")
_names(OPIOID, "hydromorphone", "hydromorfon", "hydromorphon", "palladon", "dilaudid")
_names(OPIOID, "ketobemidone", "ketobemidon", "ketogan")
_names(OPIOID, "tapentadol", "palexia", "nucynta")
_names(OPIOID, "codeine", "kodein", "codein", "citodon", "panocod", "treo comp")
_names(OPIOID, "dihydrocodeine", "dihydrokodein", "dihydrocodein")
_names(OPIOID, "pethidine", "petidin", "pethidin", "meperidin", "demerol")
_names(OPIOID, "methadone", "metadon", "methadon")
_names(OPIOID, "ethylmorphine", "etylmorfin", "ethylmorphin", "cocillana-etyfin")
_names(OPIOID, "hydrocodone", "hydrokodon", "hydrocodon", "norco", "vicodin", "lortab")
_names(OPIOID, "oxymorphone", "oxymorfon", "oxymorphon")
# Non-opioids the rules care about
_names(DrugClass.PARACETAMOL, "paracetamol", "paracetamol", "acetaminophen", "alvedon", "panodil",
       "pamol", "tylenol")
_names(DrugClass.NSAID, "ibuprofen", "ibuprofen", "ipren", "brufen", "ibumetin")
_names(DrugClass.NSAID, "naproxen", "naproxen", "pronaxen")
_names(DrugClass.NSAID, "diclofenac", "diklofenak", "diclofenac", "voltaren")
_names(DrugClass.NSAID, "ketoprofen", "ketoprofen")
_names(DrugClass.NSAID, "celecoxib", "celecoxib", "celebra")
_names(DrugClass.NSAID, "etoricoxib", "etoricoxib", "arcoxia")
_names(DrugClass.NSAID, "meloxicam", "meloxikam", "meloxicam")
_names(DrugClass.DULOXETINE, "duloxetine", "duloxetin", "cymbalta")
_names(DrugClass.AMITRIPTYLINE, "amitriptyline", "amitriptylin", "saroten", "tryptizol")
_names(DrugClass.GABAPENTINOID, "gabapentin", "gabapentin", "neurontin")
_names(DrugClass.GABAPENTINOID, "pregabalin", "pregabalin", "lyrica")
_names(DrugClass.BENZODIAZEPINE, "diazepam", "diazepam", "stesolid")
_names(DrugClass.BENZODIAZEPINE, "oxazepam", "oxazepam", "sobril")
_names(DrugClass.BENZODIAZEPINE, "alprazolam", "alprazolam", "xanor", "xanax")
_names(DrugClass.BENZODIAZEPINE, "lorazepam", "lorazepam", "temesta", "ativan")
_names(DrugClass.BENZODIAZEPINE, "clonazepam", "klonazepam", "clonazepam", "iktorivil", "klonopin")
_names(DrugClass.BENZODIAZEPINE, "nitrazepam", "nitrazepam", "mogadon")
_names(DrugClass.BENZODIAZEPINE, "flunitrazepam", "flunitrazepam", "rohypnol")
_names(DrugClass.BENZODIAZEPINE, "midazolam", "midazolam")
_names(DrugClass.BENZODIAZEPINE, "triazolam", "triazolam", "halcion")
_names(DrugClass.Z_DRUG, "zopiclone", "zopiklon", "zopiclon", "imovane")
_names(DrugClass.Z_DRUG, "zolpidem", "zolpidem", "stilnoct", "ambien")
_names(DrugClass.Z_DRUG, "eszopiclone", "eszopiklon", "eszopiclon")
_names(DrugClass.WITHDRAWAL_SUPPORT, "loperamide", "loperamid", "imodium", "dimor")
_names(DrugClass.WITHDRAWAL_SUPPORT, "metoclopramide", "metoklopramid", "metoclopramid", "primperan")
_names(DrugClass.WITHDRAWAL_SUPPORT, "alimemazine", "alimemazin", "theralen")
_names(DrugClass.WITHDRAWAL_SUPPORT, "mirtazapine", "mirtazapin", "remeron")
# Companions in combination products: identify the other strength, never classify on their own
# as anything but OTHER.
_names(DrugClass.OTHER, "naloxone", "naloxon")
_names(DrugClass.OTHER, "naltrexone", "naltrexon")
_names(DrugClass.OTHER, "caffeine", "koffein", "caffein")
_names(DrugClass.OTHER, "acetylsalicylic acid", "acetylsalicylsyra", "aspirin")

_NAME_RE = re.compile(
    r"(?<![a-z0-9])(" + "|".join(re.escape(n) for n in sorted(_NAMES, key=len, reverse=True)) + ")"
)

def _rank(cls: DrugClass) -> int:
    """LARO before opioids before the other classes before mere companions (OTHER)."""
    return {LARO: 0, OPIOID: 1, DrugClass.OTHER: 3}.get(cls, 2)


@dataclass(frozen=True)
class NameHit:
    start: int
    drug_class: DrugClass
    ingredient: str


@text_cache(maxsize=8192)
def name_hits(normalized: str) -> tuple[NameHit, ...]:
    """Every ingredient/brand name in a normalized text, in order of appearance."""
    return tuple(NameHit(m.start(), *_NAMES[m.group(1)]) for m in _NAME_RE.finditer(normalized))


def classify_name(normalized: str) -> tuple[DrugClass, str] | None:
    """Class and ingredient from names in text [clinical-rules §9: last resort, low confidence].

    An opioid anywhere in the name wins over a companion (codeine + paracetamol is an opioid);
    buprenorphine together with naloxone is an opioid-maintenance product (LARO, clinical-rules §8).
    """
    hits = name_hits(normalized)
    if not hits:
        return None
    ingredients = {h.ingredient for h in hits}
    if "buprenorphine" in ingredients and "naloxone" in ingredients:
        return LARO, "buprenorphine"
    best = min(hits, key=lambda h: (_rank(h.drug_class), h.start))
    return best.drug_class, best.ingredient


# ---------------------------------------------------------------------------------------------
# Form
# ---------------------------------------------------------------------------------------------

# Checked in this order: "depotplåster" is a patch, "depottablett" a depot tablet, "resoriblett" a
# sublingual tablet, "tablett" otherwise immediate release.
_FORM_PATTERNS: tuple[tuple[Form, re.Pattern[str]], ...] = (
    (Form.PATCH, re.compile(
        r"plaster|plastr|transdermal|\bpatch|\bmg/hr?\b|\bu?g/h(?:r|our)?\b|mcg/h|mikrog(?:ram)?/(?:timme|h)"
        r"|\bt(?:d|ts)\b")),
    (Form.SUBLINGUAL, re.compile(
        r"sublingual|resoriblett|buckal|buccal|\bsl\b|munhale|oromukosal|oromucosal|sugtablett|lozenge")),
    (Form.INJECTION, re.compile(
        r"injekt|inject|infusion|\binj\b|intraven|subkutan|subcutan|intramusk|intramusc")),
    (Form.DEPOT, re.compile(
        r"depot|extended[ -]release|prolonged[ -]release|modified[ -]release|sustained[ -]release"
        r"|controlled[ -]release|forlangd frisattning|modifierad frisattning"
        r"|\b(?:er|xr|sr|cr|xl|mr|retard)\b|\b(?:12|24) ?hr?\b|contin\b|targiniq|depolan")),
    (Form.IMMEDIATE, re.compile(
        r"tablett|tablet|\btab\b|kapsel|kapslar|capsule|oral (?:losning|solution|suspension)|mixtur"
        r"|orala droppar|oral drops|munsonderfallande|filmdrag|granulat|immediate[ -]release|\bir\b")),
)


@text_cache(maxsize=8192)
def form_from_text(normalized: str) -> Form | None:
    """Administration form named in a (normalized) product or form text, else None."""
    for form, pattern in _FORM_PATTERNS:
        if pattern.search(normalized):
            return form
    return None


#: SNOMED CT route codes → form. Oral says nothing about release and is left to other evidence.
ROUTE_FORMS: dict[str, Form] = {
    "45890007": Form.PATCH,  # transdermal route
    "37839007": Form.SUBLINGUAL,  # sublingual route
    "54471007": Form.SUBLINGUAL,  # buccal route
    "47625008": Form.INJECTION,  # intravenous
    "78421000": Form.INJECTION,  # intramuscular
    "34206005": Form.INJECTION,  # subcutaneous
}

# ---------------------------------------------------------------------------------------------
# Strength in product text ("OxyContin 10 mg depottablett", "72 HR Fentanyl 0.025 MG/HR")
# ---------------------------------------------------------------------------------------------

_STRENGTH_RE = re.compile(
    r"(?<![\w.,])(\d+(?:[.,]\d+)?)\s*(mg|g|ug|mcg|mikrogram|mikrog|micrograms?)(?![a-z])"
    r"(?:\s*(?:/|per)\s*(?:1\s*)?(h|hr|hour|timme|tim|ml|dos|dose)(?![a-z]))?"
)
_MASS_MG = {"mg": 1.0, "g": 1000.0, "ug": 0.001, "mcg": 0.001, "mikrog": 0.001, "mikrogram": 0.001,
            "microgram": 0.001, "micrograms": 0.001}


@dataclass(frozen=True)
class TextStrength:
    start: int
    value: float
    unit: str  # MG, UG_PER_H or MG_PER_ML


#: "500/30 mg", "10/5 mg": the strengths of a combination with the unit written once, at the end.
_SHORT_COMBINATION_RE = re.compile(
    r"(?<![\w.,/])(\d+(?:[.,]\d+)?)\s*/\s*(\d+(?:[.,]\d+)?)\s*(mg|g|ug|mcg|mikrogram|mikrog)(?![a-z])"
    r"(?!\s*(?:/|per)\s*(?:1\s*)?(?:h|hr|hour|timme|tim|ml|dos|dose)(?![a-z]))"
)


@text_cache(maxsize=4096)
def text_strengths(normalized: str) -> tuple[TextStrength, ...]:
    """Every strength stated in a (normalized) product text, in order: "10 mg", "5 mikrogram/timme",
    "12 ug/h", "500 mg/30 mg", and the short combination form "500/30 mg" (two strengths)."""
    out = []
    taken: list[tuple[int, int]] = []
    for m in _SHORT_COMBINATION_RE.finditer(normalized):
        factor = _MASS_MG[m.group(3)]
        out.append(TextStrength(m.start(1), float(m.group(1).replace(",", ".")) * factor, MG))
        out.append(TextStrength(m.start(2), float(m.group(2).replace(",", ".")) * factor, MG))
        taken.append(m.span())
    for s in _text_strengths(normalized):
        if not any(a <= s.start < b for a, b in taken):
            out.append(s)
    return tuple(sorted(out, key=lambda s: s.start))


def _text_strengths(normalized: str) -> list[TextStrength]:
    out = []
    for m in _STRENGTH_RE.finditer(normalized):
        mg = float(m.group(1).replace(",", ".")) * _MASS_MG[m.group(2)]
        per = m.group(3)
        if per in ("h", "hr", "hour", "timme", "tim"):
            out.append(TextStrength(m.start(), mg * 1000.0, UG_PER_H))
        elif per == "ml":
            out.append(TextStrength(m.start(), mg, MG_PER_ML))
        else:
            out.append(TextStrength(m.start(), mg, MG))
    return out


@text_cache(maxsize=8192)
def strength_from_text(normalized: str, ingredient: str | None) -> tuple[float, str] | None:
    """Strength of ``ingredient`` stated in a product text, or None when absent or ambiguous.

    One strength: that one. Several (combination products): RxNorm style "acetaminophen 300 MG /
    codeine phosphate 30 MG" pairs each strength with the name just before it; Swedish style
    "Oxikodon/Naloxon 10 mg/5 mg" pairs names and strengths in order when their counts agree.
    Anything else is ambiguous and stays unknown rather than guessed.
    """
    strengths = text_strengths(normalized)
    if not strengths:
        return None
    if len(strengths) == 1:
        return strengths[0].value, strengths[0].unit
    if ingredient is None:
        return None
    hits = name_hits(normalized)
    preceding = []
    for s in strengths:
        before = [h for h in hits if h.start < s.start]
        preceding.append(before[-1].ingredient if before else None)
    if None not in preceding and len(set(preceding)) == len(preceding):
        for s, ing in zip(strengths, preceding):
            if ing == ingredient:
                return s.value, s.unit
        return None
    names_in_order = [h.ingredient for h in hits]
    if len(names_in_order) == len(strengths) and names_in_order.count(ingredient) == 1:
        s = strengths[names_in_order.index(ingredient)]
        return s.value, s.unit
    return None


# ---------------------------------------------------------------------------------------------
# Units (UCUM codes and the free text a record may carry)
# ---------------------------------------------------------------------------------------------

#: mass unit → mg
MASS_TO_MG: dict[str, float] = {
    "mg": 1.0, "milligram": 1.0, "milligrams": 1.0, "milligramme": 1.0,
    "g": 1000.0, "gram": 1000.0, "grams": 1000.0,
    "ug": 0.001, "mcg": 0.001, "microgram": 0.001, "micrograms": 0.001, "mikrog": 0.001,
    "mikrogram": 0.001,
}
#: rate unit → µg/h (patches: dose while worn)
RATE_TO_UG_H: dict[str, float] = {m + "/h": f * 1000.0 for m, f in MASS_TO_MG.items()}
#: mass per day ("mg/d", "mg/24 h", "mg/dygn") → mg per day: a daily dose stated directly
MASS_PER_DAY_TO_MG: dict[str, float] = {m + "/24h": f for m, f in MASS_TO_MG.items()}
#: volume unit → ml
VOLUME_TO_ML: dict[str, float] = {"ml": 1.0, "milliliter": 1.0, "millilitre": 1.0, "milliliters": 1.0}
#: Units of presentation: "n of the product" — the product's strength per unit makes them mg (tablets,
#: capsules, doses …) or µg/h (patches). UCUM annotations arrive without their braces ({pill} → "pill",
#: the CDS Hooks sandbox's unit for every dose; {tbl}, {tablet}, {capsule}, {patch}, {puff}, {dose} …);
#: Swedish records write the word (st, tablett, kapsel, depotplåster, dos …, diacritics folded).
#: Split by what they name, so that a unit naming another form than the product's is not counted
#: (dosage.to_amount): "1 patch" of a tablet product is a contradiction, not a tablet.
ORAL_COUNT_UNITS: frozenset[str] = frozenset({
    "tablet", "tablets", "tab", "tabs", "tbl", "tabl", "tablett", "tabletter", "tabletten",
    "depottablett", "depottabletter", "resoriblett", "resoribletter", "sugtablett", "sugtabletter",
    "brustablett", "brustabletter", "munsonderfallande tablett", "filmdragerad tablett",
    "filmdragerade tabletter", "kapsel", "kapslar", "kapseln", "depotkapsel", "depotkapslar", "capsule",
    "capsules", "cap", "caps", "film", "films", "lozenge", "lozenges",
})
PATCH_COUNT_UNITS: frozenset[str] = frozenset({
    "patch", "patches", "plaster", "plastret", "plastren", "depotplaster", "depotplastret", "depotplastren",
    "transdermal patch", "system", "transdermal system",
})
COUNT_UNITS: frozenset[str] = ORAL_COUNT_UNITS | PATCH_COUNT_UNITS | frozenset({
    # {pill}: the sandbox's unit for every dose, a fentanyl patch's too, so it names no form
    "pill", "pills",
    "1", "st", "st.", "stk", "styck", "stycken", "dos", "doser", "dose", "doses", "each", "ea", "unit",
    "units", "piece", "pieces", "supp", "suppositorium", "suppository", "actuation", "actuat", "puff",
    "puffs", "spray", "sprays",
})
#: SNOMED CT unit codes seen in Quantity.code: units of measure, and units of presentation (is-a
#: 732935002 |Unit of presentation|), checked against published value sets (FHIR's SNOMED CT unit-of-
#: presentation value set; HL7 Switzerland's UnitCode).
_SNOMED_UNITS: dict[str, str] = {
    "258684004": "mg", "258685003": "ug", "258682000": "g", "258773002": "ml",
    "732936001": "tablet", "732937005": "capsule", "733005001": "patch", "732981002": "actuation",
    "732995004": "film", "733019001": "suppository", "733000006": "lozenge",
}
#: orderable-drug-form codes (HL7 v3) used as units
_V3_FORM_UNITS = {"tab": "tablet", "cap": "capsule", "patch": "patch", "tpatch": "patch"}

_PER_HOUR = re.compile(r"/\s*(?:1\s*)?(?:hr|hour|timme|tim|t)$")
_PER_24H = re.compile(r"/\s*(?:24\s*(?:h|hr|hours|timmar)|d|day|dygn)$")
_PARENTHESIS = re.compile(r"\s*\(.*?\)\s*")


@text_cache(maxsize=2048)
def _normalize_unit_text(text: str) -> str:
    u = normalize_text(text).replace("{", "").replace("}", "")
    u = _PARENTHESIS.sub(" ", u).strip().rstrip(".")
    u = u.replace("mikrogram", "ug").replace("mikrog", "ug").replace("micrograms", "ug")
    u = u.replace("microgram", "ug").replace("mcg", "ug")
    u = _PER_HOUR.sub("/h", u)
    u = _PER_24H.sub("/24h", u)
    u = re.sub(r"\s*/\s*", "/", u)
    return _V3_FORM_UNITS.get(u, u)


def unit_key(quantity: object) -> str | None:
    """Normalized unit of a FHIR Quantity (code preferred, then unit text), or None if absent."""
    if not isinstance(quantity, dict):
        return None
    code, unit = quantity.get("code"), quantity.get("unit")
    if isinstance(code, str) and code.strip():
        mapped = _SNOMED_UNITS.get(code.strip())
        if mapped:
            return mapped
        if not code.strip().isdigit():
            return _normalize_unit_text(code)
        if code.strip() == "1" and not (isinstance(unit, str) and unit.strip()):
            return "1"  # UCUM unity: one unit of presentation
    if isinstance(unit, str) and unit.strip():
        return _normalize_unit_text(unit)
    return None


#: Timing period unit → days (UCUM units of time as FHIR uses them, plus spelled-out variants).
PERIOD_DAYS: dict[str, float] = {
    "s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "hr": 1 / 24, "hour": 1 / 24, "hours": 1 / 24,
    "timme": 1 / 24, "timmar": 1 / 24, "d": 1.0, "day": 1.0, "days": 1.0, "dag": 1.0, "dagar": 1.0,
    "dygn": 1.0, "wk": 7.0, "week": 7.0, "weeks": 7.0, "vecka": 7.0, "veckor": 7.0, "mo": 30.0,
    "month": 30.0, "months": 30.0, "manad": 30.0, "manader": 30.0, "a": 365.0, "year": 365.0,
    "years": 365.0, "ar": 365.0,
}


def period_days(unit: object) -> float | None:
    if not isinstance(unit, str):
        return None
    return PERIOD_DAYS.get(normalize_text(unit))


def duration_days(quantity: object) -> float | None:
    """Days in a FHIR Duration ({value, unit|code}), None if unreadable or not positive."""
    if not isinstance(quantity, dict):
        return None
    value, code, unit = quantity.get("value"), quantity.get("code"), quantity.get("unit")
    # Every renewal says "30 days" the same way: the answer is kept per (value, code, unit). The value's
    # type is part of the key (True == 1 in Python, but True is no number here); unhashable or long
    # values are read uncached.
    key = (type(value), value, code, unit)
    try:
        return _DURATIONS[key]
    except KeyError:
        pass
    except TypeError:  # a list or object where a value or code belongs
        return _duration_days(value, code, unit)
    days = _duration_days(value, code, unit)
    if all(type(v) is not str or len(v) <= 32 for v in (value, code, unit)):  # memory stays bounded
        if len(_DURATIONS) >= 4096:
            _DURATIONS.clear()  # bounded
        _DURATIONS[key] = days
    return days


_DURATIONS: dict[tuple, float | None] = {}


def _duration_days(value: object, code: object, unit: object) -> float | None:
    value = number(value)
    per = period_days(code) or period_days(unit)
    if value is None or per is None or value <= 0:
        return None
    return value * per


def number(value: object) -> float | None:
    """A finite JSON number (bools excluded), else None — also for an integer too large for a float."""
    t = type(value)
    if t is not int and t is not float:  # (exact int/float first: the hot path; bool is not int here)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
    try:
        f = float(value)
    except OverflowError:  # an integer beyond any float (JSON allows it; Python's json reads it exactly)
        return None
    return f if _isfinite(f) else None


#: GTS timing abbreviations (Timing.code) → administrations per day.
TIMING_CODES: dict[str, float] = {
    "QD": 1, "AM": 1, "PM": 1, "BED": 1, "QHS": 1, "BID": 2, "TID": 3, "QID": 4, "QOD": 0.5,
    "Q1H": 24, "Q2H": 12, "Q3H": 8, "Q4H": 6, "Q6H": 4, "Q8H": 3, "Q12H": 2, "WK": 1 / 7, "MO": 1 / 30,
}
