"""One evaluation the way the hook view runs it, minus HTTP: what the timing benchmark (run_bench.py) and
the instruction count (instructions.py) both measure — kept apart from both, so neither imports the other."""
from __future__ import annotations

import time


def _dev_settings():
    from cds_service.web.config import Settings

    # What the benchmark server runs with (serve --dev): clock override on, so the corpus's
    # extension.trappa.today applies and every size is evaluated as of the same day.
    return Settings.from_env({"TRAPPA_DEV_MODE": "1", "TRAPPA_DATABASE_URL": "sqlite:///:memory:"})


def parse_body(raw: bytes):
    """The request bytes parsed as the hook view parses them: the view's own function
    (``cds_service.protocol.jsonio.parse_json``, called by ``views/hooks.py`` ``call_service``)."""
    from cds_service.protocol.jsonio import parse_json

    return parse_json(raw)


def evaluate_once(raw: bytes, settings, service, cpu: list | None = None) -> tuple[float, dict]:
    """One request the way the hook view handles it, minus HTTP and the audit row:
    parse JSON (:func:`parse_body`) → evaluate_request → JSON text. Returns (wall seconds, response); appends the
    thread's CPU seconds to ``cpu`` when given."""
    from cds_service.runtime.cycles import collect_call_cycles
    from cds_service.protocol.evaluate import evaluate_request
    from cds_service.protocol.jsonio import dump_response
    from cds_service.web.planner.proposals import PlannerLinks

    c0 = time.thread_time()
    t0 = time.perf_counter()
    body = parse_body(raw)
    # The planner links of the taper cards, as the hook view makes them (their row is written after the
    # turn, like the audit record: not counted here).
    links = PlannerLinks("http://127.0.0.1:8080", settings.proposal_ttl_hours)
    result = evaluate_request(service, body, settings, None, "sv", links=links)
    response = result.response
    dump_response(response)
    # Freeing the request's objects is part of its cost (the server pays it when the view returns);
    # left to the caller it would fall outside the timing, or onto the next repetition.
    del body, result
    collect_call_cycles()  # as the view does at the end of the turn
    wall = time.perf_counter() - t0
    if cpu is not None:
        cpu.append(time.thread_time() - c0)
    return wall, response
