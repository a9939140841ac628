"""The planner's words, Swedish first and English second (the cards' language rule), in the guidelines'
own terms: nedtrappning, dygnsdos, dos-steg, depotberedning, förskrivningsrestriktion."""
from __future__ import annotations

from cds_service.domain import taper as engine
from cds_service.domain import taper_plan_inputs as plan

LANGS = ("sv", "en")

LINK_LABEL = {
    "sv": "Planera nedtrappningen med patienten (schema, utskrift, överenskommelse)",
    "en": "Plan the taper with the patient (schedule, print-out, agreement)",
}

PACES = {
    "fast": {"sv": "Snabb – cirka 10 % var tredje dag", "en": "Fast – about 10 % every third day"},
    "weekly": {"sv": "Långsam – 10 % per vecka ned till 30 %, sedan 5 % per vecka",
               "en": "Slow – 10 % a week down to 30 %, then 5 % a week"},
    "slow": {"sv": "Mycket långsam – cirka 10 % var fjärde vecka", "en": "Very slow – about 10 % every fourth week"},
    "tramadol": {"sv": "Tramadol – 4 veckor på varje dos-steg", "en": "Tramadol – 4 weeks on every dose step"},
    "custom": {"sv": "Egen takt", "en": "Own pace"},
}

TIMES = {
    "sv": {1: ("en gång dagligen",), 2: ("morgon", "kväll"), 3: ("morgon", "mitt på dagen", "kväll"),
           4: ("morgon", "lunch", "eftermiddag", "kväll")},
    "en": {1: ("once daily",), 2: ("morning", "evening"), 3: ("morning", "midday", "evening"),
           4: ("morning", "noon", "afternoon", "evening")},
}
TIME_CODES = {1: ("day",), 2: ("morning", "evening"), 3: ("morning", "midday", "evening"),
              4: ("morning", "noon", "afternoon", "evening")}

# Warnings the planner shows: the engine's (cds_service/domain/taper.py) and the planner's own limits
# (cds_service/domain/taper_plan_inputs.py). {long} is the half-year setting in days.
WARNINGS = {
    engine.W_LONG: {
        "sv": "Längre än ett halvår ({long} dagar): en alltför utdragen nedtrappning ger onödigt lidande – "
              "överväg snabbare takt.",
        "en": "Longer than half a year ({long} days): an overly drawn-out taper causes needless suffering – "
              "consider a faster pace.",
    },
    engine.W_NO_DEPOT: {
        "sv": "Depotberedning saknas för denna opioid; schemat använder beredning med direkt frisättning.",
        "en": "No depot formulation of this opioid; the schedule uses an immediate-release product.",
    },
    engine.W_START_ROUNDED: {
        "sv": "Dygnsdosen kan inte ges exakt med valda styrkor; första steget är närmaste lägre dos.",
        "en": "The daily dose cannot be given exactly with the chosen strengths; the first step is the "
              "nearest lower dose.",
    },
    engine.W_MEDD_UNKNOWN: {
        "sv": "MEDD kunde inte beräknas för alla steg.",
        "en": "MEDD could not be computed for every step.",
    },
    engine.W_ACUTE: {
        "sv": "Kort användning: opioiden kan ofta sättas ut direkt; schemat är det snabba alternativet.",
        "en": "Short use: the opioid can often be stopped at once; the schedule is the fast alternative.",
    },
    plan.W_FASTER_THAN_GUIDELINE: {
        "sv": "Snabbare än riktlinjens snabbaste takt (cirka 10 % av dygnsdosen varannan till var tredje dag).",
        "en": "Faster than the guideline's fastest pace (about 10 % of the daily dose every second to third day).",
    },
    plan.W_FASTER_THAN_RECOMMENDED: {
        "sv": "Efter mer än cirka 3 månaders användning rekommenderas långsam nedtrappning, cirka 10 % per vecka.",
        "en": "After more than about 3 months of use a slow taper is recommended, about 10 % a week.",
    },
    plan.W_STEP_ABOVE_GUIDELINE: {
        "sv": "Större dos-steg än riktlinjens ungefär 10 % av dygnsdosen.",
        "en": "Larger dose steps than the guideline's about 10 % of the daily dose.",
    },
    plan.W_SLOWER_THAN_GUIDELINE: {
        "sv": "Långsammare än riktlinjens långsammaste takt (cirka 10 % var fjärde vecka).",
        "en": "Slower than the guideline's slowest pace (about 10 % every fourth week).",
    },
    plan.W_TRAMADOL_SHORT_STEPS: {
        "sv": "Tramadol: riktlinjen föreslår 4 veckor på varje dos-steg (serotonerga utsättningsbesvär).",
        "en": "Tramadol: the guideline suggests 4 weeks on every dose step (serotonergic withdrawal).",
    },
}

# Why no schedule can be made (400), by the engine's warning code.
NO_SCHEDULE = {
    engine.W_BELOW_SMALLEST: {
        "sv": "dygnsdosen är lägre än minsta tillgängliga styrka – opioiden kan sättas ut direkt",
        "en": "the daily dose is below the smallest available strength – the opioid can be stopped at once",
    },
    engine.W_IMPLAUSIBLE: {
        "sv": "dygnsdosen är orimligt hög – kontrollera ordinationen",
        "en": "the daily dose is implausibly high – check the prescription",
    },
    engine.W_NO_STRENGTHS: {"sv": "inga användbara styrkor", "en": "no usable strengths"},
    engine.W_UNIT_MISMATCH: {"sv": "dosens enhet passar inte styrketabellen",
                             "en": "the dose unit does not match the strengths table"},
    engine.W_NO_DOSE: {"sv": "ingen dygnsdos", "en": "no daily dose"},
    engine.W_ADMINISTRATIONS: {"sv": "för många dostillfällen per dygn", "en": "too many doses a day"},
}

