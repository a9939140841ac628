"""Identify a medication: which drug, which class, which form (clinical-rules §9).

Evidence, strongest first [clinical-rules §9]:

1. **ATC** on the product (or, failing that, on a Medication ingredient): hierarchical and complete,
   so a well-formed code without a rule of ours is a known drug of no interest (``OTHER``).
2. **RxNorm** from ``data/rxnorm.csv`` (ingredient codes and the product codes a US-style sandbox
   sends). An RxNorm code we do not know says nothing: we fall through to the name.
3. **Name** in the coding displays or text, Swedish and English, brands included — marked
   ``IdentifiedBy.NAME`` (low confidence): first the products table (:mod:`fhir_mappings.codes.products`:
   ingredients, form, strengths and ATC of Swedish brands, for a product coded only with an NPL id or
   not at all), then the ingredient and brand names of :mod:`fhir_mappings.codes.tables`.

Strength per unit (what makes "1 tablett", "1 {pill}", "1 plåster" mg or µg/h, :mod:`fhir_mappings.read.dosage`),
strongest first, and marked on the Drug (``strength_source``): a Medication's ``ingredient.strength``
("medication"), the RxNorm table ("rxnorm"), the product text read with the products table's ingredient
order ("Citodon 500 mg/30 mg": codeine 30 mg; "text"), the products table's only strength of a product
whose text states none ("products-table"), the product text alone ("text"). A combination counts its
opioid part only (clinical-rules §4); the other ingredients are kept as ``Drug.companions``.

Methadone (clinical-rules §4, §8): ATC N07BC02 is opioid maintenance (LARO) — its patients are out
of scope — *unless* the prescription itself clearly says pain (a pain diagnosis in ``reasonCode`` or
"smärta"/"pain" in the reason or dosage text). Excluding a pain patient by mistake only loses a card;
treating a LARO patient as a pain patient would put taper advice in front of opioid-maintenance care.
Methadone known only by RxNorm or name is counted as a pain opioid: the US code system has no LARO
distinction for tablets, and Swedish LARO methadone is prescribed with its ATC code.

Hot path: runs for every MedicationRequest of a record. Plain dict access; lookups are cached in
:mod:`fhir_mappings.codes.tables`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

from fhir_mappings.codes import tables as codes, products
from fhir_mappings.codes.tables import MG_PER_ML
from fhir_mappings.read.dosage import dosage_lines
from cds_service.domain.model import MG, UG_PER_H, Drug, DrugClass, Form, IdentifiedBy
from cds_service.runtime.caches import BoundedCache
from cds_service.runtime.outline import content_key

# resolve_medication(reference) -> the Medication resource (dict) or None. ``reference`` is the
# literal Reference.reference string: "#med1" (contained) or "Medication/123" (server-side).
MedicationResolver = Callable[[str], "dict | None"]

UNNAMED = "unnamed medication"
DISPLAY_MAX = 200  # a name on a card; the record may hold anything (the fuzzers send 100 kB "names")


def shown_name(text: str) -> str:
    """The record's product text as a card may show it: whitespace folded, at most DISPLAY_MAX characters.
    Identification still reads the whole text; only what is displayed is shortened."""
    text = " ".join(text.split())
    return text if len(text) <= DISPLAY_MAX else text[: DISPLAY_MAX - 1].rstrip() + "…"

_PAIN_TEXT = re.compile(r"\bsmart(?:a|or|an|orna|lindr\w*|tillstand\w*)\b|\bpain\b|\banalges")
_PAIN_ICD = re.compile(r"^(?:R52|G89|MG30)")
_PAIN_SNOMED = frozenset({"22253000", "82423001"})  # pain (finding), chronic pain (finding)


def identify_drug(resource: dict, resolve_medication: MedicationResolver | None = None) -> Drug:
    """Drug of a MedicationRequest / MedicationDispense / MedicationStatement.

    Uses ``medicationCodeableConcept`` or ``medicationReference`` (contained first, then
    ``resolve_medication``). Never raises: unidentifiable input gives ``DrugClass.UNKNOWN``.
    """
    try:
        return _identify(resource, resolve_medication)
    except Exception:  # malformed FHIR must never break the hook (clinical-rules §4 honesty: unknown)
        return Drug(drug_class=DrugClass.UNKNOWN, display=UNNAMED)


# ---------------------------------------------------------------------------------------------


def _dicts(value: object) -> list[dict]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return [value] if isinstance(value, dict) else []


def _str(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _medication_of(resource: dict, resolve: MedicationResolver | None) -> tuple[dict | None, dict | None, str | None]:
    """(product CodeableConcept, Medication resource, reference display) of a medication resource."""
    concept = resource.get("medicationCodeableConcept")
    reference = resource.get("medicationReference")
    r5 = resource.get("medication")  # R5 CodeableReference, tolerated
    if isinstance(r5, dict):
        concept = concept or r5.get("concept")
        reference = reference or r5.get("reference")
    concept = concept if isinstance(concept, dict) else None
    medication = None
    ref_display = None
    if isinstance(reference, dict):
        ref_display = _str(reference.get("display"))
        ref = _str(reference.get("reference"))
        if ref and ref.startswith("#"):
            for contained in _dicts(resource.get("contained")):
                if contained.get("id") == ref[1:]:
                    medication = contained
                    break
        if medication is None and ref and resolve is not None:
            try:
                found = resolve(ref)
            except Exception:  # a failing resolver is missing data, not a crash
                found = None
            medication = found if isinstance(found, dict) else None
    if medication is not None and concept is None:
        concept = medication.get("code") if isinstance(medication.get("code"), dict) else None
    return concept, medication, ref_display


def _codings(concept: dict | None) -> list[dict]:
    return _dicts(concept.get("coding")) if concept else []


def _texts(concept: dict | None) -> list[str]:
    """Human text of a CodeableConcept: its text, then its coding displays."""
    if not concept:
        return []
    out = [t for t in [_str(concept.get("text"))] if t]
    out += [d for c in _codings(concept) if (d := _str(c.get("display")))]
    return out


def _classify_codings(codings: Iterable[dict]) -> tuple[tuple[DrugClass, str | None, str] | None, codes.RxNormEntry | None, str | None]:
    """(best ATC classification with its code, first known RxNorm entry, first RxNorm code)."""
    atc_best = None
    rx_entry = None
    rx_code = None
    table = codes.rxnorm_table()
    for coding in codings:
        system, code = coding.get("system"), coding.get("code")
        if codes.is_atc_system(system):
            atc = codes.normalize_atc(code)
            if atc:
                cls, ing = codes.classify_atc(atc)
                cand = (cls, ing, atc)
                if atc_best is None or _better(cand, atc_best):
                    atc_best = cand
        elif codes.is_rxnorm_system(system) and isinstance(code, str):
            rx_code = rx_code or code.strip()
            if rx_entry is None:
                rx_entry = table.get(code.strip())
    return atc_best, rx_entry, rx_code


def _better(a: tuple[DrugClass, str | None, str], b: tuple[DrugClass, str | None, str]) -> bool:
    """Several ATC codes on one product: LARO, then opioid, then a specific ingredient wins."""
    rank = {DrugClass.LARO: 0, DrugClass.OPIOID: 1}
    ka = (rank.get(a[0], 2), a[1] is None)
    kb = (rank.get(b[0], 2), b[1] is None)
    return ka < kb


def _identify(resource: dict, resolve: MedicationResolver | None) -> Drug:
    if not isinstance(resource, dict):
        return Drug(drug_class=DrugClass.UNKNOWN, display=UNNAMED)
    # The usual order of a record: a product the request decoder shared, and no reference. Its key is
    # what _product_key would make of it (concept text, no reference display), without the detour.
    concept = resource.get("medicationCodeableConcept")
    shared = content_key(concept) if type(concept) is dict else None
    if shared is not None and "medicationReference" not in resource and "medication" not in resource:
        product = _PRODUCTS.get((shared, None))
        if product is not None:
            return _finish(product, resource)
    concept, medication, ref_display = _medication_of(resource, resolve)
    key = _product_key(concept, medication, ref_display)
    if key is None:  # a shape the key does not describe exactly: identify without the cache
        product = _identify_product(concept, medication, ref_display)
    else:
        product = _PRODUCTS.get(key)
        if product is None:
            product = _identify_product(concept, medication, ref_display)
            _PRODUCTS.put(key, product)
    return _finish(product, resource)


# ---------------------------------------------------------------------------------------------
# Product identification, cached per distinct product
#
# A record of thousands of orders names a handful of products, so what depends on the product alone
# (codes, texts, the Medication's form and ingredients) is worked out once per product and cached;
# what depends on the order (the dosage route or dose unit as form evidence, the pain context of
# methadone) is read per order in _finish. The key holds every value the product part reads — the
# concept's text and codings (system, code, display), the reference display, the Medication's form
# concept and ingredients — so equal keys mean equal answers; a shape the key cannot hold exactly
# (a number where a code belongs, a coding that is not a list, texts over 1 024 characters in all …)
# is identified without the cache.
# ---------------------------------------------------------------------------------------------

_PRODUCTS: BoundedCache = BoundedCache(maxsize=4096)  # key → _Product
# Bigger values are not kept in keys (memory stays bounded whatever a client sends: at most
# 4 096 keys of about 1 000 characters).
_KEY_CHARS = 1024  # characters of all texts of one key
_KEY_ITEMS = 16  # codings of one concept
_KEY_NODES = 256  # JSON values in a Medication's ingredients


@dataclass(frozen=True)
class _Product:
    drug: Drug  # the answer when form_known and not pain_check
    form_known: bool  # the product itself says the form; else the order's dosage may
    pain_check: bool  # LARO methadone: the prescription's reason may make it a pain opioid
    strength: tuple[float, str] | None  # form evidence after the dosage (a strength per hour)


class _Unkeyable(Exception):
    pass


class _KeyBudget:
    """Characters and JSON values a key may still hold."""

    __slots__ = ("chars", "nodes")

    def __init__(self) -> None:
        self.chars, self.nodes = _KEY_CHARS, _KEY_NODES

    def text(self, value: object) -> object:
        """``value`` if None or a string that still fits, else _Unkeyable."""
        if value is None:
            return None
        if type(value) is not str:
            raise _Unkeyable
        self.chars -= len(value)
        if self.chars < 0:
            raise _Unkeyable
        return value


def _concept_key(concept: object, budget: _KeyBudget) -> tuple | None:
    """(text, ((system, code, display), …)) of a CodeableConcept as _texts/_codings read it."""
    if concept is None:
        return None
    if not isinstance(concept, dict):
        raise _Unkeyable
    text, coding = concept.get("text"), concept.get("coding")
    chars = 0
    if text is not None:
        if type(text) is not str:
            raise _Unkeyable
        chars = len(text)
    if coding is None:
        out = ()
    elif type(coding) is not list or len(coding) > _KEY_ITEMS:
        raise _Unkeyable
    else:
        out = []
        for c in coding:
            if type(c) is not dict:
                continue  # skipped by _dicts as well
            system, code, display = c.get("system"), c.get("code"), c.get("display")
            for v in (system, code, display):  # inline: this runs for every order
                if v is not None:
                    if type(v) is not str:
                        raise _Unkeyable
                    chars += len(v)
            out.append((system, code, display))
        out = tuple(out)
    budget.chars -= chars
    if budget.chars < 0:
        raise _Unkeyable
    return (text, out)


def _frozen(value: object, budget: _KeyBudget, depth: int = 0) -> object:
    """A hashable, type-tagged copy of JSON (for Medication ingredients, which are rare and varied);
    small values only (depth 8, the budget's values and characters)."""
    budget.nodes -= 1
    if depth > 8 or budget.nodes < 0:
        raise _Unkeyable
    t = type(value)
    if value is None or t is str:
        return budget.text(value)
    if t is bool:
        return ("b", value)
    if t is int:
        return ("i", value)
    if t is float:
        return ("f", repr(value))  # repr tells -0.0 from 0.0
    if t is list:
        return ("l", tuple(_frozen(v, budget, depth + 1) for v in value))
    if t is dict:
        return ("d", tuple(sorted((_frozen(k, budget, depth + 1), _frozen(v, budget, depth + 1))
                                  for k, v in value.items())))
    raise _Unkeyable


def _product_key(concept: dict | None, medication: dict | None, ref_display: str | None) -> tuple | None:
    budget = _KeyBudget()
    try:
        if medication is None:
            # A product the request decoder shared (cds_service.runtime.outline) is keyed by its JSON text.
            shared = content_key(concept)
            return (shared if shared is not None else _concept_key(concept, budget), budget.text(ref_display))
        form = medication.get("form")
        return (_concept_key(concept, budget), budget.text(ref_display),
                _concept_key(form, budget) if isinstance(form, dict) else None,
                _frozen(medication.get("ingredient"), budget))
    except (_Unkeyable, TypeError, RecursionError):  # TypeError: keys that do not sort (not JSON)
        return None


def _identify_product(concept: dict | None, medication: dict | None, ref_display: str | None) -> _Product:
    """Everything identify_drug says that depends on the product alone (module docstring)."""
    ingredients = _dicts(medication.get("ingredient")) if medication else []

    product_texts = _texts(concept)
    if ref_display:
        product_texts.append(ref_display)
    display = shown_name(product_texts[0]) if product_texts else UNNAMED

    atc, rx, rx_code = _classify_codings(_codings(concept))
    ingredient_concepts = [_ingredient_concept(i) for i in ingredients]
    if atc is None and rx is None:
        # No product code we can use: the Medication's ingredient codes may still say what it is.
        i_atc, i_rx, _ = _classify_codings(c for ic in ingredient_concepts for c in _codings(ic))
        atc, rx = atc or i_atc, rx or i_rx

    if display == UNNAMED and rx is not None:
        display = rx.display  # a bare RxNorm code: RxNorm's own name is better than nothing

    name_text = codes.normalize_text(" / ".join(product_texts + [t for ic in ingredient_concepts for t in _texts(ic)]))
    by_name = codes.classify_name(name_text) if name_text else None
    product_text = codes.normalize_text(" / ".join(product_texts)) if product_texts else ""
    listed = products.load_products_table().find(product_text) if product_text else None

    drug_class: DrugClass
    ingredient: str | None
    if atc is not None:
        drug_class, ingredient, by = atc[0], atc[1], IdentifiedBy.ATC
    elif rx is not None:
        drug_class, ingredient, by = rx.drug_class, rx.ingredient, IdentifiedBy.RXNORM
    elif listed is not None:  # a Swedish product by name (NPL id only, or text only): still a name
        drug_class, ingredient, by = listed.drug_class, listed.ingredient, IdentifiedBy.NAME
    elif by_name is not None:
        drug_class, ingredient, by = by_name[0], by_name[1], IdentifiedBy.NAME
    else:
        form = _product_form(medication, None, product_texts)
        return _Product(Drug(drug_class=DrugClass.UNKNOWN, display=display, rxnorm=rx_code,
                             form=form or Form.UNKNOWN), form is not None, False, None)

    if ingredient is None and drug_class in (DrugClass.OPIOID, DrugClass.LARO):
        # "N02A" without a specific code: the ingredient may still be named.
        if rx is not None and rx.drug_class in (DrugClass.OPIOID, DrugClass.LARO):
            ingredient = rx.ingredient
        elif by_name is not None and by_name[0] in (DrugClass.OPIOID, DrugClass.LARO):
            ingredient = by_name[1]

    if listed is not None and listed.ingredient != ingredient:
        listed = None  # the code says another drug than the name: the name's product is not this one
    strength = _strength(ingredients, ingredient, rx, product_texts, listed)
    form = _product_form(medication, rx, product_texts) or (listed.form if listed is not None else None)
    atc_code = atc[2] if atc else (rx.atc if rx else (listed.atc if listed is not None else None))
    drug = Drug(
        drug_class=drug_class,
        display=display,
        ingredient=ingredient,
        form=form or Form.UNKNOWN,
        atc=atc_code,
        rxnorm=rx_code,
        strength=strength[0] if strength else None,
        strength_unit=strength[1] if strength else None,
        identified_by=by,
        strength_source=strength[2] if strength else None,
        companions=_companions(listed, atc_code, ingredient, name_text),
        code_systems=_code_systems(_codings(concept)),
    )
    pain_check = drug_class is DrugClass.LARO and ingredient == "methadone"
    return _Product(drug, form is not None, pain_check, strength[:2] if strength else None)


def _code_systems(codings: list[dict]) -> tuple[str, ...]:
    """"atc", "rxnorm", "npl" in the order the product's codings name them (each once)."""
    out: list[str] = []
    for c in codings:
        system = c.get("system")
        name = ("atc" if codes.is_atc_system(system) else "rxnorm" if codes.is_rxnorm_system(system)
                else "npl" if codes.is_npl_system(system) else None)
        if name is not None and name not in out:
            out.append(name)
    return tuple(out)


#: The other ingredients a combination's ATC code names (clinical-rules §9; the codes of
#: fhir_mappings.codes.tables' ATC rules).
_ATC_COMPANIONS: dict[str, tuple[str, ...]] = {
    "N02AA55": ("naloxone",), "N02AA56": ("naltrexone",), "N07BC51": ("naloxone",),
    "N02AJ01": ("paracetamol",), "N02AJ02": ("acetylsalicylic acid",), "N02AJ06": ("paracetamol",),
    "N02AJ07": ("acetylsalicylic acid",), "N02AJ08": ("ibuprofen",), "N02AJ13": ("paracetamol",),
}


def _companions(listed: "products.Product | None", atc: str | None, ingredient: str | None,
                name_text: str) -> tuple[str, ...]:
    """The other active ingredients of a combination: the products table's, the ATC code's, else those
    the product text names beside the main one ("Oxikodon/Naloxon 10 mg/5 mg")."""
    if listed is not None and listed.companions:
        return listed.companions
    if atc in _ATC_COMPANIONS:
        return _ATC_COMPANIONS[atc]
    if not name_text or ingredient is None:
        return ()
    partners = (DrugClass.OTHER, DrugClass.PARACETAMOL, DrugClass.NSAID)  # naloxone, paracetamol, ibuprofen …
    named = dict.fromkeys(h.ingredient for h in codes.name_hits(name_text)
                          if h.ingredient != ingredient and h.drug_class in partners)
    return tuple(sorted(named))


def _finish(product: _Product, resource: dict) -> Drug:
    """The product's drug, completed with what this order says (form from dosage, methadone for pain)."""
    drug = product.drug
    if product.form_known and not product.pain_check:
        return drug  # immutable: shared by every order of the product
    drug_class = drug.drug_class
    if product.pain_check and _pain_context(resource):
        drug_class = DrugClass.OPIOID  # methadone for pain, see module docstring
    form = drug.form if product.form_known else _dosage_form(resource, product.strength)
    return Drug(
        drug_class=drug_class,
        display=drug.display,
        ingredient=drug.ingredient,
        form=form,
        atc=drug.atc,
        rxnorm=drug.rxnorm,
        strength=drug.strength,
        strength_unit=drug.strength_unit,
        identified_by=drug.identified_by,
        strength_source=drug.strength_source,
        companions=drug.companions,
        code_systems=drug.code_systems,
    )


def _ingredient_concept(ingredient: dict) -> dict | None:
    """The item of a Medication.ingredient as a CodeableConcept (R4 itemCodeableConcept,
    itemReference display, R5 item.concept)."""
    item = ingredient.get("itemCodeableConcept")
    if isinstance(item, dict):
        return item
    item = ingredient.get("item")
    if isinstance(item, dict) and isinstance(item.get("concept"), dict):
        return item["concept"]
    ref = ingredient.get("itemReference")
    if isinstance(ref, dict) and _str(ref.get("display")):
        return {"text": ref["display"]}
    return None


def _ingredient_key(concept: dict | None) -> str | None:
    if not concept:
        return None
    atc, rx, _ = _classify_codings(_codings(concept))
    if atc and atc[1]:
        return atc[1]
    if rx:
        return rx.ingredient
    hit = codes.classify_name(codes.normalize_text(" ".join(_texts(concept))))
    return hit[1] if hit else None


def parse_strength(ratio: object) -> tuple[float, str] | None:
    """Strength per unit of presentation from a Ratio: (mg, MG) per tablet, (µg/h, UG_PER_H) per
    patch, or (mg/ml, MG_PER_ML) for liquids; None when unreadable."""
    if not isinstance(ratio, dict):
        return None
    num, den = ratio.get("numerator"), ratio.get("denominator")
    if not isinstance(num, dict):
        return None
    nv, nu = codes.number(num.get("value")), codes.unit_key(num)
    dv = codes.number(den.get("value")) if isinstance(den, dict) else 1.0
    du = codes.unit_key(den) if isinstance(den, dict) else None
    if isinstance(den, dict) and dv is None:
        dv = 1.0 if du is not None else None
    if nv is None or nv < 0 or dv is None or dv <= 0 or nu is None:
        return None
    if nu in codes.RATE_TO_UG_H and (du is None or du in codes.COUNT_UNITS):
        return nv * codes.RATE_TO_UG_H[nu] / dv, UG_PER_H
    if nu not in codes.MASS_TO_MG:
        return None
    mg = nv * codes.MASS_TO_MG[nu]
    if du is None or du in codes.COUNT_UNITS:
        return mg / dv, MG
    if du in codes.VOLUME_TO_ML:
        return mg / (dv * codes.VOLUME_TO_ML[du]), MG_PER_ML
    days = codes.period_days(du)
    if days is not None:  # mass per hour of wear: a patch
        return mg * 1000.0 / (dv * days * 24.0), UG_PER_H
    return None


def _strength(ingredients: list[dict], ingredient: str | None, rx: codes.RxNormEntry | None,
              texts: list[str], listed: "products.Product | None" = None) -> tuple[float, str, str] | None:
    """(strength, unit, source) of the identified ingredient: Medication.ingredient ("medication"),
    then the RxNorm table ("rxnorm"), then the text read with the products table ("text", or
    "products-table" for a product of one strength whose text states none), then the text alone."""
    parsed = []
    for item in ingredients:
        s = parse_strength(item.get("strength") or item.get("strengthRatio"))
        if s is not None:
            parsed.append((_ingredient_key(_ingredient_concept(item)), s))
    for key, s in parsed:
        if ingredient is not None and key == ingredient:
            return s[0], s[1], "medication"
    if len(parsed) == 1 and parsed[0][0] in (None, ingredient):
        return parsed[0][1][0], parsed[0][1][1], "medication"
    if rx is not None and rx.strength is not None and rx.ingredient == ingredient:
        return rx.strength, rx.strength_unit or MG, "rxnorm"
    if listed is not None:
        s = listed.strength(*(codes.normalize_text(t) for t in texts))
        if s is not None or len(listed.ingredients) > 1:
            # A combination's one stated number ("Citodon 500 mg") may be either part: unknown, not a guess.
            return s
    for text in texts:
        s = codes.strength_from_text(codes.normalize_text(text), ingredient)
        if s is not None:
            return s[0], s[1], "text"
    return None


def _product_form(medication: dict | None, rx: codes.RxNormEntry | None, texts: list[str]) -> Form | None:
    """Administration form the product itself names [clinical-rules §9: Medication.form, the RxNorm entry,
    the product text]; None when it names none (the order's dosage may then say, _dosage_form).

    A patch is only trusted when something says so (form, text, transdermal route, a dose or
    strength per hour); the ATC code alone (fentanyl is usually a patch) is not enough.
    """
    if medication is not None and isinstance(medication.get("form"), dict):
        for text in _texts(medication["form"]) + [c.get("code") for c in _codings(medication["form"]) if isinstance(c.get("code"), str)]:
            f = codes.form_from_text(codes.normalize_text(text))
            if f is not None:
                return f
    if rx is not None and rx.form is not Form.UNKNOWN:
        return rx.form
    for text in texts:
        f = codes.form_from_text(codes.normalize_text(text))
        if f is not None:
            return f
    return None


def _dosage_form(resource: dict, strength: tuple[float, str] | None) -> Form:
    """The form the order's dosage implies (route, a dose per hour), else a strength per hour."""
    lines = dosage_lines(resource)
    for line in lines:
        route = line.get("route")
        if isinstance(route, dict):
            for c in _codings(route):
                f = codes.ROUTE_FORMS.get(c.get("code")) if isinstance(c.get("code"), str) else None
                if f is not None:
                    return f
            for text in _texts(route):
                f = codes.form_from_text(codes.normalize_text(text))
                if f in (Form.PATCH, Form.SUBLINGUAL, Form.INJECTION):
                    return f
    for line in lines:
        for q in _line_quantities(line):
            if codes.unit_key(q) in codes.RATE_TO_UG_H:
                return Form.PATCH  # a dose in µg/h can only be a transdermal patch
    if strength is not None and strength[1] == UG_PER_H:
        return Form.PATCH
    return Form.UNKNOWN


def _line_quantities(line: dict) -> list[dict]:
    out = []
    for dr in _dicts(line.get("doseAndRate")) + [line]:
        for key in ("doseQuantity", "rateQuantity"):
            if isinstance(dr.get(key), dict):
                out.append(dr[key])
        rng = dr.get("doseRange")
        if isinstance(rng, dict):
            out += [q for q in (rng.get("high"), rng.get("low")) if isinstance(q, dict)]
    return out


def _pain_context(resource: dict) -> bool:
    """True when the prescription itself says it is for pain (reason or dosage text)."""
    for concept in _dicts(resource.get("reasonCode")):
        for c in _codings(concept):
            code = c.get("code")
            if isinstance(code, str) and (_PAIN_ICD.match(code.upper()) or code in _PAIN_SNOMED):
                return True
        if any(_PAIN_TEXT.search(codes.normalize_text(t)) for t in _texts(concept)):
            return True
    for ref in _dicts(resource.get("reasonReference")):
        if _str(ref.get("display")) and _PAIN_TEXT.search(codes.normalize_text(ref["display"])):
            return True
    for line in dosage_lines(resource):
        texts = [t for t in [_str(line.get("text")), _str(line.get("patientInstruction"))] if t]
        texts += [t for a in _dicts(line.get("asNeededCodeableConcept")) for t in _texts(a)]
        if any(_PAIN_TEXT.search(codes.normalize_text(t)) for t in texts):
            return True
    return False
