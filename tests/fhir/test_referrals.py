"""ServiceRequest JSON → the record's referrals (fhir_mappings.read.referrals): to which clinic, open or
not, Trappa's or the EHR's — what the referral cards need to stay silent while one is open
(clinical-rules §5)."""
from __future__ import annotations

from datetime import date

from cds_service.domain.model import PAIN_CLINIC, PSYCHIATRY
from fhir_mappings.codes.systems import TRAPPA_REFERRAL
from fhir_mappings.read.referrals import read_referral, read_referrals


def test_trappas_own_referral_is_read_from_its_target_coding():
    r = read_referral({"resourceType": "ServiceRequest", "id": "sr-1", "status": "draft",
                       "code": {"coding": [{"system": TRAPPA_REFERRAL, "code": PSYCHIATRY}]},
                       "requester": {"reference": "Practitioner/dr-a"}, "authoredOn": "2026-11-02T10:00:00+01:00"})
    assert r.id == "sr-1" and r.open and r.by_trappa
    assert r.targets == {PSYCHIATRY}
    assert (r.requester, r.authored_on) == ("Practitioner/dr-a", date(2026, 11, 2))


def test_the_target_coding_counts_anywhere_in_the_resource():
    r = read_referral({"resourceType": "ServiceRequest", "status": "active",
                       "category": [{"coding": [{"system": TRAPPA_REFERRAL, "code": PAIN_CLINIC}]}]})
    assert r.targets == {PAIN_CLINIC} and r.by_trappa


def test_a_referral_the_ehr_wrote_is_read_from_its_words():
    named = {"code": {"text": "Remiss till beroendemottagningen"}}
    assert read_referral(dict(named, status="active")).targets == {PSYCHIATRY}
    assert read_referral({"status": "on-hold", "performerType": {"text": "Smärtmottagning"}}).targets == {PAIN_CLINIC}
    assert read_referral({"status": "active", "performer": [{"display": "Psykiatriska kliniken"}]}).targets == {PSYCHIATRY}
    other = read_referral({"status": "active", "code": {"text": "Remiss till fysioterapeut"}})
    assert other.targets == frozenset() and not other.by_trappa
    # words elsewhere (a note) do not name the clinic
    assert read_referral({"status": "active", "note": [{"text": "smärta"}]}).targets == frozenset()


def test_open_means_draft_active_or_on_hold():
    assert [read_referral({"status": s}).open for s in ("draft", "active", "on-hold", "completed", "revoked")] == [
        True, True, True, False, False]
    assert not read_referral({}).open and read_referral({"status": ["active"]}).status is None


def test_entered_in_error_and_junk_are_left_out():
    kept = {"resourceType": "ServiceRequest", "id": "a", "status": "active"}
    got = read_referrals([kept, {"resourceType": "ServiceRequest", "id": "b", "status": "entered-in-error"}, "x", None])
    assert [r.id for r in got] == ["a"]
