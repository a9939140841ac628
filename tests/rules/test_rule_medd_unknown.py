"""medd-unknown: clinical-rules §4 — an opioid whose MEDD could not be computed makes the total a
lower bound; name-only identifications and unidentified medications are said too."""
from __future__ import annotations

from cds_service.domain.problems import Problem

import pytest

from cds_service.rules import medd_unknown
from tests.support.worded import Worded
from cds_service.cards.problems import problem_text
from cds_service.domain.model import IdentifiedBy
from tests.support.rules_facts_referral import MG, UG_PER_H, check_texts, ctx, facts, opioid

rule = Worded(medd_unknown)  # the findings with the words the card shows

OXY = opioid(amount=20, medd=40.0)  # 20 mg oxycodone × 2 = 40 MEDD
FENT = opioid("Fentanyl plåster", "fentanyl", None, None, None, id="mr-f",
              dose_problem=Problem("free-text-only"), medd_problem=Problem("daily-dose-unknown", cause=Problem("free-text-only")))
TAPENTADOL = opioid("Tapentadol sublingual", "tapentadol", 100, MG, None, id="mr-t",
                    medd_problem=Problem("no-conversion-factor-form", ingredient="tapentadol", form="sublingual"))


@pytest.mark.parametrize("hook", ["patient-view", "order-sign", "order-select", "medication-prescribe"])
def test_fires_and_names_the_opioid_and_why(hook):
    [finding] = rule.findings(facts(opioids=(OXY, FENT)), ctx(hook))
    assert finding.indicator == "info"
    assert finding.summary["sv"] == "MEDD kunde inte beräknas för Fentanyl plåster – total MEDD är minst 40"
    assert finding.summary["en"] == "MEDD could not be computed for Fentanyl plåster – total MEDD is at least 40"
    assert "- Fentanyl plåster: dygnsdosen är okänd: dosering endast i fritext" in finding.detail["sv"]
    assert "inte som 0" in finding.detail["sv"]
    assert finding.facts["meddUnknownFor"] == [
        {"display": "Fentanyl plåster", "problem": Problem("daily-dose-unknown", cause=Problem("free-text-only"))}
    ]
    assert finding.facts["meddKnownPart"] == 40 and finding.facts["meddLowerBound"] is True
    check_texts(finding)


def test_limit_undecided_when_known_part_at_most_60_decided_when_over():
    # known 30 mg oxycodone = 60 MEDD ≤ 60: the limit cannot be judged
    [f60] = rule.findings(facts(opioids=(opioid(amount=30, medd=60.0), FENT)), ctx())
    assert f60.facts["meddThresholdUndecided"] is True
    assert "Gränsen 60 MEDD" in f60.detail["sv"]
    # known 30.5 mg = 61 MEDD > 60: over the limit whatever the unknown part is
    [f61] = rule.findings(facts(opioids=(opioid(amount=30.5, medd=61.0), FENT)), ctx())
    assert f61.facts["meddThresholdUndecided"] is False
    assert "Gränsen 60 MEDD" not in f61.detail["sv"]


def test_conversion_problem_in_swedish():
    [finding] = rule.findings(facts(opioids=(TAPENTADOL,)), ctx())
    assert "omräkningsfaktor saknas för tapentadol (sublingual)" in finding.detail["sv"]
    assert "no conversion factor for tapentadol sublingual" in finding.detail["en"]
    # no known part at all: total unknown
    assert "total MEDD är okänd" in finding.summary["sv"]
    check_texts(finding)


def test_several_unknown_are_counted_in_the_summary():
    [finding] = rule.findings(facts(opioids=(FENT, TAPENTADOL, OXY)), ctx())
    assert "för 2 opioider" in finding.summary["sv"]


def test_silent_when_every_medd_is_known():
    assert rule.findings(facts(opioids=(OXY,)), ctx()) == []


def test_drafted_opioid_with_unknown_medd_on_order_hooks_only():
    draft = opioid("Oxykodon oral lösning", "oxycodone", None, None, None, id="d1", draft=True,
                   dose_problem=Problem("unit-no-ml-strength", unit="ml"))
    [finding] = rule.findings(facts(opioids=(OXY,), drafts=(draft,)), ctx("order-sign"))
    assert "som ordineras nu" in finding.summary["sv"]
    assert "(ordineras nu): enheten 'ml' kan inte räknas om" in finding.detail["sv"]
    check_texts(finding)


def test_name_only_identification():
    named = opioid("Oxynorm 5 mg", "oxycodone", 10, MG, 20.0, id="n", identified_by=IdentifiedBy.NAME, atc=None)
    [finding] = rule.findings(facts(opioids=(named,)), ctx())
    assert finding.facts["lowConfidence"] == ["Oxynorm 5 mg"]
    assert "identifierad enbart via namnet" in finding.summary["sv"]
    assert "- Oxynorm 5 mg: 20 MEDD" in finding.detail["sv"]
    check_texts(finding)


def test_two_name_only_opioids_are_named_in_the_plural():
    oxy = opioid("Oxynorm 5 mg", "oxycodone", 10, MG, 20.0, id="n1", identified_by=IdentifiedBy.NAME, atc=None)
    mor = opioid("Dolcontin 10 mg", "morphine", 20, MG, 20.0, id="n2", identified_by=IdentifiedBy.NAME, atc=None)
    [finding] = rule.findings(facts(opioids=(oxy, mor)), ctx())
    assert finding.summary["sv"].startswith("2 opioider identifierade enbart via namnet – kontrollera läkemedlen")
    assert "check the drugs and their MEDD" in finding.summary["en"]
    check_texts(finding)


def test_unidentified_medication_only_matters_with_opioid_use():
    [finding] = rule.findings(facts(opioids=(OXY,), unidentified=("Okänd kapsel",)), ctx())
    assert finding.facts["unidentified"] == ["Okänd kapsel"]
    assert "kan vara högre än 40 MEDD" in finding.summary["sv"]
    check_texts(finding)
    assert rule.findings(facts(unidentified=("Okänd kapsel",)), ctx()) == []


@pytest.mark.parametrize("exclusion", ["cancer", "palliative", "laro", "under-18"])
def test_fires_for_excluded_patients_without_the_limit_note(exclusion):
    [finding] = rule.findings(facts(opioids=(OXY, FENT), exclusions=(exclusion,)), ctx())
    assert finding.facts["meddThresholdUndecided"] is False
    assert "Gränsen" not in finding.detail["sv"]


def test_problem_text_in_both_languages():
    assert problem_text(Problem("a-code-without-words"), "sv") == "uppgiften kunde inte tolkas"
    assert problem_text(Problem("patch-dose-as-mass"), "sv") == "plåsterdosen är angiven som mängd, inte i µg/h"
    assert problem_text(Problem("patch-dose-as-mass"), "en") == str(Problem("patch-dose-as-mass")) \
        == "patch dose given as a mass, expected µg/h"
    assert problem_text(None, "sv") == "orsak ej angiven"
    assert UG_PER_H == "ug/h"


def test_long_names_keep_the_summary_under_140():
    long_name = "Fentanyl Sandoz 25 mikrogram/timme depotplåster, förpackning med 5 plåster (extra lång text)"
    fent = opioid(long_name, "fentanyl", None, None, None, id="long", medd_problem=Problem("no-conversion-factor", ingredient="fentanyl"))
    [finding] = rule.findings(facts(opioids=(OXY, fent)), ctx())
    assert len(long_name) > 40
    assert "…" in finding.summary["sv"]
    assert long_name in finding.detail["sv"]  # the detail keeps the full name
    check_texts(finding)
