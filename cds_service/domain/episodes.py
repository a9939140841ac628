"""How long opioid use has gone on: coverage intervals merged into episodes (clinical-rules §2, §10).

Definitions (pinned by ``tests/domain/test_episodes.py``):

- **History.** Record orders count when their status is active, completed, stopped or on-hold
  (MedicationDispense: completed), or missing — invalid FHIR, but data we do not drop: it counts
  for duration, never as "in effect" without a supply covering today — and their intent is
  order, plan, original-order, instance-order, filler-order or missing. Ignored: entered-in-error,
  cancelled, draft, not-taken, intended, and intent proposal/option. Drafts enter only through the
  hook context (``is_draft``), never from the record.
- **Coverage** of an order is ``[start, supply_end)`` (see :mod:`fhir_mappings.read.orders`). Without a
  ``supply_end``: an *active* order is ongoing and covers through ``today`` (``[start, today + 1)``),
  since FHIR "active" means still actionable; any other status covers its start day only
  (``[start, start + 1)``: we know it happened, not for how long). Without a start it cannot be placed
  and is left out of the episode; an end on or before the start covers nothing (stopped before it
  began, or inconsistent dates).
- **Merging.** Intervals sorted by start merge when the uncovered gap between them,
  ``(next.start - current.end).days`` with exclusive ends, is at most ``gap_days`` (default 30).
  Overlaps have a negative gap and always merge. Example: supply ends (exclusive) 1 March, next starts
  31 March → gap 30 days → merged; starts 1 April → gap 31 → split.
- **Anchor.** ``today``, or, when the hook call carries draft opioid orders, the earliest draft start.
- **Current episode.** The merged interval ``[s, e)`` with ``s <= anchor`` and
  ``(anchor - e).days <= gap_days`` (reaches the anchor allowing the same gap); the latest such.
- **Days** of the episode = ``(min(e, anchor) - s).days``: whole days of coverage before the anchor
  (a course started 14 days ago has 14 days). No episode → 0 days, exposure NONE.
- **Exposure** [clinical-rules §2, RJL "När behövs nedtrappning?"]: acute < 14 days,
  subacute 14–89, long-term 90–729, multi-year ≥ 730 (an episode of 0 days is acute).
- **Renewal.** A draft opioid is a renewal when a current episode (of any opioid) reaches its
  anchor; a new start otherwise; None when the call has no draft opioid.
- **Previous supply end.** The latest known ``supply_end`` among record opioid orders in the episode,
  except ends taken from a validity period only (an outer limit for dispensing, not a supply).
- **What the patient takes now** (orders, doses, MEDD): :mod:`cds_service.domain.regimen`.
"""
from __future__ import annotations

from datetime import date
from typing import Iterable, Sequence

from cds_service.domain.model import Episode, Exposure, MedicationOrder
from cds_service.domain.model import MEDICATION_DISPENSE, MEDICATION_REQUEST, MEDICATION_STATEMENT, add_days

DEFAULT_GAP_DAYS = 30

HISTORY_STATUSES = {
    MEDICATION_REQUEST: frozenset({"active", "completed", "stopped", "on-hold", None}),
    MEDICATION_STATEMENT: frozenset({"active", "completed", "stopped", "on-hold", None}),
    MEDICATION_DISPENSE: frozenset({"completed", None}),
}
HISTORY_INTENTS = frozenset({"order", "plan", "original-order", "instance-order", "filler-order", None})

# Exposure thresholds in days [clinical-rules §2 "under ~2 weeks", "~3 months", "several years"].
SUBACUTE_FROM = 14
LONG_TERM_FROM = 90
MULTI_YEAR_FROM = 730

Interval = tuple[date, date]  # [start, end), end exclusive


def counts_for_history(order: MedicationOrder) -> bool:
    """Whether a record order is part of the patient's medication history (statuses/intents above)."""
    statuses = HISTORY_STATUSES.get(order.resource_type, HISTORY_STATUSES[MEDICATION_REQUEST])
    if order.status not in statuses:
        return False
    return order.resource_type != MEDICATION_REQUEST or order.intent in HISTORY_INTENTS


