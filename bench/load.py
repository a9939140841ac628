"""A sustained load on the real server: N clients for S seconds, then the audit trail checked.

Starts ``python -m cds_service serve`` (gunicorn, 2 workers × 4 threads, development mode so the clients
spend no CPU signing tokens — the machine's two cores are shared by clients and server), sends the
typical order-sign request (100 MedicationRequests, bench/corpus.py) from ``--clients`` keep-alive
clients in 4 processes, each call with a hookInstance of its own, and prints throughput, latency
percentiles, statuses and connection errors — and how many calls answered 200 have no audit row in the
database once the workers have shipped their journals.

    .venv/bin/python bench/load.py [--clients 16] [--seconds 60] [--kill-worker-at 20]

Run it in two work trees to compare (it starts the service from the directory it runs in). Compare the
figures of one run with another of the same machine and moment only: machines here differ 2× in speed.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path.cwd()
SERVICE = "/cds-services/trappa-order-sign"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client_process(base_url: str, body: dict, threads: int, seconds: float, out) -> None:
    import requests

    results = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        session = requests.Session()
        while time.monotonic() < stop_at:
            hook_instance = str(uuid.uuid4())
            data = json.dumps(dict(body, hookInstance=hook_instance))
            started = time.perf_counter()
            try:
                resp = session.post(base_url + SERVICE, data=data, timeout=30,
                                    headers={"Content-Type": "application/json"})
                status = resp.status_code
            except requests.RequestException:
                status, session = 0, requests.Session()
            with lock:
                results.append((status, time.perf_counter() - started, hook_instance if status == 200 else None))

    pool = [threading.Thread(target=client) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.send(results)
    out.close()


def _workers(master: int) -> list[int]:
    pids = []
    for task in Path(f"/proc/{master}/task").iterdir():
        pids += [int(p) for p in (task / "children").read_text().split()]
    return sorted(pids)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--kill-worker-at", type=float, default=None, help="SIGKILL one worker after this many seconds")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from bench.corpus import build_corpus

    body = json.loads(build_corpus((100,))[100].body)
    tmp = tempfile.mkdtemp(prefix="trappa-load-")
    port = _free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TRAPPA_")},
           "TRAPPA_DATABASE_URL": f"sqlite:///{tmp}/trappa.sqlite3", "TRAPPA_METRICS_PORT": "off",
           "TRAPPA_AUDIT_JOURNAL_DIR": f"{tmp}/journal", "TRAPPA_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, "-m", "cds_service", "serve", "--dev", "--port", str(port),
                               "--workers", "2", "--threads", "4"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/server.log", "wb"))
    base_url = f"http://127.0.0.1:{port}"
    import requests

    for _ in range(300):
        try:
            if requests.get(base_url + "/health", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.1)
    try:
        procs, pipes = [], []
        per = [args.clients // 4 + (1 if i < args.clients % 4 else 0) for i in range(4)]
        started = time.monotonic()
        for threads in per:
            if not threads:
                continue
            here, there = multiprocessing.Pipe(duplex=False)
            p = multiprocessing.Process(target=_client_process, args=(base_url, body, threads, args.seconds, there))
            p.start()
            procs.append(p)
            pipes.append(here)
        if args.kill_worker_at is not None:
            time.sleep(args.kill_worker_at)
            os.kill(_workers(server.pid)[0], signal.SIGKILL)
        results = [r for pipe in pipes for r in pipe.recv()]
        for p in procs:
            p.join()
        elapsed = time.monotonic() - started
        time.sleep(2.0)  # the shippers' last batch
        from sqlalchemy import create_engine, text

        engine = create_engine(env["TRAPPA_DATABASE_URL"])
        with engine.connect() as conn:
            stored = {h for (h,) in conn.execute(text("select hook_instance from audit where status = 200"))}
        engine.dispose()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)

    statuses: dict[int, int] = {}
    for status, _, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    latencies = sorted(s for status, s, _ in results if status == 200)
    acknowledged = [h for _, _, h in results if h]
    missing = sum(1 for h in acknowledged if h not in stored)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    print(f"{args.clients} clients, {elapsed:.0f} s, load average {os.getloadavg()[0]:.1f}: "
          f"{len(latencies) / elapsed:.0f} calls/s answered 200; p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms; "
          f"statuses {dict(sorted(statuses.items()))} (0 = connection error); "
          f"audit rows missing for {missing} of {len(acknowledged)} acknowledged calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
