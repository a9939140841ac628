"""Referrals already in the record: ServiceRequest JSON → :class:`~cds_service.domain.model.Referral`.

The referral cards [RJL "Hjälp och kontaktvägar"] (clinical-rules §5) stay silent while a referral to
the same clinic is open, so that a running taper's every renewal does not propose it again. A
referral is to a clinic when

- it carries Trappa's own target coding (``urn:trappa:referral-target|psychiatry`` or
  ``|pain-clinic``) anywhere in the resource: one Trappa proposed and the EHR kept; or
- the texts and displays of its code, performer type, category or performer name the clinic — a
  referral written in the EHR, whose codes differ between regions ("Remiss till
  beroendemottagningen", performer type "Psykiatrisk klinik", "Smärtmottagning").

Tolerant of any shape: what cannot be read is left out (no target, no date), never an error.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from cds_service.domain.model import PAIN_CLINIC, PSYCHIATRY, Referral
from fhir_mappings.codes.systems import TRAPPA_REFERRAL
from fhir_mappings.read.orders import parse_date, reference_of, text

# The words that name a clinic in a referral the EHR wrote (Swedish and English).
_TARGET_WORDS = {
    PSYCHIATRY: re.compile(r"beroende|psykiatri|addiction|psychiatr|substance", re.IGNORECASE),
    PAIN_CLINIC: re.compile(r"smärt|pain", re.IGNORECASE),
}


def _codings(value: Any) -> Iterable[dict]:
    """Every Coding nested anywhere in a raw resource."""
    if isinstance(value, dict):
        if "system" in value and "code" in value:
            yield value
        for v in value.values():
            yield from _codings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _codings(v)


def _texts(value: Any) -> Iterable[str]:
    """Every ``text`` and ``display`` nested in ``value``."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("text", "display") and isinstance(v, str):
                yield v
            else:
                yield from _texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)


def read_referral(sr: dict) -> Referral:
    """The referral ``sr`` (a ServiceRequest) is, as far as the rules care."""
    ours = {c["code"] for c in _codings(sr) if c.get("system") == TRAPPA_REFERRAL and isinstance(c["code"], str)}
    named = list(_texts([sr.get("code"), sr.get("performerType"), sr.get("category"), sr.get("performer")]))
    worded = {target for target, words in _TARGET_WORDS.items() if any(words.search(t) for t in named)}
    status = sr.get("status")
    return Referral(
        id=text(sr.get("id")),
        status=status if isinstance(status, str) else None,
        targets=frozenset(ours | worded),
        requester=reference_of(sr.get("requester")),
        authored_on=parse_date(sr.get("authoredOn")),
        by_trappa=bool(ours),
    )


def read_referrals(service_requests: Iterable[Any]) -> tuple[Referral, ...]:
    """The record's referrals, in record order; entered-in-error ones (and anything not a resource) left out."""
    return tuple(read_referral(sr) for sr in service_requests
                 if isinstance(sr, dict) and sr.get("status") != "entered-in-error")
