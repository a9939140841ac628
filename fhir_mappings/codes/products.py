"""Swedish products by name: which ingredients, which form, which strengths (clinical-rules §4, §9).

Swedish records name products by brand — OxyContin, Targiniq, Citodon, Norspan, Sobril … — often with
only an NPL id (a Swedish product id, ``systems.NPL``) and a text, sometimes with ATC
(``/work/shared/docs/real-senders.md``, "Swedish records"). The products table
(``fhir_mappings/codes/data/products_se.csv``; a region replaces it with ``TRAPPA_PRODUCTS_TABLE``, read when the
service starts, like the MEDD and strengths tables) says for each product name:

``name``         the product name as a record writes it, matched at a word start in the normalized text
                 (lowercase, diacritics folded); the longest matching name wins ("palexia depot" before
                 "palexia")
``ingredients``  ingredient keys, ``/``-separated, in the order the product's strengths are written
                 ("paracetamol/codeine" for "Citodon 500 mg/30 mg")
``strengths``    the strengths the product comes in, ``|`` between strengths, ``/`` between the
                 ingredients of one ("500/30"; "5/2.5|10/5|20/10|40/20"); empty when not listed
``unit``         ``mg`` (per tablet, capsule, dose) or ``ug/h`` (per patch)
``form``         model Form value (depot, immediate, patch, sublingual)
``atc``          the product's ATC code; its class and ingredient (fhir_mappings.codes.tables) must be one of
                 ``ingredients`` (checked at start-up)

Use (``fhir_mappings.read.medication``): when a product has no ATC or known RxNorm code (an NPL id only, a
text only) the table identifies it — class, ingredient, ATC and form — as a name, so still marked
``IdentifiedBy.NAME`` (lower confidence, shown on the medd-unknown card). Whatever identified the product,
the table also reads its strength from the text: a combination's strengths in the table's ingredient order
("Citodon 500 mg/30 mg": codeine 30 mg), or, when the text states none and the product comes in one
strength only, that one (source "products-table"). A product of several strengths whose text names none
keeps an unknown strength: never a guess.

Hot path: looked up once per distinct product (medication.py caches products).
"""
from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

from fhir_mappings.codes import tables as codes
from cds_service.domain.model import MG, UG_PER_H, DrugClass, Form

DEFAULT_PRODUCTS_TABLE = Path(__file__).resolve().parent / "data" / "products_se.csv"
PRODUCTS_TABLE_ENV = "TRAPPA_PRODUCTS_TABLE"
_COLUMNS = ("name", "ingredients", "strengths", "unit", "form", "atc", "source")






@dataclass(frozen=True)
class Product:
    """One row of the products table."""

    name: str  # normalized
    ingredients: tuple[str, ...]
    strengths: tuple[tuple[float, ...], ...]  # per listed strength, one value per ingredient
    unit: str  # MG or UG_PER_H
    form: Form
    atc: str
    drug_class: DrugClass
    ingredient: str  # the main ingredient (the one the ATC names)
    source: str

    @property
    def main_index(self) -> int:
        return self.ingredients.index(self.ingredient)

    @property
    def companions(self) -> tuple[str, ...]:
        return tuple(i for i in self.ingredients if i != self.ingredient)

    def strength(self, *normalized_texts: str) -> tuple[float, str, str] | None:
        """(strength of the main ingredient per unit, unit, source) from a product's texts, or None.

        The first text stating as many strengths as the product has ingredients gives them, in the
        table's order ("Targiniq 10 mg/5 mg", "Citodon 500/30 mg"; a single-ingredient product's one
        stated strength; source "text"). When no text states a strength at all, the product's only
        listed strength (source "products-table"). Anything else — a combination text with one number, a
        multi-strength product named without one — is None: not a guess.
        """
        stated_any = False
        for text in normalized_texts:
            stated = [s for s in codes.text_strengths(text) if s.unit == self.unit]
            stated_any = stated_any or bool(stated)
            if len(stated) == len(self.ingredients):
                return stated[self.main_index].value, self.unit, "text"
        if not stated_any and len(self.strengths) == 1:
            return self.strengths[0][self.main_index], self.unit, "products-table"
        return None


