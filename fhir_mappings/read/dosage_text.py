"""Daily dose from a Swedish free-text dosage: "1x2", "1 tablett morgon och kväll", "1+0+1",
"2 st vid behov, högst 4 per dygn", "1 depotplåster var 7:e dag".

Why: in Swedish records (Cosmic, NLL, Pascal) the dosage very often arrives as ``Dosage.text`` only
(/work/shared/docs/real-senders.md, "Swedish records"). :mod:`fhir_mappings.read.dosage` reads this module
only where a dosage line has no structured dose (no ``doseAndRate``/``doseQuantity`` and no
``maxDosePerPeriod``) — where it used to answer "dosage in free text only". The structured path is
not touched.

How: the text is normalised (lower case, å/ä/ö → a/o, number words and fractions → digits, decimal
comma → point), then cut into tokens by one table of regular expressions (:data:`_TOKENS`, compiled
once, tried in order at each position). Every character must belong to a token: a word the table does
not know ("enligt", "som tidigare", "trappas", "sedan", "i 5 dagar") leaves the whole text unread, an
honest unknown — never a guess, never 0 (clinical-rules §4). Tokens are grouped into parts, one per
stated dose ("1x2 samt 1 vid behov, högst 2 per dygn" is a regular part and an as-needed part), and
each part is resolved by the small rules of :func:`_resolve_part`.

What it recognises (the test table in ``tests/fhir/test_dosage_text.py`` lists 60+ real-looking texts):

* dose × times: "1x2", "1 x 2", "1×2", "2 x 1", "1 tabl x 2", "10 mg x 2";
* dose + frequency: "1 tablett 2 gånger dagligen", "1 tablett två ggr/dag", "1 dagligen", "20 mg/dygn",
  "1 gång i veckan";
* times of day: "1 tablett morgon och kväll", "morgon, middag och kväll", "1 till natten",
  "1 morgon och 2 till kvällen", "kl 8 och 20";
* positions morning-noon-evening[-night]: "1+0+1", "1+1+1+1", "1-0-1", "½-0-½";
* intervals: "var 4:e timme", "var 12:e timme", "varannan dag", "var 7:e dag", "var 72:e timme",
  "1 plåster/vecka";
* as needed ("vid behov", "v.b.", "vb", "vid smärta") with a daily maximum: "högst 4 per dygn",
  "max 4/dygn", "högst 4 st per dygn", "högst 3 gånger per dygn", "högst 20 mg per dygn";
* numbers as digits, "1,5", "½", "1/2", "en halv", "halv", and the words en/ett/två/tre/fyra/fem/sex …;
* units: st, tablett/tabletter/tabl/tbl, kapsel/kapslar, depottablett, dos, depotplåster/plåster,
  mg, µg/h; no unit means units of the product ("1x2" = two tablets a day).

Decisions (docs/design-notes.md, "Free-text dosage"):

* **As needed counts at its maximum** [clinical-rules §4, §10]: the stated daily maximum, else the
  rhythm ("1 vid behov var 4:e timme" = at most 6; "1x3 vid behov" = at most 3), as the structured
  path reads ``frequency`` of an as-needed dosage; the smaller when both are given. With neither
  ("1-2 vid behov") the dose is unknown: "as needed without a stated maximum".
* **"högst N per dygn"** without a unit counts units of the dose ("2 st vid behov, högst 4 per dygn"
  = at most 4 tablets); "högst N gånger/doser per dygn" counts administrations (N × the dose). After a
  dose in mg a bare N is ambiguous (4 mg or 4 doses?) and the text stays unread.
* **Ranges** ("1-2 x 3", "1 tablett 2-3 gånger dagligen"): the low end is the regular dose and the rest
  up to the high end counts as an as-needed part (``prn_part``): the MEDD limits see the maximum, as
  for a structured ``doseRange``, but a taper starts from what the patient surely takes regularly —
  never above it [RJL "Allmänna principer": never increase the dose during a taper] — and the card
  names the rest and asks for the real consumption [RJL "Praktiska tips och trix"].
* **Patches**: a patch is worn continuously, so the dose is the number worn at once × the patch
  strength in µg/h, whatever the change interval ("1 depotplåster var 7:e dag" with Norspan 10 µg/h is
  10 µg/h, as :mod:`fhir_mappings.read.dosage` treats a patch). The text must state a change rhythm of at
  most once a day; "1 plåster" alone, or "1x2" for a patch, stays unread. "Plåstret byts var 7:e dag"
  (the patch, singular) is one patch; "byts var 7:e dag" alone says not how many and stays unread.

Pure functions; :func:`read_dosage_text` is cached per distinct text (a record repeats the same text
hundreds of times, and the dose reader caches per dosage as well).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from cds_service.runtime.caches import text_cache
from fhir_mappings.codes.tables import normalize_text
from cds_service.domain.problems import Problem
from cds_service.domain.model import MG, UG_PER_H, Drug, Form

#: Units of a free-text dose: units of the product (tablets, capsules, doses), mg, patches, µg/h.
COUNT, MASS, PATCH, RATE = "count", "mg", "patch", "ug/h"

NOT_READ = Problem("free-text-only")  # the problem dosage.py has always reported for unread text
PRN_NO_MAX = Problem("prn-without-maximum")  # the structured path's problem for the same case

_MAX_TEXT = 200  # a longer text is a narrative, not one of these short patterns: left unread


@dataclass(frozen=True, slots=True)
class TextDose:
    """What a free-text dosage says, in ``unit`` (COUNT, MASS, PATCH or RATE).

    ``fixed``: the regular amount per day (None: no regular part). ``prn_max``: the as-needed maximum
    per day, including the upper part of a range (None: no as-needed part, or no maximum — then
    ``problem`` says so). ``worn``: for a single regular part taken at most once a day, the amount of
    one administration — for a patch, what is worn at once; ``change_days`` the days between changes.
    """

    unit: str
    fixed: float | None = None
    prn_max: float | None = None
    prn: bool = False
    worn: float | None = None
    change_days: float | None = None
    problem: Problem | None = None


# ---------------------------------------------------------------------------------------------
# Normalisation: one spelling for numbers, so that the token table stays small.
# ---------------------------------------------------------------------------------------------

_NUMBER_WORDS = {"en": "1", "ett": "1", "tva": "2", "tre": "3", "fyra": "4", "fem": "5", "sex": "6",
                 "sju": "7", "atta": "8", "nio": "9", "tio": "10", "elva": "11", "tolv": "12"}
_ORDINALS = {"annan": "2", "andra": "2", "tredje": "3", "fjarde": "4", "femte": "5", "sjatte": "6",
             "sjunde": "7", "attonde": "8", "tolfte": "12"}

_REWRITES: tuple[tuple[re.Pattern[str], object], ...] = (
    (re.compile(r"(\d),(\d)"), r"\1.\2"),  # decimal comma: "1,5"
    (re.compile(r"(?<![\d/])(\d+)\s+1/2(?![\d/])"), r"\1.5"),  # "1 1/2"
    (re.compile(r"(?<![\d/.])1/2(?![\d/])"), "0.5"),  # "1/2 tablett"
    (re.compile(r"\ben och en halv\b"), "1.5"),
    (re.compile(r"(?<![\d.])(\d+) och en halv\b"), r"\1.5"),
    (re.compile(r"\ben halv\b|\bhalv[ta]?\b"), "0.5"),
    (re.compile(r"\bvarannan\b"), "var 2:e"),
    (re.compile(r"\bvar (" + "|".join(_ORDINALS) + r")\b"), lambda m: f"var {_ORDINALS[m.group(1)]}:e"),
    (re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b"), lambda m: _NUMBER_WORDS[m.group(1)]),
)


def _normalise(text: str) -> str:
    # ½ and × first: NFKD (normalize_text) would turn ½ into "1⁄2" with a fraction slash.
    text = re.sub(r"(\d)\s*½", r"\1.5", text).replace("½", "0.5").replace("×", " x ").replace("*", " x ")
    s = normalize_text(text).replace("\u2013", "-").replace("\u2012", "-")
    for pattern, replacement in _REWRITES:
        s = pattern.sub(replacement, s)
    return s


# ---------------------------------------------------------------------------------------------
# The token table. Tried in order at each position; the first that matches wins. Every pattern ends
# at a word or number boundary. Spellings are normalised (no diacritics): "gånger" is "ganger".
# ---------------------------------------------------------------------------------------------

_NUM = r"\d+(?:\.\d+)?"
_END = r"(?![a-z0-9])"
# Units: longest spellings first; typos seen in records ("tablettr", "tabeletter", "kapsyl").
_COUNT_UNITS = (r"depottabletter|depottablett|depottabl\.?|tabletterna|tabletter|tabletten|tabletts?|tablettr"
                r"|tabeletter|tabelett|tablet|tabl\.?|tbl\.?|tabs|tab\.?|depotkapslar|depotkapsel|kapslar|kapseln"
                r"|kapsel|kapsyl|kaps\.?|resoribletter|resoriblett|sugtabletter|sugtablett|brustabletter"
                r"|brustablett|stycken|stycke|styck|stk|st\.?|doser|dosen|dos")
_PATCH_UNITS = r"depotplastret|depotplaster|depotplast|plastret|plastren|plaster|patch"
_RATE_UNITS = r"(?:ug|mikrog(?:ram)?|mcg)\s*/\s*(?:h|tim(?:me|ma)?)"
_MASS_UNITS = r"mg|milligram"
_UNIT_ALT = rf"(?:{_RATE_UNITS}|{_MASS_UNITS}|{_PATCH_UNITS}|{_COUNT_UNITS}){_END}"
_UNIT = rf"(?P<u>{_UNIT_ALT})"
_NUM_END = r"(?!\d|\.\d)"  # a number ends here: "1x2." is 1 × 2, "1x2.5" is not 1 × 2
# An hour of the clock, not followed by a unit: in "kl 8 och 1 tablett kl 20" the 1 is a dose.
_CLOCK_TIME = rf"\d{{1,2}}(?:[.:]\d{{2}})?(?!\d)(?!\s*{_UNIT_ALT})"
_UNIT_KIND = ((re.compile(rf"^(?:{_RATE_UNITS})$"), RATE), (re.compile(rf"^(?:{_MASS_UNITS})$"), MASS),
              (re.compile(rf"^(?:{_PATCH_UNITS})$"), PATCH))

_TIMES = r"ganger|gangar|gnger|gang|ggr|gg"  # "2 gånger", "2 ggr"
_PER_DAY = r"dagligen|daglien|dagligt|daglig|dagl\.?|dgl\.?|dagen|dag|dygnet|dygn|d|24\s*(?:h|tim(?:mar)?|timmar)"
_PER_WEEK = r"veckan|vecka|v"
_TIME_OF_DAY = (r"eftermiddagen|eftermiddag|formiddagen|formiddag|middagen|middag|lunchen|lunch|morgonen|morgon"
                r"|morg\.?|kvallen|kvalls|kvall|natten|natt|sangdags|sanggaendet|fm|em")
_TOD_WORD = rf"(?:(?:pa|till|vid|mot)\s+)?(?:{_TIME_OF_DAY}){_END}"
_JOIN = r"\s*(?:,|och|o|&|\+|/|samt|resp\.?)?\s*"

_MAX_HEAD = (r"(?:dock\s+)?(?:hogst|max(?:imalt|imum)?\.?|upp\s+till|som\s+mest|ej\s+mer\s+an|inte\s+mer\s+an"
             r"|tidigast)")
_MAX_TIMES = r"ganger|gangar|gang|ggr|gg|doser|dostillfallen|tillfallen"

_TOKENS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((kind, re.compile(pattern)) for kind, pattern in (
    # as needed: "vid behov", "v.b.", "vb", "vid smärta" (a dose when in pain is an as-needed dose)
    ("prn", r"(?:(?:vid|efter)\s+behov|v\.\s*b\.?|vb|vid\s+(?:svar\s+|genombrotts)?(?:smarta|smartor|vark|ont))"
            + _END),
    # "max dygnsdos 8 st", "högsta dygnsdos 8 tabletter": a maximum per day, no "per dygn" needed
    ("max", r"(?:max(?:imal)?\.?\s*|hogsta\s+)dygnsdos\s*(?:ar\s+)?(?P<n>" + _NUM + r")\s*"
            + rf"(?:(?P<t>{_MAX_TIMES}){_END}|{_UNIT})?"),
    # "högst 4 per dygn", "max 4/dygn", "högst 4 st per dygn", "högst 3 gånger per dygn", "max 20 mg/d"
    ("max", _MAX_HEAD + r"\s*(?P<n>" + _NUM + r")\s*" + rf"(?:(?P<t>{_MAX_TIMES}){_END}|{_UNIT})?\s*"
            + rf"(?:(?:per|/|om|i|pa)\s*)?(?:{_PER_DAY}){_END}"),
    # "högst var 4:e timme": the interval that follows is a minimum, i.e. a maximum per day
    ("filler", _MAX_HEAD + r"(?=\s+var)"),
    # "kl 8 och 20", "kl. 08.00, 14.00 och 20.00"
    ("clock", rf"(?:kl\.?|klockan)\s*(?P<c>{_CLOCK_TIME}(?:{_JOIN}(?:(?:kl\.?|klockan)\s*)?{_CLOCK_TIME})*)"),
    # "var 4:e timme", "var 7:e dag", "var 72:a timme", "var 3 dygn", "varje dag"
    ("interval", r"var(?:je)?\s*(?P<n>" + _NUM + r")?\s*(?::\s*(?:e|a|de|dje|te)|e|a)?\s*"
                 r"(?P<p>timmar|timme|timma|tim|t|h|dagar|dag|dygnet|dygn|veckor|veckan|vecka|v)" + _END),
    # "1 plåster/vecka", "per vecka", "i veckan"
    ("interval", rf"(?:/|per|i|om)\s*(?P<p>{_PER_WEEK}){_END}"),
    # positions morning+noon+evening[+night]: "1+0+1", "1-0-1", "1+1+1+1" (two with "+": morning+evening)
    ("positions", rf"(?P<pos>{_NUM}(?:\s*\+\s*{_NUM}){{1,3}}|{_NUM}(?:\s*-\s*{_NUM}){{2,3}}){_NUM_END}\s*(?:{_UNIT})?"),
    # dose × times: "1x2", "1 tabl x 2", "1-2 x 3", "10 mg x 2", "1 x 2 st", "1 x 2 ggr"
    ("times", rf"(?P<a>{_NUM})(?:\s*-\s*(?P<a2>{_NUM}))?\s*(?:(?P<u1>{_UNIT_ALT})\s*)?x\s*(?P<b>{_NUM})"
              rf"(?:\s*-\s*(?P<b2>{_NUM}))?{_NUM_END}(?:\s*(?:{_TIMES}){_END})?(?:\s*(?P<u2>{_UNIT_ALT}))?"),
    # "2 gånger dagligen", "2-3 ggr/dag", "2x/dygn", "1 gång i veckan"
    ("frequency", rf"(?P<n>{_NUM})(?:\s*-\s*(?P<n2>{_NUM}))?\s*(?:{_TIMES}|x){_END}\s*(?:(?:per|/|om|i|pa)\s*)?"
                  rf"(?:(?P<w>{_PER_WEEK})|{_PER_DAY}){_END}"),
    # "dagligen", "per dag", "/dygn", "om dagen"
    ("daily", rf"(?:dagligen|daglien|dagligt|daglig|dagl\.?|dgl\.?){_END}|(?:per|/|om|i)\s*(?:{_PER_DAY}){_END}"),
    # "morgon och kväll", "morgon, middag och kväll", "till natten", "fm och em"
    ("times_of_day", rf"(?P<tod>{_TOD_WORD}(?:{_JOIN}{_TOD_WORD})*)"),
    # a dose: "1", "1.5", "1-2", "2 st", "10 mg", "10 mikrogram/timme"
    ("dose", rf"(?P<n>{_NUM})(?:\s*-\s*(?P<n2>{_NUM}))?{_NUM_END}\s*(?:{_UNIT})?"),
    ("unit", _UNIT),
    # words that say nothing about the amount
    ("filler", r"(?:extra|ytterligare|tas|ta|tar|tages|intas|ges|ge|appliceras|applicera|satts\s+pa|satts|satt"
               r"|klistras|byts\s+ut|byts|byt|bytes|ett\s+nytt|nytt|nya|ny|mot\s+(?:smarta|smartor|vark|ont)"
               r"|regelbundet|fast|fasta|dosering|dagtid|peroralt|po|oralt|pa\s+huden|med\s+vatten|eventuellt"
               r"|ev\.?|dock|smartstillande)" + _END),
    ("sep", r"[,;.!?()\[\]/+&:-]|(?:samt|och|o|plus|resp\.?)" + _END),
))
_SPACE = re.compile(r"\s+")
_TOD_CORE = re.compile(rf"(?<![a-z])(?:{_TIME_OF_DAY})(?![a-z])")
_CLOCK = re.compile(_CLOCK_TIME)


@dataclass(slots=True)
class _Token:
    kind: str
    lo: float | None = None  # dose or maximum; low end of a range
    hi: float | None = None  # high end (= lo without a range)
    unit: str | None = None  # COUNT, MASS, PATCH, RATE; None: not stated
    per_lo: float | None = None  # administrations per day this token states (a rhythm)
    per_hi: float | None = None
    per_day_total: bool = False  # positions: the dose is already per day
    times: bool = False  # a maximum counted in administrations ("högst 3 gånger per dygn")
    one: bool = False  # "plåstret": the patch, one


def _unit_of(word: str | None) -> str | None:
    if not word:
        return None
    for pattern, kind in _UNIT_KIND:
        if pattern.match(word):
            return kind
    return COUNT


def _numbers(lo: str, hi: str | None) -> tuple[float, float]:
    a = float(lo)
    b = float(hi) if hi else a
    return (a, b) if a <= b else (b, a)


def _token(kind: str, m: re.Match[str]) -> _Token | None:
    g = m.groupdict()
    if kind in ("prn", "filler", "sep"):
        return _Token(kind)
    if kind == "max":
        return _Token("max", lo=float(g["n"]), hi=float(g["n"]), unit=_unit_of(g.get("u")), times=bool(g.get("t")))
    if kind == "clock":
        hours = [float(re.split(r"[.:]", t)[0]) for t in _CLOCK.findall(g["c"])]
        if any(h > 24 for h in hours):
            return None
        return _Token("rhythm", per_lo=len(hours), per_hi=len(hours))
    if kind == "interval":
        n = float(g["n"]) if g.get("n") else 1.0
        p = g["p"]
        days = n / 24.0 if p[0] in "th" else n * 7.0 if p[0] == "v" else n
        if days <= 0:
            return None
        return _Token("rhythm", per_lo=1.0 / days, per_hi=1.0 / days)
    if kind == "positions":
        amounts = [float(x) for x in re.split(r"[+-]", _SPACE.sub("", g["pos"]))]
        return _Token("dose", lo=sum(amounts), hi=sum(amounts), unit=_unit_of(g.get("u")), per_lo=1.0, per_hi=1.0,
                      per_day_total=True)
    if kind == "times":
        a_lo, a_hi = _numbers(g["a"], g.get("a2"))
        b_lo, b_hi = _numbers(g["b"], g.get("b2"))
        u1, u2 = _unit_of(g.get("u1")), _unit_of(g.get("u2"))
        if u1 and u2 and u1 != u2:
            return None
        return _Token("dose", lo=a_lo, hi=a_hi, unit=u1 or u2, per_lo=b_lo, per_hi=b_hi)
    if kind == "frequency":
        lo, hi = _numbers(g["n"], g.get("n2"))
        days = 7.0 if g.get("w") else 1.0
        return _Token("rhythm", per_lo=lo / days, per_hi=hi / days)
    if kind == "daily":
        return _Token("daily", per_lo=1.0, per_hi=1.0)
    if kind == "times_of_day":
        count = len(_TOD_CORE.findall(g["tod"]))
        return _Token("rhythm", per_lo=count, per_hi=count)
    if kind == "dose":
        lo, hi = _numbers(g["n"], g.get("n2"))
        return _Token("dose", lo=lo, hi=hi, unit=_unit_of(g.get("u")))
    if kind == "unit":
        return _Token("unit", unit=_unit_of(g["u"]), one=g["u"] in ("plastret", "depotplastret"))
    return None  # pragma: no cover - every kind of the table is handled above


def _scan(s: str) -> list[_Token] | None:
    """The tokens of ``s``, or None when some part of it is not in the table."""
    tokens: list[_Token] = []
    pos, end = 0, len(s)
    while pos < end:
        if s[pos] == " ":
            pos += 1
            continue
        for kind, pattern in _TOKENS:
            m = pattern.match(s, pos)
            if m and m.end() > pos:
                token = _token(kind, m)
                if token is None:
                    return None
                if token.kind != "filler":
                    tokens.append(token)
                pos = m.end()
                break
        else:
            return None
    return tokens


# ---------------------------------------------------------------------------------------------
# Parts: one per stated dose, with what is said about it.
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Part:
    dose: _Token | None = None
    rhythms: list[_Token] | None = None
    prn: bool = False
    max: _Token | None = None
    unit_word: _Token | None = None


def _parts(tokens: list[_Token]) -> list[_Part] | None:
    """Group the tokens: each dose opens a part. What follows a dose belongs to it; what follows a
    separator belongs to the next dose ("1x2, vid behov 1 extra"), or to the last one when no dose
    follows ("2 st vid behov, högst 4 per dygn")."""
    parts: list[_Part] = []
    pending: list[_Token] = []
    current: _Part | None = None
    after_sep = False

    def attach(part: _Part, token: _Token) -> bool:
        if token.kind == "prn":
            part.prn = True
        elif token.kind == "max":
            if part.max is not None:
                return False
            part.max = token
        elif token.kind in ("rhythm", "daily"):
            part.rhythms = (part.rhythms or []) + [token]
        elif token.kind == "unit":
            part.unit_word = token
        return True

    for token in tokens:
        if token.kind == "sep":
            after_sep = True
            continue
        if token.kind == "dose":
            current = _Part(dose=token)
            parts.append(current)
            for p in pending:
                if not attach(current, p):
                    return None
            pending, after_sep = [], False
            continue
        if current is None or after_sep:
            pending.append(token)
        elif not attach(current, token):
            return None
    if pending:
        if current is None:
            current = _Part()
            parts.append(current)
        for p in pending:
            if not attach(current, p):
                return None
    return parts


@dataclass(slots=True)
class _Resolved:
    unit: str
    fixed: float | None  # regular amount per day (low end of a range)
    extra: float  # as-needed amount per day: an as-needed part's maximum, or a range's upper part
    prn: bool  # an as-needed part (not merely a range)
    unbounded: bool  # as needed without a maximum
    worn: float | None
    change_days: float | None


def _rhythm(part: _Part) -> tuple[float, float] | None | bool:
    """(per day low, high); None when no rhythm is stated; False when the rhythms disagree."""
    stated = list(part.rhythms or [])
    if part.dose is not None and part.dose.per_lo is not None:
        if part.dose.per_day_total and any(r.kind != "daily" for r in stated):
            return False  # "1+0+1 morgon och kväll": positions and times of day at once
        stated.append(part.dose)
    if len(stated) > 1:
        stated = [r for r in stated if r.kind != "daily"] or stated[:1]  # "1x2 dagligen": redundant
    values = {(r.per_lo, r.per_hi) for r in stated}
    if not values:
        return None
    if len(values) > 1:
        return False
    return values.pop()


def _resolve_part(part: _Part) -> _Resolved | None:
    rhythm = _rhythm(part)
    if rhythm is False:
        return None
    dose = part.dose
    unit = (dose.unit if dose is not None else None) or (part.unit_word.unit if part.unit_word else None)
    if dose is not None:
        d_lo, d_hi = dose.lo, dose.hi
    elif part.unit_word is not None and part.unit_word.one:
        d_lo = d_hi = 1.0  # "plåstret byts var 7:e dag": the patch, one
    else:
        d_lo = d_hi = None
    cap = None
    if part.max is not None:
        m = part.max
        if m.times:
            if d_hi is None:
                return None  # "högst 3 gånger per dygn" of a dose not stated
            cap = d_hi * m.lo
        elif m.unit is not None:
            if unit is not None and m.unit != unit:
                return None  # a dose in tablets, a maximum in mg: not comparable without the strength
            unit = m.unit
            cap = m.lo
        else:
            if unit == MASS:
                return None  # "5 mg vid behov, högst 4 per dygn": 4 mg or 4 doses?
            cap = m.lo
    unit = unit or COUNT
    if part.prn:
        candidates = [x for x in (cap, d_hi * rhythm[1] if d_hi is not None and rhythm else None) if x is not None]
        if not candidates:
            return _Resolved(unit, None, 0.0, True, True, None, None)
        amount = min(candidates)
        return None if amount <= 0 else _Resolved(unit, None, amount, True, False, None, None)
    if d_lo is None or rhythm is None:
        return None  # a regular dose needs both how much and how often
    lo, hi = d_lo * rhythm[0], d_hi * rhythm[1]
    if cap is not None:
        lo, hi = min(lo, cap), min(hi, cap)
    if lo <= 0:
        return None  # "0+0+0" says nothing; never a dose of 0
    # Taken at most once a day, one amount: for a patch, what is worn at once. Not for positions
    # ("1+0+1" is two administrations a day, whatever its per-day total says).
    once = (rhythm[1] <= 1.0 and d_lo == d_hi and rhythm[0] == rhythm[1]
            and not (dose is not None and dose.per_day_total))
    return _Resolved(unit, lo, hi - lo, False, False, d_hi if once else None, 1.0 / rhythm[1] if once else None)


def _read(text: str) -> TextDose | None:
    if not isinstance(text, str) or len(text) > _MAX_TEXT:
        return None
    tokens = _scan(_normalise(text))
    if not tokens:
        return None
    parts = _parts(tokens)
    if not parts:
        return None
    resolved = [_resolve_part(p) for p in parts]
    if any(r is None for r in resolved):
        return None
    units = {r.unit for r in resolved}
    if len(units) != 1:
        return None  # "1x2 samt 5 mg vid behov": two units, not added without the strength
    unit = units.pop()
    regular = [r for r in resolved if r.fixed is not None]
    prn = any(r.prn for r in resolved)
    extra = round(sum(r.extra for r in resolved), 6)
    fixed = round(sum(r.fixed for r in regular), 6) if regular else None
    if any(r.unbounded for r in resolved):
        return TextDose(unit, fixed, None, True, problem=PRN_NO_MAX)
    worn = change = None
    if len(resolved) == 1 and regular and regular[0].worn is not None:
        worn, change = regular[0].worn, regular[0].change_days
    return TextDose(unit, fixed, extra if (prn or extra > 0) else None, prn or extra > 0, worn, change)


@text_cache(maxsize=2048)
def read_dosage_text(text: str) -> TextDose | None:
    """What the free-text dosage ``text`` says, or None when it is not one of the recognised patterns
    (the caller reports "dosage in free text only"). Cached per text; never raises."""
    try:
        return _read(text)
    except (ValueError, OverflowError, ZeroDivisionError):  # a number no float holds: unread
        return None


# ---------------------------------------------------------------------------------------------
# To the model's units: mg per day, or µg/h worn for a patch.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FreeTextReading:
    """A free-text dosage in the units of :class:`~cds_service.domain.model.DailyDose`."""

    amount: float | None  # mg/day, or µg/h worn; None: unknown (``problem`` says why)
    unit: str | None  # MG or UG_PER_H
    prn: bool
    prn_part: float | None = None  # as DailyDose.prn_part: the as-needed share of a mixed dose
    problem: Problem | None = None


def daily_from_text(text: str, drug: Drug, as_needed: bool = False) -> FreeTextReading:
    """The daily dose a free-text dosage gives for ``drug``: units × the product's strength per unit
    (mg per tablet, µg/h per patch), or mg as written. ``as_needed``: the dosage is marked as needed
    in its structured part (``asNeededBoolean``), so all of it counts as the as-needed maximum."""
    td = read_dosage_text(text) if isinstance(text, str) else None
    if td is None:
        return FreeTextReading(None, None, as_needed, problem=NOT_READ)
    prn = as_needed or td.prn
    if td.problem:
        return FreeTextReading(None, None, prn, problem=td.problem)
    patch_drug = drug.form is Form.PATCH or drug.strength_unit == UG_PER_H
    if patch_drug or td.unit in (PATCH, RATE):
        # A patch is worn continuously: the dose is what is worn at once, whatever the change interval.
        if td.unit == MASS:
            return FreeTextReading(None, None, prn, problem=Problem("patch-dose-as-mass"))
        if td.worn is None or prn or (not patch_drug and td.unit == PATCH and drug.strength_unit is not None):
            return FreeTextReading(None, None, prn, problem=NOT_READ)
        if td.unit == RATE:
            return FreeTextReading(round(td.worn, 6), UG_PER_H, False)
        if drug.strength is None:
            return FreeTextReading(None, None, False, problem=Problem("strength-unknown"))
        return FreeTextReading(round(td.worn * drug.strength, 6), UG_PER_H, False)
    if td.unit == COUNT:
        if drug.strength is None:
            return FreeTextReading(None, None, prn, problem=Problem("strength-unknown"))
        if drug.strength_unit != MG:
            return FreeTextReading(None, None, prn, problem=NOT_READ)  # a liquid: tablets say nothing
        per_unit = drug.strength
    else:
        per_unit = 1.0
    fixed = (td.fixed or 0.0) * per_unit
    extra = (td.prn_max or 0.0) * per_unit
    total = round(fixed + extra, 6)
    if total <= 0:
        return FreeTextReading(None, None, prn, problem=NOT_READ)
    if as_needed or td.fixed is None:
        return FreeTextReading(total, MG, prn)
    return FreeTextReading(total, MG, prn, round(extra, 6) if extra > 0 else None)
