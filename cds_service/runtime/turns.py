"""One hook evaluation computing at a time per worker process; waiting for a FHIR server does not count.

Why: a worker runs several threads (``TRAPPA_THREADS``) so that calls waiting on the FHIR fallback do
not hold up the others. But Python runs one thread's code at a time, and CPU-bound evaluations in
several threads are served in 5 ms slices, round robin: every call in flight finishes late, each a
little more or less so by chance. Taking turns instead — the evaluation that has the turn runs to its
end while the others wait for it — gives the same throughput and the same average, and takes the
chance out of the tail: in the benchmark (2 workers × 4 threads, 8 clients, 100-order records) the
p99 fell from about 40 ms to about 30 ms.

The turn is given up while the evaluation waits for the FHIR server (:meth:`EvaluationTurns.waiting`,
used by ``fhir_client.FhirFetcher``), so a slow FHIR server delays only the calls that need it. Reading
the request body from the network happens before the turn is taken, sending the answer after it.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator


class EvaluationTurns:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Compute only while holding the turn (re-entrant: an inner ``turn`` in the same thread is a no-op)."""
        if getattr(self._local, "held", False):
            yield
            return
        self._lock.acquire()
        self._local.held = True
        try:
            yield
        finally:
            self._local.held = False
            self._lock.release()

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Give the turn up while waiting for something outside (a FHIR server), take it back after."""
        if not getattr(self._local, "held", False):
            yield
            return
        self._local.held = False
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()
            self._local.held = True
