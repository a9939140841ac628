"""Instructions of one hook call through the Flask app — what ``--instructions`` leaves out.

``./trappa bench --instructions`` counts the evaluation (parse → rules → cards → JSON), not what the app
does around it: the request hooks (request id, Host check, authentication, metrics), the view, the audit
row's queueing, the response's headers. This counts the whole call, through the WSGI app with Flask's
test client (no sockets, no gunicorn), for the typical record (100 MedicationRequests), the same way:
two warm processes under callgrind side by side, one calling ``reps`` times more, the difference per
call. ``--metrics`` counts with metrics on (a multi-process directory of its own, as a serving worker).

    .venv/bin/python bench/http_instructions.py [--metrics] [--reps 10]

Run it in two work trees to compare a change (it imports the service from the directory it runs in).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SIZE = 100
WARMUP = 3


def _child(reps: int, metrics: bool) -> None:
    root = os.getcwd()
    sys.path.insert(0, root)
    tmp = tempfile.mkdtemp(prefix="trappa-http-instr-")
    if metrics:
        os.makedirs(f"{tmp}/metrics")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = f"{tmp}/metrics"
    from bench.corpus import build_corpus
    from cds_service.__main__ import _tune_worker
    from cds_service.web.app import create_app
    from cds_service.web.config import Settings

    env = {"TRAPPA_DEV_MODE": "1", "TRAPPA_DATABASE_URL": f"sqlite:///{tmp}/trappa.sqlite3"}
    if not metrics:
        env["TRAPPA_METRICS_PORT"] = "off"  # ignored by a tree without metrics
    app = create_app(Settings.from_env(env))
    client = app.test_client()
    body = build_corpus((SIZE,))[SIZE].body

    def call() -> None:
        resp = client.post("/cds-services/trappa-order-sign", data=body, headers={"Content-Type": "application/json"})
        assert resp.status_code == 200, resp.status_code
        resp.close()

    for _ in range(WARMUP):
        call()
    _tune_worker(None)
    for _ in range(reps):
        call()
    store = app.extensions["trappa.store"]
    (store.journal if hasattr(store, "journal") else store.audit_writer).flush()  # either tree


def _count(reps: int, metrics: bool) -> int:
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
            str(Path(__file__).resolve()), "--child", str(reps)] + (["--metrics"] if metrics else [])
    proc = subprocess.run(argv, capture_output=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    found = re.search(rb"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        raise SystemExit(proc.stderr.decode(errors="replace")[-1500:])
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--metrics", action="store_true")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        _child(args.child, args.metrics)
        return 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        base, counted = pool.map(lambda r: _count(r, args.metrics), (0, args.reps))
    per_call = (counted - base) / args.reps
    print(f"{per_call / 1e6:.3f} M instructions per hook call through the app ({SIZE} orders, "
          f"metrics {'on' if args.metrics else 'off'}, {args.reps} calls)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
