"""Work per hook call counted in machine instructions: a figure that other work on the machine does not move.

Times on the shared 2-core development machine vary by 2–3× between sessions and by ±30 % within one run
(the calibration figure of every result shows it), so a 5 % gain or loss of a change is invisible in
milliseconds. Valgrind's callgrind counts the instructions a process executes — the same count for the
same code and input whatever else the machine is doing — so ``./trappa bench --instructions`` answers
"did this change make a call cheaper, and by how much?" exactly.

Per record size, two processes run under callgrind side by side (one per core): both build the
corpus, load the service and evaluate the request a few times to warm every cache (as a serving worker
is warm), under a worker's garbage-collector and allocator settings; one then evaluates it ``reps`` times more. The
difference of their totals, divided by ``reps``, is the instructions of one in-process evaluation
(parse → rules → cards → JSON → free, :func:`bench.evaluation.evaluate_once`) — start-up cancels out.
Python runs about 50× slower under callgrind, so the sizes are small (a 1 000-order record takes a
few seconds per evaluation) and the step is not part of the timed run.

Valgrind comes from Debian's packages (``apt-get install valgrind``); without it the step says so.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WARMUP = 3  # evaluations before counting: every cache of a serving worker warm
SIZES = (10, 100, 1000)
REPS = {10: 10, 100: 10, 1000: 3}
_COLLECTED = re.compile(rb"Collected : (\d+)")


def unavailable() -> str | None:
    """Why instructions cannot be counted here, or None when they can."""
    if shutil.which("valgrind") is None:
        return "valgrind is not installed (Debian: apt-get install valgrind)"
    return None


def _count(size: int, reps: int, timeout: float) -> int:
    """Instructions of one process that warms up and then evaluates the size-``size`` record ``reps`` times."""
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
            sys.executable, str(Path(__file__).resolve()), "--child", str(size), str(reps)]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, timeout=timeout,
                          env={**os.environ, "PYTHONHASHSEED": "0"})  # same dict layouts, same count
    found = _COLLECTED.search(proc.stderr)
    if proc.returncode != 0 or found is None:
        tail = proc.stderr.decode(errors="replace")[-1500:]
        raise RuntimeError(f"callgrind run of size {size} × {reps} failed (exit {proc.returncode}):\n{tail}")
    return int(found.group(1))


def measure(sizes=SIZES, reps: dict[int, int] | None = None, timeout: float = 600.0) -> dict:
    """Instructions per in-process evaluation for each record size, or the reason they cannot be counted."""
    reason = unavailable()
    if reason:
        return {"available": False, "reason": reason, "sizes": {}}
    reps = reps or REPS
    out: dict = {"available": True, "warmup": WARMUP, "sizes": {}}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for n in sizes:
            r = reps.get(n, 3)
            base, counted = pool.map(lambda k: _count(n, k, timeout), (0, r))
            per_call = (counted - base) / r
            out["sizes"][n] = {
                "reps": r,
                "instructions": round(per_call),
                "mega_instructions": round(per_call / 1e6, 2),
                "per_medication_request": round(per_call / n),
            }
    return out


def table(result: dict) -> str:
    if not result.get("available"):
        return f"Instructions per evaluation: not counted — {result.get('reason')}"
    lines = ["Instructions per in-process evaluation (callgrind; the same for the same code, whatever the load)",
             f"  {'MedReqs':>7} {'reps':>5} {'M instr.':>9} {'per MR':>9}"]
    for n, s in sorted(result["sizes"].items(), key=lambda kv: int(kv[0])):
        lines.append(f"  {n:>7} {s['reps']:>5} {s['mega_instructions']:>9.2f} {s['per_medication_request']:>9}")
    return "\n".join(lines)


def _child(size: int, reps: int) -> None:
    """Inside callgrind: warm up, then evaluate ``reps`` times (nothing printed; the count is callgrind's)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from bench.corpus import build_corpus
    from bench.evaluation import _dev_settings, evaluate_once
    from cds_service.__main__ import _tune_worker
    from cds_service.protocol.services import SERVICES

    body = build_corpus((size,))[size].body
    settings, service = _dev_settings(), SERVICES["trappa-order-sign"]
    for _ in range(WARMUP):
        evaluate_once(body, settings, service)
    _tune_worker(None)  # as a serving worker: its garbage-collector and allocator settings
    for _ in range(reps):
        evaluate_once(body, settings, service)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit("usage: run by bench/run_bench.py --instructions")
