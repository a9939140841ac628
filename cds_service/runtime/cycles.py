"""The reference cycles of a hook call, collected when the call ends (so a worker's memory stays flat).

Workers run the cyclic garbage collector rarely (``__main__.GC_THRESHOLD``: when 50 000 more objects
are alive than at the last collection, not CPython's 700), because a call builds tens of thousands of
objects that reference counting frees anyway, and walking through them mid-call was a third of a large
call's time. But what only the collector can free then piles up between its rare runs: every call
leaves a few dozen objects in reference cycles (the web framework's URL matching builds a
self-referencing closure, for one), and they count towards those 50 000 — so about 50 000 objects of
garbage, 4–6 MiB, gathered before each collection. Each worker's resident memory rose over its first
minutes until it could hold that peak: the "not flat" of the benchmark's memory step, though nothing
leaked.

:func:`collect_call_cycles` therefore collects at the end of each evaluation's turn, when the
evaluation's own objects are already freed: the young generation then holds only what the call left
behind — tens of µs. It follows the collector's own generational policy, counted in calls instead of
allocations: the young generation every call, the middle one every 20th, everything every 400th, so a
cycle that was still in use at a young collection, and moved on to an older generation, is freed
within a few hundred calls.
"""
from __future__ import annotations

import gc


def collect_call_cycles() -> None:
    """Free the reference cycles that finished calls left (see the module docstring).

    Call it inside the evaluation's turn (``turns.EvaluationTurns``), after the request's own objects are
    freed: the young generation then holds little, and no other evaluation's live objects are walked.
    ``gc.get_count()`` gives, per generation, what triggers its next collection: young collections since
    the middle one was collected, middle collections since the last full one."""
    _, young_runs, middle_runs = gc.get_count()
    _, every_young, every_middle = gc.get_threshold()
    if middle_runs >= every_middle:
        gc.collect(2)
    elif young_runs >= every_young:
        gc.collect(1)
    else:
        gc.collect(0)
