"""Who may call the planner's API, and on what: the *authority* a page was opened with.

Today one kind: a card's proposal, named by the unguessable id in its link (``Authorization: Bearer
<id>``, :mod:`.proposals`). It bounds what the API computes — the proposal's opioid, at most the dose
the patient takes today — and it cannot save to the record (``can_save`` False: the page hides its
Save button and offers print and a FHIR Bundle download instead).

A SMART App Launch session is the second kind, added beside this one: a resolver that turns the
request's credentials into an :class:`Authority` (its proposal made from the patient's medications,
``can_save`` True, ``save`` what writes through the EHR's FHIR server) and :func:`register` s it. The
views only ever ask :func:`resolve`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from cds_service.web.planner import proposals


@dataclass(frozen=True)
class Authority:
    kind: str  # "proposal"; a SMART session adds its own
    proposal: dict  # the inputs the page opens on (proposals.proposal_inputs' shape)
    can_save: bool = False
    extra: dict = field(default_factory=dict)  # what another kind needs to save (never logged)


Resolver = Callable[[Any, Any], "Authority | None"]  # (flask request, store) -> Authority | None


def bearer(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def from_proposal_id(request, store) -> Authority | None:
    token = bearer(request)
    if token is None or not proposals.well_formed(token):
        return None
    inputs = proposals.load(store, token)
    return Authority("proposal", inputs) if inputs is not None else None


_RESOLVERS: list[Resolver] = [from_proposal_id]


def register(resolver: Resolver) -> None:
    """Add a kind of authority (tried after those already registered)."""
    if resolver not in _RESOLVERS:
        _RESOLVERS.append(resolver)


def resolve(request, store) -> Authority | None:
    for resolver in _RESOLVERS:
        found = resolver(request, store)
        if found is not None:
            return found
    return None
