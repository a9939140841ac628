"""The reference cycles of a hook call, collected when the call ends, so a worker's memory stays flat.

Why: workers run the cyclic collector rarely (``__main__.GC_THRESHOLD``, 50 000 allocations instead of
CPython's 700), since walking the tens of thousands of objects a call builds — freed by reference
counting anyway — cost a third of a large call. Each call still leaves a few dozen objects in cycles
(the web framework's URL matching builds a self-referencing closure), and at that threshold they piled up
to 4–6 MiB per worker between collections.

So :func:`collect_call_cycles` collects at the end of each evaluation's turn, when the young generation
holds little but what the call left behind (tens of µs), following the collector's generational policy
counted in calls: the young generation every call, the middle one every 20th, all every 400th.
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
