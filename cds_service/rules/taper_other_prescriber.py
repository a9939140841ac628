"""taper-other-prescriber — during a taper, an opioid is ordered by someone other than the responsible physician.

Source: [RJL "Vilka krav kan jag som läkare ställa?"] "Opioider förskrivs enbart av den läkare som
ansvarar för nedtrappningen (eller av denne utsedd kollega)"; [RJL "Praktiska tips och trix"]
("Opioider bör förskrivas enbart av den läkare som ansvarar för nedtrappningen!"); clinical-rules §3.

When
  - a taper is running, and
  - a draft opioid order is part of the hook call, and
  - the patient is not excluded
Then
  - the ordering physician (context.userId) and the plan's responsible physician (CarePlan.author /
    the taper MedicationRequest's requester) are both known and differ → warn: contact the
    responsible physician; only they (or a named colleague) prescribe opioids during the taper;
  - either is unknown → info: the check could not be done (decision: an unknown author is not
    treated as "different" — no warning — but the card says the responsible physician is not on
    the plan, so it can be registered);
  - the same → nothing.
References compare by type and id ("Practitioner/1" equals "https://ehr/fhir/Practitioner/1").
"""
from __future__ import annotations

from typing import Any

from cds_service.domain.model import PatientFacts

from cds_service.domain.hooks import ORDER_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.common import clip, draft_opioids, in_taper, loc, same_reference

TOPIC = "taper-other-prescriber"
HOOKS = ORDER_HOOKS


def inclusion_criteria(facts: PatientFacts) -> bool:
    return in_taper(facts) and bool(draft_opioids(facts))


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded


def is_applicable(facts: PatientFacts) -> bool:
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


def is_other_prescriber(facts: PatientFacts, ctx: RuleContext) -> bool | None:
    """True when the orderer is not the taper's responsible physician; None when either is unknown."""
    author = facts.taper_plan.author if facts.taper_plan else None
    same = same_reference(ctx.user_ref, author)
    return None if same is None else not same


def responsible_name(facts: PatientFacts) -> str | None:
    """The responsible physician as a card names them: the record's display, else the reference."""
    plan = facts.taper_plan
    if plan is None:
        return None
    return clip(plan.author_display, 80) or clip(plan.author, 100) or None


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts):
        return []
    other = is_other_prescriber(facts, ctx)
    author = facts.taper_plan.author if facts.taper_plan else None
    name = responsible_name(facts)
    fact_map: dict[str, Any] = {
        "responsiblePhysician": clip(author, 100) or None,
        "responsiblePhysicianName": name,
        "orderingPhysician": clip(ctx.user_ref, 100) or None,
        "decided": other is not None,
    }
    if other is False:
        return []
    if other is None:
        return [
            Finding(
                topic=TOPIC,
                indicator="info",
                summary=loc(
                    "Nedtrappning pågår – ansvarig läkare för nedtrappningen framgår inte",
                    "Taper running – the responsible physician is not recorded",
                ),
                detail={
                    "sv": "**Kunde inte kontrollera att du är ansvarig läkare för nedtrappningen.** "
                    + ("Nedtrappningsplanen anger ingen ansvarig läkare. " if not author else
                       "Din identitet som förskrivare saknas i anropet. ")
                    + "Under nedtrappning förskrivs opioider bara av ansvarig läkare (eller av denne utsedd "
                    "kollega); ange ansvarig läkare i planen.",
                    "en": "**Could not check that you are the physician responsible for the taper.** "
                    + ("The taper plan names no responsible physician. " if not author else
                       "Your identity as prescriber is missing from the call. ")
                    + "During a taper opioids are prescribed only by the responsible physician (or a "
                    "colleague they name); record the responsible physician on the plan.",
                },
                guideline=RJL,
                section="Vilka krav kan jag som läkare ställa?",
                facts=fact_map,
                override_reasons=("agreed-with-responsible", "data-incorrect"),
            )
        ]
    return [
        Finding(
            topic=TOPIC,
            indicator="warning",
            summary=loc(
                "Nedtrappning pågår med annan ansvarig läkare – opioider förskrivs bara av denne",
                "Taper run by another physician – only they prescribe opioids",
            ),
            detail={
                "sv": f"**Du är inte ansvarig läkare för patientens pågående nedtrappning – det är {name}.** Under "
                "nedtrappningen förskrivs opioider bara av ansvarig läkare (eller av denne utsedd kollega), "
                "och patienten har förbundit sig att inte söka annan förskrivare.\n\n"
                f"- Kontakta {name} innan du förskriver.\n"
                "- Förskriv bara om ni kommit överens, t.ex. som utsedd kollega.",
                "en": f"**You are not the physician responsible for the patient's running taper – {name} is.** During the "
                "taper opioids are prescribed only by the responsible physician (or a colleague they name), "
                "and the patient has agreed not to seek other prescribers.\n\n"
                f"- Contact {name} before prescribing.\n"
                "- Prescribe only by agreement, e.g. as the named colleague.",
            },
            guideline=RJL,
            section="Vilka krav kan jag som läkare ställa?",
            facts=fact_map,
            override_reasons=("agreed-with-responsible", "data-incorrect"),
        )
    ]