@dataclass(frozen=True)
class ProductsTable:
    path: str
    products: tuple[Product, ...]

    def __post_init__(self) -> None:
        by_name = {p.name: p for p in self.products}
        pattern = "|".join(re.escape(n) for n in sorted(by_name, key=len, reverse=True))
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_pattern", re.compile(rf"(?<![a-z0-9])({pattern})(?![a-z0-9])") if pattern else None)

    def find(self, normalized_text: str) -> Product | None:
        """The product named in a normalized text (the longest name, then the first), or None."""
        if self._pattern is None or not normalized_text:
            return None
        best = None
        for m in self._pattern.finditer(normalized_text):
            if best is None or len(m.group(1)) > len(best):
                best = m.group(1)
        return self._by_name[best] if best is not None else None


_TABLES: dict[str, ProductsTable] = {}


def _strengths(text: str, ingredients: int, where: str) -> tuple[tuple[float, ...], ...]:
    out = []
    for alternative in (a.strip() for a in text.split("|") if a.strip()):
        try:
            values = tuple(float(v.replace(",", ".")) for v in alternative.split("/"))
        except ValueError:
            raise ValueError(f"{where}: strength {alternative!r} is not a number") from None
        if len(values) != ingredients or any(v <= 0 for v in values):
            raise ValueError(f"{where}: strength {alternative!r} needs {ingredients} positive values, one per ingredient")
        out.append(values)
    return tuple(out)


def load_products_table(path: str | os.PathLike | None = None) -> ProductsTable:
    """The products table at ``path`` (default: ``TRAPPA_PRODUCTS_TABLE`` or the bundled table).

    Parsed once per path. A malformed table is a configuration error and raises ``ValueError`` naming
    the row (the service loads it at start-up, ``cds_service.web.app``, and does not start).
    """
    key = os.fspath(path or os.environ.get(PRODUCTS_TABLE_ENV) or DEFAULT_PRODUCTS_TABLE)
    table = _TABLES.get(key)
    if table is not None:
        return table
    products: list[Product] = []
    seen: set[str] = set()
    with open(key, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(line for line in fh if line.strip() and not line.lstrip().startswith("#"))
        missing = [c for c in _COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"products table {key}: missing columns {', '.join(missing)}")
        for n, row in enumerate(reader, start=2):
            where = f"products table {key} row {n}"
            name = codes.normalize_text((row["name"] or "").strip())
            ingredients = tuple(i.strip().lower() for i in (row["ingredients"] or "").split("/") if i.strip())
            if not name or not ingredients:
                raise ValueError(f"{where}: name and ingredients are required")
            if name in seen:
                raise ValueError(f"{where}: product {name!r} listed twice")
            seen.add(name)
            unit = (row["unit"] or "").strip()
            if unit not in (MG, UG_PER_H):
                raise ValueError(f"{where}: unit {unit!r} is neither {MG!r} nor {UG_PER_H!r}")
            try:
                form = Form((row["form"] or "").strip())
            except ValueError:
                raise ValueError(f"{where}: unknown form {row['form']!r}") from None
            atc = codes.normalize_atc((row["atc"] or "").strip())
            if atc is None:
                raise ValueError(f"{where}: ATC code {row['atc']!r} is missing or malformed")
            drug_class, ingredient = codes.classify_atc(atc)
            if ingredient not in ingredients:
                raise ValueError(f"{where}: ATC {atc} names {ingredient or 'no ingredient'}, not one of {'/'.join(ingredients)}")
            products.append(Product(
                name=name, ingredients=ingredients, strengths=_strengths(row["strengths"] or "", len(ingredients), where),
                unit=unit, form=form, atc=atc, drug_class=drug_class, ingredient=ingredient,
                source=(row["source"] or "").strip(),
            ))
    table = ProductsTable(key, tuple(products))
    _TABLES[key] = table
    return table
