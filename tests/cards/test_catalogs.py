"""The card words' catalogs are complete: every message id the cards use has a Swedish and an English
text, no catalog holds an id no code uses, both languages fill the same ``{fields}``, and the
helpers (plural forms, numbers) give the bytes the cards have always had."""
from __future__ import annotations

import string
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from cds_service.cards import words

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"text": None, "ntext": (1, 2), "N_": None}  # as ./trappa catalogs extracts them


def used_ids() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map=[("cds_service/cards/**.py", "python")], keywords=KEYWORDS):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def catalog(lang: str):
    with words.po_path(lang).open("rb") as f:
        return read_po(f, locale=lang)


def entries(lang: str) -> dict[str, tuple[str, ...]]:
    out = {}
    for m in catalog(lang):
        if m.id:
            out[m.id[0] if m.pluralizable else m.id] = tuple(m.string) if m.pluralizable else (m.string,)
    return out


def fields(s: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(s) if name}


def test_the_cards_use_some_ids_at_all():
    assert {"card.gaps", "topic.taper-plan-missing", "override.palliative"} <= used_ids()


def test_every_used_id_has_a_swedish_and_an_english_text():
    used = used_ids()
    for lang in words.LANGUAGES:
        have = entries(lang)
        missing = sorted(i for i in used if i not in have or not all(have[i]))
        assert not missing, f"{lang}: message ids without a text (./trappa catalogs, then fill msgstr): {missing}"


def test_no_catalog_holds_an_unused_id():
    used = used_ids()
    for lang in words.LANGUAGES:
        unused = sorted(set(entries(lang)) - used)
        assert not unused, f"{lang}: ids no code uses (remove them, or ./trappa catalogs drops them): {unused}"


def test_both_languages_fill_the_same_fields():
    sv, en = entries("sv"), entries("en")
    for msgid in sv.keys() & en.keys():
        assert {f for s in sv[msgid] for f in fields(s)} == {f for s in en[msgid] for f in fields(s)}, msgid


def test_no_entry_is_fuzzy():
    # gettext tools skip a fuzzy entry; the cards must not show a text a reviewer has not confirmed.
    for lang in words.LANGUAGES:
        assert not [m.id for m in catalog(lang) if m.id and m.fuzzy], lang


def test_text_fills_fields_and_falls_back_to_swedish():
    assert words.text("card.gaps", "en", gaps="x") == "**Could not be checked:** x."
    assert words.text("card.gaps", "fi", gaps="x") == "**Kunde inte kontrolleras:** x."


def test_plural_index_follows_the_catalog_header():
    # Swedish and English: gettext's "nplurals=2; plural=(n != 1)" — form 0 for one, 1 otherwise.
    for lang in words.LANGUAGES:
        assert catalog(lang).plural_expr == "(n != 1)"
        rule = words._PLURAL_FORM[lang]
        assert [words._PLURAL_INDEX[lang][rule(n)] for n in (0, 1, 2, 5)] == [1, 0, 1, 1]


def test_numbers_as_the_cards_write_them():
    assert [words.number(v, "sv") for v in (7.5, 10, 0.125, 1234.25, None, float("nan"))] == \
        ["7,5", "10", "0,12", "1234,25", "?", "?"]
    assert [words.number(v, "en") for v in (7.5, 10.0, 2.675)] == ["7.5", "10", "2.67"]  # Python's rounding of the float
    assert words.number(22.45, "sv", decimals=1) == "22,4"


def test_dates_are_iso_in_both_languages():
    from datetime import date
    assert words.day(date(2026, 3, 1), "sv") == words.day(date(2026, 3, 1), "en") == "2026-03-01"
    assert words.day(None, "sv") == "okänt datum"


def test_every_problem_code_in_the_source_has_words():
    # A code without words would read "uppgiften kunde inte tolkas" on a card: every Problem("…") the
    # mapping layer, the domain and the rules write is worded in cds_service/cards/problems.py.
    import re
    from cds_service.cards.problems import PROBLEMS
    written = set()
    for folder in ("fhir_mappings", "cds_service/domain", "cds_service/rules"):
        for path in (ROOT / folder).rglob("*.py"):
            written |= set(re.findall(r'Problem\("([a-z-]+)"', path.read_text(encoding="utf-8")))
    assert len(written) > 30
    assert sorted(written - set(PROBLEMS)) == []
    assert sorted(set(PROBLEMS) - written) == []  # and no words for a code nobody writes


def test_a_problem_reads_in_english_as_the_card_facts_always_had_it():
    from cds_service.domain.problems import Problem
    p = Problem("daily-dose-unknown", cause=Problem("unit-no-ml-strength", unit="ml"))
    assert str(p) == "daily dose unknown: unit 'ml' not convertible: strength per ml unknown"
    assert str(Problem("daily-dose-unknown", cause=None)) == "daily dose unknown: no reason given"
    assert str(Problem("dose-outside-bands", dose=0.5, unit="mg", ingredient="methadone")) == \
        "daily dose 0.5 mg outside the conversion bands for methadone"
    from cds_service.cards.problems import problem_text
    assert problem_text(Problem("dose-outside-bands", dose=0.5, unit="mg", ingredient="methadone"), "sv") == \
        "dygnsdosen 0,5 mg ligger utanför omräkningstabellens intervall för metadon"
    assert problem_text(Problem("no-conversion-factor-form", ingredient="tapentadol", form="sublingual"), "sv") == \
        "omräkningsfaktor saknas för tapentadol (sublingual)"


def test_the_catalog_headers_hold_no_babel_placeholders():
    """A translator's tool shows these fields; Babel's defaults (EMAIL@ADDRESS, FULL NAME, YEAR-MO-DA,
    LL@li.org) would say nobody owns the wording. ``./trappa catalogs`` keeps what the headers say."""
    for lang in words.LANGUAGES:
        header = words.po_path(lang).read_text(encoding="utf-8").split("\n\n", 1)[0]
        for placeholder in ("EMAIL@ADDRESS", "FULL NAME", "YEAR-MO-DA", "LL@li.org"):
            assert placeholder not in header, (lang, placeholder)
