"""Trappa benchmark: how fast the service is, on this machine, in one run (docs/benchmark.md).

    ./trappa bench            # full run, about 4 minutes on 2 cores
    ./trappa bench --quick    # the same steps, shorter, under a minute
    .venv/bin/python bench/run_bench.py --profile 5000   # cProfile of in-process evaluation, top entries

One run:

1. builds request corpora (``bench/corpus.py``) of 10, 100, 1 000 and 5 000 MedicationRequests;
2. times in-process evaluation per request — parse JSON → ``evaluate_request`` → JSON — median/p99;
3. starts the production server (``python -m cds_service serve``, gunicorn, one worker per core) on
   loopback and drives it with a keep-alive load generator (one thread and one raw HTTP/1.1
   connection per concurrent client) at concurrency 1, 8 and 32: throughput, p50/p99, errors;
4. does the same against the floor (``bench/floor_app.py``: the same server, an endpoint that only
   parses the JSON) and reports our throughput as a fraction of the floor's and our latency minus it;
5. sends the same calls without prefetch, against the real FHIR test server (Medplum, as in the
   tests), and compares with the slowest single FHIR query measured directly (same queries, same
   paging): our time beyond that query is the cost of our orchestration;
6. samples the resident memory (VmRSS) of every worker during a 60-second load run;
7. writes ``bench/results/<time>-<profile>.json`` and prints a table.

Correctness is checked on the way (every status, a sample of bodies: cards for the corpus patient);
the exit status is 1 when any request failed, 0 otherwise — missed *targets* are reported, not fatal.
Measurement caveat: on a small machine the load generator shares the cores with the server; its own
CPU time per request is reported next to the server's, and the floor shows what the pair can do.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import platform
import pstats
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the repository importable
    sys.path.insert(0, str(ROOT))

# One evaluation, the one instructions.py counts too.
from bench.evaluation import _dev_settings, evaluate_once, parse_body  # noqa: E402,F401

from bench.corpus import SIZES, TYPICAL_SIZE, CorpusEntry, build_corpus, counts, hook_request, transaction  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"
SERVICE_PATH = "/cds-services/trappa-order-sign"
CARD_TOPIC = "urn:trappa:card-topic"


# ------------------------------------------------------------------------------------------------
# Profiles: how long each step runs
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    name: str
    sizes: tuple[int, ...]
    inproc_seconds: float  # time budget per size
    inproc_max_reps: int
    inproc_min_reps: int
    stage_sizes: tuple[int, ...]  # sizes with a per-stage breakdown
    http_points: tuple[tuple[int, int], ...]  # (record size, concurrency)
    http_seconds: float  # measured window per point
    http_warmup: float  # discarded start of every point
    memory_seconds: float
    memory_warmup: float
    memory_concurrency: int
    fallback_sizes: tuple[int, ...]
    fallback_delays_ms: tuple[int, ...]
    fallback_reps: int


FULL = Profile(
    name="full", sizes=SIZES, inproc_seconds=5.0, inproc_max_reps=500, inproc_min_reps=5,
    stage_sizes=(TYPICAL_SIZE, 5000),
    http_points=((TYPICAL_SIZE, 1), (TYPICAL_SIZE, 8), (TYPICAL_SIZE, 32), (10, 8), (1000, 8)),
    http_seconds=6.0, http_warmup=1.0,
    # Warm-up first: every worker thread must have handled the large record before memory is judged
    # (glibc gives each thread its own malloc arena, so the first peaks raise RSS by design).
    memory_seconds=60.0, memory_warmup=10.0, memory_concurrency=8,
    fallback_sizes=(10, TYPICAL_SIZE), fallback_delays_ms=(0, 20), fallback_reps=15,
)
QUICK = Profile(
    name="quick", sizes=SIZES, inproc_seconds=1.0, inproc_max_reps=200, inproc_min_reps=5,
    stage_sizes=(TYPICAL_SIZE,),
    http_points=((TYPICAL_SIZE, 1), (TYPICAL_SIZE, 8), (TYPICAL_SIZE, 32)),
    http_seconds=1.5, http_warmup=0.5,
    memory_seconds=12.0, memory_warmup=6.0, memory_concurrency=8,
    fallback_sizes=(TYPICAL_SIZE,), fallback_delays_ms=(0, 20), fallback_reps=5,
)
# The test suite's smoke run (tests/runtime/test_bench_smoke.py): every step, tiny corpora, a few seconds.
SMOKE = Profile(
    name="smoke", sizes=(3, 10), inproc_seconds=0.2, inproc_max_reps=5, inproc_min_reps=2,
    stage_sizes=(10,),
    http_points=((10, 1), (10, 4)),
    http_seconds=0.4, http_warmup=0.1,
    memory_seconds=1.0, memory_warmup=0.2, memory_concurrency=2,
    fallback_sizes=(10,), fallback_delays_ms=(0, 20), fallback_reps=2,
)
PROFILES = {p.name: p for p in (FULL, QUICK, SMOKE)}


# ------------------------------------------------------------------------------------------------
# Small statistics
# ------------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) — an observed value, never an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


# ------------------------------------------------------------------------------------------------
# The machine
# ------------------------------------------------------------------------------------------------


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    try:  # uncommitted changes to tracked files: the numbers are not the commit's alone
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                    capture_output=True, text=True, timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        dirty = False
    if commit and dirty:
        commit += "+changes"
    return {
        "nproc": cores(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit,
        # Other work on the machine skews every number: the load average before the run is recorded
        # (and after it, in the result's "load_after").
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }


def calibration(reps: int = 30) -> float:
    """A fixed piece of pure-Python work (parse the typical record's request JSON), median ms: when
    it is slower than usual, other work was sharing the CPU and every number of the run is skewed."""
    from bench.corpus import build_record

    raw = json.dumps(hook_request(build_record(TYPICAL_SIZE))).encode()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        json.loads(raw)
        times.append(time.perf_counter() - t0)
    return ms(statistics.median(times))


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# ------------------------------------------------------------------------------------------------
# 2. In-process evaluation
# ------------------------------------------------------------------------------------------------


def check_cards(response: dict) -> str | None:
    """None if ``response`` is a card list for the corpus patient; else what is wrong."""
    cards = response.get("cards") if isinstance(response, dict) else None
    if not isinstance(cards, list):
        return "no cards list"
    if not cards:
        return "no cards for the corpus patient (long-term oxycodone, no taper plan)"
    for card in cards:
        if not isinstance(card, dict) or not card.get("summary") or not card.get("uuid"):
            return "card without summary or uuid"
        topic = (card.get("source") or {}).get("topic") or {}
        if topic.get("system") != CARD_TOPIC or not topic.get("code"):
            return "card without source.topic"
    return None


def measure_in_process(corpus: dict[int, CorpusEntry], profile: Profile) -> dict:
    """Evaluate under the settings of a server worker (``cds_service.__main__._tune_worker``: start-up
    objects frozen, a higher young-generation threshold, large buffers in their own memory maps); the
    garbage collector's are given back afterwards."""
    import gc

    from cds_service.__main__ import _tune_worker
    from cds_service.protocol.services import SERVICES

    settings = _dev_settings()
    service = SERVICES["trappa-order-sign"]
    smallest = corpus[min(corpus)]
    evaluate_once(smallest.body, settings, service)  # lazy imports and compiled schemas, as in a loaded worker
    threshold = gc.get_threshold()
    # A worker's settings (cds_service.__main__._tune_worker); the allocator's stay after the step (they
    # cannot be undone, and only decide where large buffers live).
    _tune_worker(None)
    try:
        return _measure_in_process(corpus, profile, settings, service)
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def _measure_in_process(corpus: dict[int, CorpusEntry], profile: Profile, settings, service) -> dict:
    out: dict = {"sizes": {}}
    for n in profile.sizes:
        entry = corpus[n]
        for _ in range(2):  # warm-up: lazy imports, compiled schemas, caches
            _, response = evaluate_once(entry.body, settings, service)
        problem = check_cards(response)
        times: list[float] = []
        cpu: list[float] = []
        deadline = time.perf_counter() + profile.inproc_seconds
        while len(times) < profile.inproc_max_reps and (
            len(times) < profile.inproc_min_reps or time.perf_counter() < deadline
        ):
            seconds, _ = evaluate_once(entry.body, settings, service, cpu)
            times.append(seconds)
        median = statistics.median(times)
        out["sizes"][n] = {
            "reps": len(times),
            "median_ms": ms(median),
            "p99_ms": ms(percentile(times, 99)),
            "min_ms": ms(min(times)),
            # CPU time of the evaluating thread: barely touched by other work waiting for the same
            # cores, so it is the steadier figure on a shared machine (the targets use wall time).
            "median_cpu_ms": ms(statistics.median(cpu)),
            "us_per_medication_request": round(median / n * 1e6, 2),
            "body_bytes": len(entry.body),
            "cards": len(response.get("cards", [])),
            "topics": sorted({c["source"]["topic"]["code"] for c in response.get("cards", [])
                              if isinstance(c, dict) and "source" in c}),
            "problem": problem,
        }
    sizes = sorted(out["sizes"])
    if TYPICAL_SIZE in out["sizes"] and sizes[-1] > TYPICAL_SIZE:
        big = sizes[-1]
        t_small, t_big = out["sizes"][TYPICAL_SIZE]["median_ms"], out["sizes"][big]["median_ms"]
        out["growth"] = {
            "from": TYPICAL_SIZE, "to": big,
            "time_ratio": round(t_big / t_small, 2),
            "size_ratio": big / TYPICAL_SIZE,
            # t ∝ n^k between the two sizes; k ≤ 1 is linear or better.
            "exponent": round(math.log(t_big / t_small) / math.log(big / TYPICAL_SIZE), 3),
        }
    out["stages"] = {n: stage_breakdown(corpus[n].body, settings, service) for n in profile.stage_sizes if n in corpus}
    return out


def stage_breakdown(raw: bytes, settings, service, reps: int = 15, budget_s: float = 2.0) -> dict:
    """Median milliseconds of each step of ``evaluate_request`` (the same calls in the same order),
    to say where the time goes. Diagnostic only: the total above is the measurement."""
    from fhir_mappings.read.facts import build_patient_facts

    from cds_service.cards import render as card_renderer
    from cds_service import rules
    from cds_service.runtime.cycles import collect_call_cycles
    from cds_service.protocol.evaluate import draft_orders, today_for
    from cds_service.protocol.gather import fetch_missing_medications, gather
    from cds_service.protocol.jsonio import dump_response
    from cds_service.protocol.validate import validate_request
    from cds_service.domain.settings import ClinicalSettings
    from cds_service.rules.finding import RuleContext

    stages: dict[str, list[float]] = {
        k: [] for k in ("parse", "validate", "gather", "facts", "rules", "cards", "dump", "free", "collect")
    }
    deadline = time.perf_counter() + budget_s
    for i in range(reps):
        if i >= 3 and time.perf_counter() > deadline:
            break
        t = [time.perf_counter()]
        body = parse_body(raw)
        t.append(time.perf_counter())
        validate_request(body, service.hook)
        t.append(time.perf_counter())
        today = today_for(body, settings)
        data = gather(body, settings, None)
        ctx_json = body["context"]
        drafts = draft_orders(body, service.hook)
        fetch_missing_medications(body, data, drafts, settings, None)
        t.append(time.perf_counter())
        facts = build_patient_facts(ctx_json["patientId"], data.resources, drafts, today, gaps=data.gaps)
        t.append(time.perf_counter())
        ctx = RuleContext(hook=service.hook, today=today, user_ref=ctx_json.get("userId"),
                          patient_ref=f"Patient/{ctx_json['patientId']}", settings=ClinicalSettings())
        findings = rules.evaluate(facts, ctx)
        t.append(time.perf_counter())
        shared = card_renderer.base_facts(facts)
        sent = {d["id"]: d for d in drafts if isinstance(d.get("id"), str)}
        response = {"cards": [card_renderer.render(f, facts, "sv", shared, sent) for f in findings]}
        t.append(time.perf_counter())
        dump_response(response)
        t.append(time.perf_counter())
        del body, data, drafts, facts, ctx, findings, shared, response, ctx_json  # freeing the request
        t.append(time.perf_counter())
        collect_call_cycles()
        t.append(time.perf_counter())
        for j, name in enumerate(stages):
            stages[name].append(t[j + 1] - t[j])
    return {name: ms(statistics.median(v)) for name, v in stages.items()}


def profile_in_process(n: int, reps: int = 20, top: int = 25) -> str:
    """cProfile of ``reps`` in-process evaluations of the size-``n`` record; the top entries by
    cumulative and by own time (stdlib only, so it runs anywhere the service runs)."""
    from cds_service.protocol.services import SERVICES

    entry = build_corpus((n,))[n]
    settings, service = _dev_settings(), SERVICES["trappa-order-sign"]
    evaluate_once(entry.body, settings, service)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(reps):
        evaluate_once(entry.body, settings, service)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# Server processes
# ------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A gunicorn server process on loopback (ours or the floor): start, worker pids, stop."""

    def __init__(self, name: str, argv: list[str], workers: int, env: dict[str, str] | None = None,
                 threads: int | None = None):
        self.name = name
        self.port = free_port()
        self.workers = workers
        self.threads = threads
        self._tmp = tempfile.TemporaryDirectory(prefix=f"trappa-bench-{name}-")
        self.argv = [a.replace("{port}", str(self.port)).replace("{tmp}", self._tmp.name) for a in argv]
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TRAPPA_")},
            "PYTHONUNBUFFERED": "1",
            **{k: v.replace("{tmp}", self._tmp.name) for k, v in (env or {}).items()},
        }
        self.log_path = Path(self._tmp.name) / "server.log"
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "Server":
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited early:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"{self.name} server did not become healthy:\n{self.log()}")
        while time.monotonic() < deadline and len(self.worker_pids()) < self.workers:
            time.sleep(0.05)
        return self

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: the master's child processes."""
        if self.proc is None:
            return []
        pid = self.proc.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            return sorted(int(c) for c in children)
        except OSError:
            pass
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
        return sorted(found)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()
        self._tmp.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def trappa_server(workers: int, threads: int) -> Server:
    """The production server, as the README runs it (``serve --dev``: auth off, clock override on)."""
    return Server(
        "trappa",
        [sys.executable, "-m", "cds_service", "serve", "--host", "127.0.0.1", "--port", "{port}",
         "--workers", str(workers), "--threads", str(threads), "--dev"],
        workers,
        env={"TRAPPA_DATABASE_URL": "sqlite:///{tmp}/trappa.sqlite3"},
        threads=threads,
    )