#: The page of a SMART launch the service refuses; the reason (English, technical) is shown below it.
LAUNCH_REFUSED = {
    "sv": ("Planeraren kunde inte startas från journalen",
           "Journalsystemets inloggning till nedtrappningsplaneraren kunde inte slutföras. Öppna planeraren "
           "på nytt från kortet; kvarstår felet, kontakta systemförvaltningen."),
    "en": ("The planner could not be launched from the record",
           "The record system's sign-in to the taper planner could not be completed. Open the planner again "
           "from the card; if it persists, contact the system administrators."),
}

NOT_FOUND = {
    "sv": ("Planeringen finns inte eller har gått ut",
           "Länken till nedtrappningsplaneraren är okänd eller äldre än {hours} timmar. Öppna planeraren "
           "på nytt från kortet i journalen – då görs ett nytt förslag från dagens ordinationer."),
    "en": ("The plan does not exist or has expired",
           "The link to the taper planner is unknown or older than {hours} hours. Open the planner again "
           "from the card in the record – a new proposal is then made from today's orders."),
}


def t(table: dict, lang: str) -> str:
    return table.get(lang) or table["sv"]


# The page's words (templates/planner/page.html and static/planner.js get them from here).
PAGE = {
    "sv": {
        "title": "Nedtrappningsplanerare",
        "subtitle": "Planera nedtrappningen tillsammans med patienten – schema, utskrift och överenskommelse.",
        "skip": "Hoppa till schemat",
        "loading": "Hämtar schemat …",
        "noscript": "Planeraren behöver JavaScript för att räkna om schemat. Schemat finns också på kortet i journalen.",
        "failed": "Schemat kunde inte beräknas",
        "untrusted": "Svaret från tjänsten kunde inte läsas – inget schema visas.",
        "controls": "Anpassa schemat",
        "product": "Läkemedel och styrkor",
        "product_label": "Beredning",
        "strengths": "Styrkor att trappa med",
        "start_dose": "Startdos",
        "start_dose_hint": "Högst dagens dos, {max} – dosen ökas aldrig.",
        "start_date": "Startdatum",
        "pace": "Nedtrappningstakt",
        "custom_percent": "Minskning per steg (% av startdosen)",
        "custom_days": "Dagar per steg",
        "split": "Fördelning över dygnet",
        "split_evening": "Större dos på kvällen",
        "split_morning": "Större dos på morgonen",
        "follow_up": "Nästa uppföljning",
        "warnings": "Att tänka på",
        "chart": "Diagram",
        "table": "Schema",
        "summary": "{start} → 0 på {steps} steg, sista dosen {last}, slut {end}.",
        "hold": "Förläng",
        "hold_label": "Förläng steg {n} med {days} dagar",
        "hold_hint": "Blir abstinensen för jobbig kan steget förlängas någon extra vecka – dosen ökas aldrig.",
        "undo_holds": "Ta bort förlängningarna",
        "holds_cleared": "Förlängningarna togs bort eftersom stegen ändrades.",
        "held": "förlängt {days} d",
        "actions": "Skriv ut och spara",
        "print": "Skriv ut",
        "pdf": "Ladda ned PDF",
        "bundle": "Ladda ned FHIR-bundle",
        "save": "Spara i journalen",
        "saved": "Sparat i journalen: {what}.",
        "save_failed": "Kunde inte spara i journalen",
        "print_note": "Utskriften (schema, överenskommelse, VAS och ambivalenskors) är på svenska för patienten.",
        "thirty": "30 % av startdosen nås {date} (steg {step}).",
        "six": "Ett halvår från start: {date}.",
    },
    "en": {
        "title": "Taper planner",
        "subtitle": "Plan the taper together with the patient – schedule, print-out and agreement.",
        "skip": "Skip to the schedule",
        "loading": "Fetching the schedule …",
        "noscript": "The planner needs JavaScript to recompute the schedule. The schedule is also on the card in the record.",
        "failed": "The schedule could not be computed",
        "untrusted": "The service's answer could not be read – no schedule is shown.",
        "controls": "Adjust the schedule",
        "product": "Medicine and strengths",
        "product_label": "Product",
        "strengths": "Strengths to taper with",
        "start_dose": "Start dose",
        "start_dose_hint": "At most today's dose, {max} – the dose is never raised.",
        "start_date": "Start date",
        "pace": "Pace",
        "custom_percent": "Cut per step (% of the start dose)",
        "custom_days": "Days per step",
        "split": "Split over the day",
        "split_evening": "Larger dose in the evening",
        "split_morning": "Larger dose in the morning",
        "follow_up": "Next follow-up",
        "warnings": "Keep in mind",
        "chart": "Chart",
        "table": "Schedule",
        "summary": "{start} → 0 in {steps} steps, last dose {last}, ends {end}.",
        "hold": "Extend",
        "hold_label": "Extend step {n} by {days} days",
        "hold_hint": "If withdrawal is too hard, a step can be extended by a week or more – the dose is never raised.",
        "undo_holds": "Remove the extensions",
        "holds_cleared": "The extensions were removed because the steps changed.",
        "held": "extended {days} d",
        "actions": "Print and save",
        "print": "Print",
        "pdf": "Download PDF",
        "bundle": "Download FHIR Bundle",
        "save": "Save to the record",
        "saved": "Saved to the record: {what}.",
        "save_failed": "Could not save to the record",
        "print_note": "The print-out (schedule, agreement, VAS and ambivalence cross) is in Swedish for the patient.",
        "thirty": "30 % of the start dose is reached on {date} (step {step}).",
        "six": "Half a year from the start: {date}.",
    },
}