def classify_exposure(days: int | None) -> Exposure:
    """Exposure class of an episode of ``days`` days [clinical-rules §2; RJL "När behövs nedtrappning?"].

    None or negative → NONE; 0–13 acute; 14–89 subacute; 90–729 long-term; ≥ 730 multi-year.
    """
    if days is None or days < 0:
        return Exposure.NONE
    if days < SUBACUTE_FROM:
        return Exposure.ACUTE
    if days < LONG_TERM_FROM:
        return Exposure.SUBACUTE
    if days < MULTI_YEAR_FROM:
        return Exposure.LONG_TERM
    return Exposure.MULTI_YEAR


def coverage(order: MedicationOrder, today: date) -> Interval | None:
    """``[start, end)`` an order covers; None when it has no start (see module docstring)."""
    start = order.start
    if start is None:
        return None
    end = order.supply_end
    if end is None:
        if order.status == "active":
            end = add_days(max(today, start), 1)
        else:
            end = add_days(start, 1)
        if end is None:
            return None
    if end <= start:
        return None  # stopped before it started, or an end before the start: nothing covered
    return start, end


def merge_intervals(intervals: Iterable[Interval], gap_days: int = DEFAULT_GAP_DAYS) -> list[Interval]:
    """Merge ``[start, end)`` intervals whose uncovered gap is at most ``gap_days`` days."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and (start - merged[-1][1]).days <= gap_days:
            last_start, last_end = merged[-1]
            if end > last_end:
                merged[-1] = (last_start, end)
        else:
            merged.append((start, end))
    return merged


def _opioid_history(orders: Iterable[MedicationOrder]) -> list[MedicationOrder]:
    return [o for o in orders if o.drug.is_opioid and not o.is_draft and counts_for_history(o)]


def episode_anchor(drafts: Iterable[MedicationOrder], today: date) -> date:
    """The earliest start of the draft opioids, else ``today``."""
    starts = [d.start or today for d in drafts if d.drug.is_opioid]
    return min(starts) if starts else today


def _current_interval(orders: Sequence[MedicationOrder], anchor: date, today: date, gap_days: int) -> Interval | None:
    intervals = [iv for iv in (coverage(o, today) for o in orders) if iv is not None]
    current = None
    for start, end in merge_intervals(intervals, gap_days):
        if start <= anchor and (anchor - end).days <= gap_days:
            current = (start, end)  # sorted: the latest one reaching the anchor wins
    return current


def current_episode(
    orders: Iterable[MedicationOrder],
    today: date,
    *,
    drafts: Iterable[MedicationOrder] = (),
    gap_days: int = DEFAULT_GAP_DAYS,
) -> Episode:
    """The current continuous opioid episode of the record (drafts only set the anchor)."""
    history = _opioid_history(orders)
    anchor = episode_anchor(drafts, today)
    current = _current_interval(history, anchor, today, gap_days)
    if current is None:
        return Episode(start=None, end=None, days=0, exposure=Exposure.NONE)
    start, end = current
    days = (min(end, anchor) - start).days
    return Episode(start=start, end=end, days=days, exposure=classify_exposure(days))


def is_renewal(episode: Episode, drafts: Iterable[MedicationOrder]) -> bool | None:
    """True when a draft opioid continues the current episode; False for a new start; None without one.

    [clinical-rules §1: "Receptförnyelse innebär samma ansvar som vid insättning" — a renewal of an
    ongoing opioid is the event the service exists for.] ``episode`` must have been computed with the
    same drafts (its anchor is the draft's start).
    """
    if not any(d.drug.is_opioid for d in drafts):
        return None
    return episode.start is not None


def in_episode(order: MedicationOrder, episode: Episode, today: date) -> bool:
    """Whether an order's coverage lies within the episode's interval."""
    iv = coverage(order, today)
    if iv is None or episode.start is None or episode.end is None:
        return False
    return episode.start <= iv[0] and iv[1] <= episode.end


def previous_supply_end(orders: Iterable[MedicationOrder], episode: Episode, today: date) -> date | None:
    """Latest known ``supply_end`` of the record opioid orders in the current episode (early renewal).

    Ends that come only from a validity period are left out: a one-year validity says until when
    the prescription may be dispensed, not when the patient's tablets run out.
    """
    ends = [
        o.supply_end
        for o in _opioid_history(orders)
        if o.supply_end is not None and o.supply_basis != "validity" and in_episode(o, episode, today)
    ]
    return max(ends) if ends else None