def floor_server(workers: int, threads: int) -> Server:
    return Server(
        "floor",
        [sys.executable, str(ROOT / "bench" / "floor_app.py"), "--host", "127.0.0.1", "--port", "{port}",
         "--workers", str(workers), "--threads", str(threads)],
        workers,
        threads=threads,
    )


_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes, in seconds (0 for a process that is gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / _CLK_TCK


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# ------------------------------------------------------------------------------------------------
# 3./4. The load generator: one thread and one keep-alive HTTP/1.1 connection per client
# ------------------------------------------------------------------------------------------------


class Connection:
    """A minimal HTTP/1.1 keep-alive client over one socket: a pre-encoded request in, status and
    body out. Far cheaper per request than http.client or requests, so the generator stays small
    next to the server on a two-core machine."""

    def __init__(self, host: str, port: int):
        self.addr = (host, port)
        self.sock: socket.socket | None = None
        self.buf = bytearray()

    def connect(self) -> None:
        self.close()
        self.sock = socket.create_connection(self.addr, timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def _fill(self) -> None:
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def request(self, payload: bytes) -> tuple[int, bytes]:
        if self.sock is None:
            self.connect()
        self.sock.sendall(payload)
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self._fill()
        head = bytes(self.buf[:end]).split(b"\r\n")
        del self.buf[: end + 4]
        status = int(head[0].split(b" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in head[1:]:
            key, _, value = line.partition(b":")
            key = key.strip().lower()
            if key == b"content-length":
                length = int(value)
            elif key == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif key == b"connection" and value.strip().lower() == b"close":
                close = True
        if chunked:
            body = self._chunked()
        else:
            while len(self.buf) < length:
                self._fill()
            body = bytes(self.buf[:length])
            del self.buf[:length]
        if close:
            self.close()
        return status, body

    def _chunked(self) -> bytes:
        out = bytearray()
        while True:
            while (end := self.buf.find(b"\r\n")) < 0:
                self._fill()
            size = int(bytes(self.buf[:end]).split(b";")[0], 16)
            del self.buf[: end + 2]
            while len(self.buf) < size + 2:
                self._fill()
            out += self.buf[:size]
            del self.buf[: size + 2]
            if size == 0:
                return bytes(out)


def http_request(path: str, port: int, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", "Connection: keep-alive"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@dataclass
class LoadResult:
    concurrency: int
    seconds: float  # measured window
    requests: int  # completed inside the window
    rps: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    errors: int  # anywhere in the run, warm-up included
    checked: int  # bodies fully validated
    error_samples: list[str] = field(default_factory=list)
    client_cpu_us_per_request: float | None = None  # the generator's own CPU time
    server_cpu_ms_per_request: float | None = None  # all workers' CPU time
    # Each worker's share of the server CPU time: keep-alive connections stay with the worker that
    # accepted them, so an uneven split (e.g. 0.8/0.2) means one core did most of the work.
    server_cpu_split: list[float] = field(default_factory=list)
    connections_per_worker: list[int] = field(default_factory=list)  # after balancing


def connection_owners(server_port: int, pids: list[int]) -> dict[int, int]:
    """Client port → pid of the worker holding the accepted socket (from /proc: the workers' socket
    inodes, and the TCP tables that name each socket's ports). Empty where /proc cannot say."""
    inode_pid: dict[int, int] = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inode_pid[int(target[8:-1])] = pid
    owners: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            parts = row.split()
            if len(parts) < 10:
                continue
            local_port = int(parts[1].rsplit(":", 1)[1], 16)
            remote_port = int(parts[2].rsplit(":", 1)[1], 16)
            inode = int(parts[9])
            if local_port == server_port and inode in inode_pid:
                owners[remote_port] = inode_pid[inode]
    return owners


def balance_connections(conns: list["Connection"], port: int, pids: list[int], warm: bytes,
                        max_attempts: int = 200) -> dict[int, int]:
    """Reconnect clients until every worker holds an equal share (±1) of the connections.

    A keep-alive connection stays with the worker that accepted it, and gunicorn's gthread workers
    accept in bursts: left alone, eight connections opened together often all land on one worker
    and the other core idles — a measurement of that lottery, not of the service. A front proxy
    balancing by connections would spread them; so does this. Returns connections per worker."""
    def owners() -> dict[int, int]:
        mapping = connection_owners(port, pids)
        return {i: mapping.get(c.sock.getsockname()[1]) for i, c in enumerate(conns) if c.sock is not None}

    for c in conns:
        c.request(warm)  # the worker has accepted and served it: its socket is in the worker's fds
    limit = -(-len(conns) // max(1, len(pids)))  # ceil
    for _ in range(max_attempts):
        who = owners()
        per: dict[int, list[int]] = {pid: [] for pid in pids}
        for i, pid in who.items():
            if pid in per:
                per[pid].append(i)
        if sum(1 for pid in who.values() if pid is not None) < len(conns):
            break  # /proc could not place every connection: leave them as they are
        crowded = [pid for pid, held in per.items() if len(held) > limit]
        if not crowded:
            return {pid: len(held) for pid, held in per.items()}
        i = per[crowded[0]][-1]
        conns[i].connect()
        conns[i].request(warm)
    who = owners()
    return {pid: sum(1 for p in who.values() if p == pid) for pid in pids}


def drive(port: int, payloads: list[bytes], concurrency: int, seconds: float, warmup: float,
          check=None, check_every: int = 10, server_pids: list[int] | None = None,
          on_progress=None, balance: bool = True) -> LoadResult:
    """``concurrency`` clients, each sending ``payloads`` in turn (offset by its index) back to back
    for ``warmup + seconds``; only requests started and finished inside the measured window count.
    Every status is checked; ``check(body) -> error or None`` on each client's first body and every
    ``check_every``-th after. With ``balance`` (and ``server_pids``), the connections are first spread
    evenly over the workers (:func:`balance_connections`)."""
    conns = [Connection("127.0.0.1", port) for _ in range(concurrency)]
    held: dict[int, int] = {}
    connect_errors: list[str] = []
    try:
        for c in conns:
            c.connect()
        if balance and server_pids:
            held = balance_connections(conns, port, server_pids, payloads[0])
    except (OSError, ValueError, IndexError) as exc:
        connect_errors.append(f"connect: {type(exc).__name__}: {exc}")
    barrier = threading.Barrier(concurrency + 1)
    lock = threading.Lock()
    samples: list[list[tuple[float, float]]] = [[] for _ in range(concurrency)]
    errors: list[str] = list(connect_errors)
    checked = [0]
    window: dict[str, float] = {}

    def client(i: int) -> None:
        conn = conns[i]
        mine = samples[i]
        k = i
        barrier.wait()
        end = window["end"]
        sent = 0
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                break
            payload = payloads[k % len(payloads)]
            k += 1
            try:
                status, body = conn.request(payload)
            except (OSError, ValueError, IndexError) as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                time.sleep(0.01)
                continue
            t1 = time.perf_counter()
            problem = None if status == 200 else f"HTTP {status}: {body[:200]!r}"
            if problem is None and check is not None and sent % check_every == 0:
                problem = check(body)
                with lock:
                    checked[0] += 1
            sent += 1
            if problem:
                with lock:
                    errors.append(problem)
            else:
                mine.append((t0, t1))
        conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    window["start"], window["end"] = start + warmup, start + warmup + seconds
    barrier.wait()
    # CPU counters at the start of the measured window.
    time.sleep(max(0.0, window["start"] - time.perf_counter()))
    cpu_client0 = time.process_time()
    per_worker0 = [cpu_seconds([p]) for p in server_pids or []]
    if on_progress:
        on_progress(window)
    for t in threads:
        t.join(timeout=warmup + seconds + 60)
    cpu_client1 = time.process_time()
    per_worker = [cpu_seconds([p]) - c0 for p, c0 in zip(server_pids or [], per_worker0)]
    cpu_server = sum(per_worker)
    lat = [t1 - t0 for s in samples for (t0, t1) in s if t0 >= window["start"] and t1 <= window["end"]]
    n = len(lat)
    return LoadResult(
        concurrency=concurrency,
        seconds=seconds,
        requests=n,
        rps=round(n / seconds, 1),
        p50_ms=ms(percentile(lat, 50)),
        p90_ms=ms(percentile(lat, 90)),
        p99_ms=ms(percentile(lat, 99)),
        max_ms=ms(max(lat) if lat else None),
        errors=len(errors),
        checked=checked[0],
        error_samples=errors[:5],
        # A few requests finish just after the window; their CPU is a rounding error at these counts.
        client_cpu_us_per_request=round((cpu_client1 - cpu_client0) / n * 1e6, 1) if n else None,
        server_cpu_ms_per_request=round(cpu_server / n * 1e3, 3) if n and server_pids else None,
        server_cpu_split=[round(c / cpu_server, 2) for c in per_worker] if cpu_server > 0 else [],
        connections_per_worker=[held.get(p, 0) for p in server_pids or []],
    )


def check_trappa_body(body: bytes) -> str | None:
    try:
        return check_cards(json.loads(body))
    except ValueError:
        return "response is not JSON"


def check_floor_body(body: bytes) -> str | None:
    return None if body == b'{"cards": []}' else f"floor answered {body[:80]!r}"


def measure_http(server: Server, corpus: dict[int, CorpusEntry], profile: Profile, check,
                 points: tuple[tuple[int, int], ...] | None = None) -> list[dict]:
    out = []
    for size, c in points or profile.http_points:
        payload = http_request(SERVICE_PATH, server.port, corpus[size].body)
        res = drive(server.port, [payload], c, profile.http_seconds, profile.http_warmup, check=check,
                    server_pids=server.worker_pids())
        out.append({"size": size, **asdict(res)})
        print(f"  {server.name:6} size {size:>5} c={c:<3} {res.rps:8.1f} req/s  p50 {res.p50_ms} ms  "
              f"p99 {res.p99_ms} ms  errors {res.errors}", flush=True)
    return out


def compare(ours: list[dict], floor: list[dict]) -> list[dict]:
    by_key = {(f["size"], f["concurrency"]): f for f in floor}
    out = []
    for o in ours:
        f = by_key.get((o["size"], o["concurrency"]))
        if not f or not f["rps"]:
            continue
        out.append({
            "size": o["size"], "concurrency": o["concurrency"],
            "throughput_fraction": round(o["rps"] / f["rps"], 3),
            "p50_minus_floor_ms": _diff(o["p50_ms"], f["p50_ms"]),
            "p99_minus_floor_ms": _diff(o["p99_ms"], f["p99_ms"]),
        })
    return out


def _diff(a, b):
    return None if a is None or b is None else round(a - b, 3)


# ------------------------------------------------------------------------------------------------
# 6. Memory over a load run
# ------------------------------------------------------------------------------------------------


def _trend_kib_per_s(samples: list[tuple[float, int]]) -> float | None:
    """Slope of the least-squares line through (seconds, KiB) samples; None with fewer than three."""
    if len(samples) < 3:
        return None
    xs, ys = [t for t, _ in samples], [kib for _, kib in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mx) ** 2 for x in xs)
    if spread == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / spread


def measure_memory(server: Server, corpus: dict[int, CorpusEntry], profile: Profile) -> dict:
    """Drive the server for ``memory_seconds`` (mostly the typical record, every tenth the largest
    one that fits in a request) and sample each worker's VmRSS once a second."""
    pids = server.worker_pids()
    typical = TYPICAL_SIZE if TYPICAL_SIZE in corpus else min(corpus)
    large = max((n for n in corpus if n <= 1000), default=typical)
    mix = [corpus[typical].body] * 9 + [corpus[large].body]
    payloads = [http_request(SERVICE_PATH, server.port, b) for b in mix]
    interval = 1.0 if profile.memory_seconds >= 10 else max(0.1, profile.memory_seconds / 10)
    samples: dict[int, list[tuple[float, int]]] = {pid: [] for pid in pids}
    stop = threading.Event()

    def sampler(window):
        def run():
            t_start = window["start"]
            while not stop.is_set():
                now = time.perf_counter()
                if now >= t_start:
                    for pid in pids:
                        kib = rss_kib(pid)
                        if kib is not None:
                            samples[pid].append((round(now - t_start, 2), kib))
                stop.wait(interval)
        threading.Thread(target=run, daemon=True).start()

    # Warm-up, first part: the large record on every worker thread at once, so each thread's malloc
    # arena reaches the peak the mix will ask of it; second part: the mix itself (drive's warm-up).
    threads = server.threads or 1
    warm = drive(server.port, [payloads[-1]], len(pids) * threads, profile.memory_warmup / 2, 0.0,
                 check=check_trappa_body, check_every=50, server_pids=pids)
    res = drive(server.port, payloads, profile.memory_concurrency, profile.memory_seconds, profile.memory_warmup / 2,
                check=check_trappa_body, check_every=50, server_pids=pids, on_progress=sampler)
    res.errors += warm.errors
    res.error_samples += warm.error_samples
    stop.set()
    for pid in pids:  # one last sample at the end of the run
        kib = rss_kib(pid)
        if kib is not None:
            samples[pid].append((round(profile.memory_seconds, 2), kib))
    same_workers = server.worker_pids() == pids
    workers = []
    for pid in pids:
        values = [kib for _, kib in samples[pid]]
        if not values:
            continue
        quarter = max(1, len(values) // 4)
        first, last = statistics.median(values[:quarter]), statistics.median(values[-quarter:])
        growth_kib = last - first
        trend = _trend_kib_per_s(samples[pid])
        workers.append({
            "pid": pid,
            "start_mib": round(first / 1024, 1),
            "end_mib": round(last / 1024, 1),
            "max_mib": round(max(values) / 1024, 1),
            "growth_mib": round(growth_kib / 1024, 2),
            "trend_mib_per_min": None if trend is None else round(trend * 60 / 1024, 2),
            "fitted_growth_mib": None if trend is None else round(trend * profile.memory_seconds / 1024, 2),
            "samples": samples[pid],
        })
    # Flat: no worker grew by more than 1 MiB over the run — by the least-squares line through all its
    # samples, so that the large records in flight (RSS ±1 MiB from one sample to the next) do not
    # decide it as they did the medians of the first and last quarter (still reported) — and no worker
    # was replaced. A growth per request is a trend, and the line measures exactly that.
    flat = bool(workers) and same_workers and all(
        w["fitted_growth_mib"] is not None and w["fitted_growth_mib"] <= 1.0 for w in workers)
    total_growth_kib = sum(w["growth_mib"] for w in workers) * 1024
    return {
        "seconds": profile.memory_seconds,
        "concurrency": profile.memory_concurrency,
        "mix": {"typical": typical, "large": large, "large_share": 0.1},
        "requests": res.requests,
        "rps": res.rps,
        "errors": res.errors,
        "error_samples": res.error_samples,
        "same_workers_throughout": same_workers,
        "workers": workers,
        # All workers' growth over all requests: a per-request leak of b bytes shows as ≈ b KiB here.
        "growth_kib_per_1000_requests": round(total_growth_kib / res.requests * 1000, 2) if res.requests else None,
        "flat": flat,
    }


# ------------------------------------------------------------------------------------------------
# 5. The fallback path: no prefetch, the real FHIR test server
# ------------------------------------------------------------------------------------------------


def fetch_direct(session, base: str, query: str, token: str, max_pages: int) -> tuple[float, int, int]:
    """One FHIR query as the service sends it (same URL, headers and paging): (seconds, pages, resources)."""
    t0 = time.perf_counter()
    url: str | None = f"{base}/{query}"
    pages = resources = 0
    headers = {"Accept": "application/fhir+json", "Authorization": f"Bearer {token}"}
    while url and pages < max_pages:
        resp = session.get(url, headers=headers, timeout=10, allow_redirects=False)
        resp.raise_for_status()
        body = resp.json()
        pages += 1
        if body.get("resourceType") != "Bundle":
            resources += 1
            break
        resources += len(body.get("entry") or [])
        url = next((link["url"] for link in body.get("link") or [] if link.get("relation") == "next"), None)
    return time.perf_counter() - t0, pages, resources


def measure_fallback(server: Server, fhir, corpus: dict[int, CorpusEntry], profile: Profile,
                     in_process: dict) -> dict:
    import requests

    from cds_service.web.config import Settings
    from cds_service.protocol.gather import render_query
    from cds_service.protocol.services import PREFETCH

    max_pages = Settings().fhir_max_pages
    session = requests.Session()
    session.trust_env = False
    client = Connection("127.0.0.1", server.port)
    out: dict = {"fhir_server": "Medplum 4.5.2 in-memory (tests/fhir_server), page size 20",
                 "fhir_server_startup_s": round(fhir.startup_seconds or 0, 2), "runs": []}
    loaded = {}
    for n in profile.fallback_sizes:
        t0 = time.perf_counter()
        fhir.load(transaction(corpus[n].record))
        loaded[n] = round(time.perf_counter() - t0, 2)
    out["load_seconds"] = loaded
    try:
        for delay in profile.fallback_delays_ms:
            fhir.set_delay(delay)
            for n in profile.fallback_sizes:
                record = corpus[n].record
                request = hook_request(record, with_prefetch=False, fhir_server=fhir.base_url)
                token = request["fhirAuthorization"]["access_token"]
                payload = http_request(SERVICE_PATH, server.port, json.dumps(request).encode())
                queries = {k: render_query(t, request["context"]) for k, t in PREFETCH.items()}
                service_s, slowest_s, sum_s, errors = [], [], [], []
                per_query: dict[str, list[float]] = {k: [] for k in queries}
                pages: dict[str, int] = {}
                for rep in range(profile.fallback_reps + 1):  # the first is a warm-up
                    times = {}
                    for key, q in queries.items():
                        seconds, pages[key], _ = fetch_direct(session, fhir.base_url, q, token, max_pages)
                        times[key] = seconds
                    t0 = time.perf_counter()
                    try:
                        status, body = client.request(payload)
                        problem = None if status == 200 else f"HTTP {status}: {body[:200]!r}"
                        problem = problem or check_trappa_body(body)
                    except OSError as exc:
                        problem = f"{type(exc).__name__}: {exc}"
                        client.close()
                    took = time.perf_counter() - t0
                    if problem:
                        errors.append(problem)
                        continue
                    if rep == 0:
                        continue
                    service_s.append(took)
                    slowest_s.append(max(times.values()))
                    sum_s.append(sum(times.values()))
                    for key, seconds in times.items():
                        per_query[key].append(seconds)
                run = {"size": n, "delay_ms": delay, "reps": len(service_s), "errors": len(errors),
                       "error_samples": errors[:3], "pages": pages}
                if service_s:
                    svc, slow, total = (statistics.median(v) for v in (service_s, slowest_s, sum_s))
                    inproc = (in_process.get("sizes", {}).get(n) or {}).get("median_ms")
                    run.update({
                        "service_ms": ms(svc),
                        "slowest_query_ms": ms(slow),
                        "sum_of_queries_ms": ms(total),
                        "queries_ms": {k: ms(statistics.median(v)) for k, v in per_query.items()},
                        "beyond_slowest_ms": ms(svc - slow),
                        "beyond_slowest_pct": round((svc - slow) / slow * 100, 1),
                        # What is left after also taking off the evaluation itself (in-process, prefetched):
                        # fetching in parallel, HTTP in and out, the audit row.
                        "in_process_eval_ms": inproc,
                        "orchestration_ms": ms(svc - slow - (inproc or 0) / 1000),
                        "orchestration_pct": round((svc - slow - (inproc or 0) / 1000) / slow * 100, 1),
                    })
                out["runs"].append(run)
                print(f"  fallback size {n:>4} delay {delay:>3} ms: service {run.get('service_ms')} ms, "
                      f"slowest query {run.get('slowest_query_ms')} ms, sum {run.get('sum_of_queries_ms')} ms, "
                      f"errors {len(errors)}", flush=True)
    finally:
        fhir.set_delay(0)
        client.close()
        session.close()
    return out


# ------------------------------------------------------------------------------------------------
# Targets (docs/benchmark.md)
# ------------------------------------------------------------------------------------------------


def targets(result: dict) -> list[dict]:
    def target(name, value, limit, met, unit=""):
        return {"target": name, "value": value, "limit": limit, "unit": unit,
                "met": None if value is None else bool(met)}

    sizes = result["in_process"]["sizes"]
    out = []
    typical = (sizes.get(TYPICAL_SIZE) or {}).get("median_ms")
    out.append(target(f"in-process median, {TYPICAL_SIZE} MedicationRequests", typical, 5, typical is not None and typical <= 5, "ms"))
    big = (sizes.get(5000) or {}).get("median_ms")
    out.append(target("in-process median, 5000 MedicationRequests", big, 50, big is not None and big <= 50, "ms"))
    growth = result["in_process"].get("growth") or {}
    k = growth.get("exponent")
    out.append(target(f"growth {growth.get('from')}→{growth.get('to')} no worse than linear (t ∝ n^k)", k, 1.0,
                      k is not None and k <= 1.0, "k"))
    c8 = next((c for c in result["http"]["comparison"] if c["size"] == TYPICAL_SIZE and c["concurrency"] == 8), None)
    o8 = next((o for o in result["http"]["trappa"] if o["size"] == TYPICAL_SIZE and o["concurrency"] == 8), None)
    p99 = o8["p99_ms"] if o8 else None
    out.append(target("HTTP c=8 p99, typical record", p99, 30, p99 is not None and p99 <= 30, "ms"))
    frac = c8["throughput_fraction"] if c8 else None
    out.append(target("HTTP c=8 throughput / floor, typical record", frac, 0.6, frac is not None and frac >= 0.6))
    runs = [r for r in result["fallback"].get("runs", []) if r.get("size") == TYPICAL_SIZE and r.get("delay_ms")]
    fb = runs[-1] if runs else None
    pct = fb.get("beyond_slowest_pct") if fb else None
    out.append(target(f"fallback: time beyond the slowest FHIR query, typical record, "
                      f"{fb['delay_ms'] if fb else '?'} ms/response", pct, 20, pct is not None and pct <= 20, "%"))
    flat = result["memory"].get("flat")
    out.append(target(f"memory flat over {result['memory'].get('seconds')} s", flat, True, flat))
    return out


# ------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------


def run(profile: Profile, out_dir: Path | None = RESULTS_DIR, workers: int | None = None,
        threads: int | None = None) -> dict:
    """Every step of the benchmark; returns the result (also written to ``out_dir`` when given)."""
    from tests.support.fhir_server import FhirTestServer, ensure_node_modules

    started = time.perf_counter()
    workers = workers or cores()
    threads = threads or int(os.environ.get("TRAPPA_THREADS", 4))
    result: dict = {
        "profile": profile.name,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "server": {"workers": workers, "threads": threads, "worker_class": "gthread", "mode": "serve --dev"},
    }
    print(f"Trappa benchmark ({profile.name}) on {result['machine']['nproc']} cores, {result['machine']['cpu']}",
          flush=True)

    t0 = time.perf_counter()
    corpus = build_corpus(profile.sizes)
    result["machine"]["calibration_before_ms"] = calibration()
    result["corpus"] = {"build_seconds": round(time.perf_counter() - t0, 3),
                        "sizes": {n: {"resources": counts(e.record), "body_bytes": len(e.body)} for n, e in corpus.items()}}

    print("in-process evaluation …", flush=True)
    result["in_process"] = measure_in_process(corpus, profile)

    http_corpus = {n: corpus[n] for n in {s for s, _ in profile.http_points}}
    ensure_node_modules()
    # Both servers run at once (an idle one costs nothing) and each point is measured on the floor and
    # then on ours back to back, so a change in other work on the machine hits both alike.
    print("HTTP: floor and trappa, point by point …", flush=True)
    with floor_server(workers, threads) as floor, trappa_server(workers, threads) as ours:
        floor_runs, ours_runs = [], []
        for point in profile.http_points:
            floor_runs += measure_http(floor, http_corpus, profile, check_floor_body, points=(point,))
            ours_runs += measure_http(ours, http_corpus, profile, check_trappa_body, points=(point,))
        result["http"] = {"floor": floor_runs, "trappa": ours_runs, "comparison": compare(ours_runs, floor_runs)}
        floor.stop()
        print(f"memory: {profile.memory_seconds:g} s at c={profile.memory_concurrency} …", flush=True)
        result["memory"] = measure_memory(ours, corpus, profile)
        print("fallback (no prefetch, FHIR test server) …", flush=True)
        with FhirTestServer() as fhir:
            result["fallback"] = measure_fallback(ours, fhir, corpus, profile, result["in_process"])

    result["targets"] = targets(result)
    result["errors"] = (
        sum(r["errors"] for r in floor_runs + ours_runs)
        + result["memory"]["errors"]
        + sum(r["errors"] for r in result["fallback"]["runs"])
        + sum(1 for s in result["in_process"]["sizes"].values() if s["problem"])
    )
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    result["machine"]["calibration_after_ms"] = calibration()
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = out_dir / f"{stamp}-{profile.name}.json"
        path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        result["written_to"] = str(path)
    return result


def run_instructions(out_dir: Path | None = RESULTS_DIR, sizes=None, reps=None) -> int:
    """``--instructions``: :mod:`bench.instructions`, printed and written as JSON like a benchmark run.
    Exit 1 when the instructions could not be counted (valgrind missing or failing)."""
    from bench import instructions

    print("instructions per in-process evaluation (valgrind callgrind) …", flush=True)
    started = time.perf_counter()
    result = {
        "profile": "instructions",
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
    }
    try:
        result["instructions"] = instructions.measure(sizes or instructions.SIZES, reps)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        result["instructions"] = {"available": False, "reason": str(exc), "sizes": {}}
    result["seconds"] = round(time.perf_counter() - started, 1)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-instructions.json"
        path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        result["written_to"] = str(path)
    print(f"commit {result['machine']['commit'] or '?'} — {result['seconds']} s")
    print(instructions.table(result["instructions"]))
    if result.get("written_to"):
        print(f"Result: {result['written_to']}")
    return 0 if result["instructions"]["available"] else 1


def table(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"Trappa benchmark — {result['profile']} — {m['nproc']} cores, {m['cpu']}, Python {m['python']}, "
        f"commit {m['commit'] or '?'} — {result['seconds']} s",
        f"load average before {m['load_before']}, after {result.get('load_after')}; calibration (json.loads of the "
        f"typical request) {m.get('calibration_before_ms')} → {m.get('calibration_after_ms')} ms — other work on the "
        "machine skews every number",
        "",
        "In-process (parse JSON → evaluate_request → JSON), per request",
        f"  {'MedReqs':>7} {'KiB':>6} {'reps':>5} {'median ms':>10} {'p99 ms':>8} {'CPU ms':>7} {'µs/MR':>7}  cards",
    ]
    for n, s in sorted(result["in_process"]["sizes"].items(), key=lambda kv: int(kv[0])):
        lines.append(f"  {n:>7} {s['body_bytes'] / 1024:>6.0f} {s['reps']:>5} {s['median_ms']:>10.2f} {s['p99_ms']:>8.2f} "
                     f"{s['median_cpu_ms']:>7.2f} {s['us_per_medication_request']:>7.1f}  {s['cards']}"
                     + (f"  PROBLEM: {s['problem']}" if s["problem"] else ""))
    g = result["in_process"].get("growth")
    if g:
        lines.append(f"  growth {g['from']}→{g['to']}: time ×{g['time_ratio']} for size ×{g['size_ratio']:g} (t ∝ n^{g['exponent']})")
    for n, st in result["in_process"].get("stages", {}).items():
        lines.append(f"  stages at {n}: " + ", ".join(f"{k} {v:.2f}" for k, v in st.items()) + " ms")
    srv = result["server"]
    lines += ["", f"HTTP, loopback, keep-alive (gunicorn {srv['workers']} workers × {srv['threads']} threads; "
                  "client CPU = the load generator's own)",
              f"  {'size':>5} {'c':>3} | {'trappa rps':>10} {'p50':>7} {'p99':>7} | {'floor rps':>9} {'p50':>6} {'p99':>6} | "
              f"{'fraction':>8} {'Δp50':>7} {'Δp99':>7} | {'srv ms/req':>10} {'split':>9} {'cli µs/req':>10} {'errors':>6}"]
    floor = {(f["size"], f["concurrency"]): f for f in result["http"]["floor"]}
    comp = {(c["size"], c["concurrency"]): c for c in result["http"]["comparison"]}
    for o in result["http"]["trappa"]:
        key = (o["size"], o["concurrency"])
        f, c = floor.get(key, {}), comp.get(key, {})
        lines.append(
            f"  {o['size']:>5} {o['concurrency']:>3} | {o['rps']:>10.1f} {_f(o['p50_ms']):>7} {_f(o['p99_ms']):>7} | "
            f"{f.get('rps', 0):>9.1f} {_f(f.get('p50_ms')):>6} {_f(f.get('p99_ms')):>6} | "
            f"{_f(c.get('throughput_fraction'), 2):>8} {_f(c.get('p50_minus_floor_ms')):>7} {_f(c.get('p99_minus_floor_ms')):>7} | "
            f"{_f(o['server_cpu_ms_per_request'], 2):>10} {'/'.join(f'{x:.2f}' for x in o['server_cpu_split']):>9} "
            f"{_f(o['client_cpu_us_per_request'], 0):>10} {o['errors'] + f.get('errors', 0):>6}")
    lines += ["", "Fallback: no prefetch, FHIR test server (Node, single-threaded), median ms",
              f"  {'size':>5} {'delay':>5} | {'service':>8} {'slowest q':>9} {'sum q':>7} | {'beyond slowest':>16} | "
              f"{'minus eval':>16} | errors"]
    for r in result["fallback"]["runs"]:
        if "service_ms" not in r:
            lines.append(f"  {r['size']:>5} {r['delay_ms']:>5} | no successful request; errors {r['errors']}: {r['error_samples']}")
            continue
        lines.append(
            f"  {r['size']:>5} {r['delay_ms']:>5} | {r['service_ms']:>8.1f} {r['slowest_query_ms']:>9.1f} {r['sum_of_queries_ms']:>7.1f} | "
            f"{r['beyond_slowest_ms']:>7.1f} ({r['beyond_slowest_pct']:>5.1f} %) | "
            f"{r['orchestration_ms']:>7.1f} ({r['orchestration_pct']:>5.1f} %) | {r['errors']}")
    mem = result["memory"]
    lines += ["", f"Memory: {mem['seconds']:g} s at c={mem['concurrency']}, {mem['requests']} requests "
                  f"({mem['rps']} req/s), errors {mem['errors']} — {'FLAT' if mem['flat'] else 'NOT FLAT'}"]
    for w in mem["workers"]:
        lines.append(f"  worker {w['pid']}: {w['start_mib']} → {w['end_mib']} MiB (max {w['max_mib']}; "
                     f"trend {_f(w['trend_mib_per_min'], 2)} MiB/min = {_f(w['fitted_growth_mib'], 2)} MiB over the "
                     f"run; first vs last quarter medians {w['growth_mib']:+} MiB)")
    lines.append(f"  all workers: {mem['growth_kib_per_1000_requests']} KiB per 1000 requests")
    lines += ["", "Targets"]
    for t in result["targets"]:
        mark = {True: "met   ", False: "MISSED", None: "n/a   "}[t["met"]]
        lines.append(f"  {mark} {t['target']}: {t['value']} {t['unit']} (limit {t['limit']} {t['unit']})".rstrip())
    lines += ["", f"Errors (all steps): {result['errors']}"]
    if result.get("written_to"):
        lines.append(f"Result: {result['written_to']}")
    return "\n".join(lines)


def _f(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./trappa bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the same steps, shorter (under a minute)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="directory for the JSON result")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: one per core)")
    parser.add_argument("--profile", type=int, metavar="SIZE",
                        help="instead of the benchmark: cProfile in-process evaluation of a SIZE record")
    parser.add_argument("--instructions", action="store_true",
                        help="instead of the benchmark: instructions per in-process evaluation, counted by "
                             "valgrind (the same whatever the machine's load; about two minutes)")
    args = parser.parse_args(argv)
    if args.profile:
        print(profile_in_process(args.profile))
        return 0
    if args.instructions:
        return run_instructions(args.out)
    result = run(QUICK if args.quick else FULL, args.out, workers=args.workers)
    print()
    print(table(result))
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
