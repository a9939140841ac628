"""The cards' words: gettext message catalogs (``locale/<lang>/LC_MESSAGES/trappa.po``) read through Babel.

A message id is a symbolic name (``gap.conditions``, ``topic.taper-plan-missing``), not the English text:
the Swedish and the English catalogs are both wording a region's clinicians review and change, and
neither language's edit renames the other's entry. Parameters are ``str.format`` fields (``{name}``).

The ``.po`` files are parsed once, when this module is imported (at a worker's start-up, a few ms),
rather than compiled ``.mo`` files committed beside them: one file per language to review and diff,
nothing generated to keep current. A call then costs a dict lookup and, with parameters, a
``str.format``.

Numbers use the locale's decimal sign from Babel's locale data (CLDR), taken once at import; the
digits themselves are rounded and written by Python, as the cards always wrote them (no grouping of
thousands, an ASCII minus: card numbers are doses, small and rarely negative). Dates are ISO
(``2026-03-01``) in both languages, the way Swedish records write them; Babel's ``format_date`` with
an explicit pattern would give the same bytes at ten times the cost.

Keep every id a literal at its call (``text("…")``, ``ntext("…", "…", n)``, ``N_("…")`` for ids
picked from a table) so ``pybabel extract`` finds it; ``./trappa catalogs`` extracts and updates the
catalogs, and tests/cards/test_catalogs.py fails on an id without a Swedish or an English text and on
one that no code uses.
"""
from __future__ import annotations

import math
from datetime import date
from pathlib import Path

from babel import Locale
from babel.plural import PluralRule
from babel.messages.pofile import read_po

DOMAIN = "trappa"
LANGUAGES = ("sv", "en")
LOCALE_DIR = Path(__file__).with_name("locale")


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def _load(lang: str) -> tuple[dict[str, str], dict[str, tuple[str, ...]], Locale]:
    with po_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    singular: dict[str, str] = {}
    plural: dict[str, tuple[str, ...]] = {}
    for message in catalog:
        msgid, string = message.id, message.string
        if not msgid:
            continue  # the header
        if isinstance(msgid, (tuple, list)):
            plural[msgid[0]] = tuple(string or ())
        else:
            singular[msgid] = string if isinstance(string, str) else ""
    assert catalog.locale is not None  # read_po was given the language
    return singular, plural, catalog.locale


_SINGULAR: dict[str, dict[str, str]] = {}
_PLURAL: dict[str, dict[str, tuple[str, ...]]] = {}
_PLURAL_FORM: dict[str, PluralRule] = {}
_DECIMAL: dict[str, str] = {}
for _lang in LANGUAGES:
    _SINGULAR[_lang], _PLURAL[_lang], _locale = _load(_lang)
    _PLURAL_FORM[_lang] = _locale.plural_form
    _DECIMAL[_lang] = _locale.number_symbols["latn"]["decimal"]

# A CLDR plural tag → its gettext form index: the tags the language's rule uses, in CLDR's order (what
# ``babel.plural.to_gettext`` writes into a catalog's Plural-Forms header).
_CLDR_ORDER = ("zero", "one", "two", "few", "many", "other")
_PLURAL_INDEX = {
    lang: {tag: i for i, tag in enumerate(t for t in _CLDR_ORDER if t in Locale.parse(lang).plural_form.tags | {"other"})}
    for lang in LANGUAGES
}


def N_(msgid: str) -> str:
    """Marks an id for extraction where the id is stored (a table of codes) and worded later."""
    return msgid


def text(msgid: str, lang: str, **params: object) -> str:
    """The message ``msgid`` in ``lang`` (Swedish when ``lang`` has none), its ``{fields}`` filled."""
    words = _SINGULAR.get(lang) or _SINGULAR["sv"]
    s = words.get(msgid) or _SINGULAR["sv"].get(msgid, msgid)
    return s.format(**params) if params else s


def ntext(singular: str, plural: str, n: int, lang: str, **params: object) -> str:
    """gettext's ``ngettext``: the form of ``singular`` for the count ``n`` by the language's plural
    rule (CLDR, through Babel); ``{n}`` is filled with the count. ``plural`` names the same entry's
    plural form, as gettext writes it, so ``pybabel extract`` records both."""
    if lang not in _PLURAL:
        lang = "sv"
    forms = _PLURAL[lang].get(singular)
    if not forms:
        return singular
    s = forms[min(_PLURAL_INDEX[lang][_PLURAL_FORM[lang](n)], len(forms) - 1)]
    return s.format(n=n, **params)


def number(value: float | None, lang: str, *, decimals: int = 2) -> str:
    """``7.5`` → ``"7,5"`` (sv) / ``"7.5"`` (en); whole numbers without decimals; None or NaN → "?"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "?"
    rounded = round(float(value), decimals)
    if rounded == int(rounded):
        return str(int(rounded))
    digits = f"{rounded:.{decimals}f}".rstrip("0").rstrip(".")
    sign = _DECIMAL.get(lang, ".")
    return digits if sign == "." else digits.replace(".", sign)


def decimal_sign(lang: str) -> str:
    """The language's decimal sign (CLDR): "," in Swedish, "." in English."""
    return _DECIMAL.get(lang, ".")


def day(value: date | None, lang: str) -> str:
    """A date as the cards write it (ISO); unknown → the language's "unknown date"."""
    if value is None:
        return text("date.unknown", lang)
    return value.isoformat()
