"""``./trappa demo`` (``python -m demo``): the fixture patients, rolled to today, in a FHIR server, and
the service beside it, for the CDS Hooks sandbox and for curl.

One command starts two processes on 127.0.0.1:

- the loopback FHIR test server of the tests (``tests/fhir_server/server.mjs``: Medplum's in-memory
  engine under Node.js), holding every fixture patient: the transaction Bundles of
  ``fixtures/patients/*.json`` and the resources of every ``fixtures/requests/*.json`` prefetch, loaded
  as transaction Bundles — all rolled to today (``demo/roll.py``);
- the service (``python -m cds_service serve --dev``: development mode, authentication OFF, loudly),
  evaluating as of the day the fixtures were rolled to (``TRAPPA_TODAY``), with its database in a
  temporary directory.

Then it prints, per fixture patient, the sandbox links that open it (patient-view, Rx View =
order-select, Rx Sign = order-sign) and the README's curl lines, their requests rolled to today (no
``extension.trappa.today``; the no-prefetch ones pointed at this FHIR server) and written to the
temporary directory. Ctrl-C (SIGINT) or SIGTERM stops both processes — the service's workers with it —
frees the ports and removes the directory. Should the demo itself be killed outright, the FHIR server
exits when its stdin closes and (on Linux) the service gets SIGTERM when its parent dies.

Options: ``--port`` (service, default 8090) and ``--fhir-port`` (default 8091), both beside
``./trappa serve``'s 8080; ``--workers`` (default 2); ``--sandbox`` (the sandbox the links open: the
public one by default, or a copy run locally when sandbox.cds-hooks.org cannot be reached). The rest of
the service's configuration comes from the environment as for ``serve`` (README), except the database,
``TRAPPA_TODAY`` and development mode, which the demo sets.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from elsewhere: make the repository importable
    sys.path.insert(0, str(ROOT))

from demo.roll import REFERENCE_DATE, days_to, roll, without_today  # noqa: E402

FIXTURES = ROOT / "fixtures"
SANDBOX = "https://sandbox.cds-hooks.org/"
#: The sandbox's screens and the hook each calls: its URL parameters ``screen`` and ``hook``.
SCREENS = (("patient-view", "patient-view"), ("rx-view", "order-select"), ("rx-sign", "order-sign"))
DEFAULT_PORT = 8090
DEFAULT_FHIR_PORT = 8091
FHIR_BASE_PATH = "/fhir"
HOST = "127.0.0.1"
STOP_TIMEOUT_S = 10.0


class Stop(BaseException):
    """SIGINT or SIGTERM arrived: stop the demo (a BaseException, so no ``except Exception`` eats it)."""


# ------------------------------------------------------------------------------------------------
# The fixtures, rolled


@dataclass
class Fixtures:
    """Everything the demo loads and writes, rolled to ``today``."""

    today: date
    bundles: list[tuple[str, dict]] = field(default_factory=list)  # (source file, transaction Bundle)
    patients: list[tuple[str, dict]] = field(default_factory=list)  # (source file, Patient), first seen
    requests: list[tuple[str, dict]] = field(default_factory=list)  # (file name, rolled request)
    conflicts: list[str] = field(default_factory=list)  # "Type/id (a.json, b.json)": loaded from a only
    skipped: list[str] = field(default_factory=list)  # "file: why" for files that are no JSON object or do not roll


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def prefetch_resources(request: dict) -> list[dict]:
    """The resources of a request's prefetch: each resource value, and the entries of each Bundle."""
    out: list[dict] = []
    prefetch = request.get("prefetch")
    for value in prefetch.values() if isinstance(prefetch, dict) else ():
        if not isinstance(value, dict):
            continue
        if value.get("resourceType") == "Bundle":
            out += [e["resource"] for e in value.get("entry") or []
                    if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
        elif value.get("resourceType") not in (None, "OperationOutcome"):
            out.append(value)
    return out


def transaction(resources: list[dict]) -> dict:
    """A transaction Bundle that PUTs ``resources`` under their own ids (as ``fixtures/patients`` do)."""
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r,
         "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources]}


def collect(today: date, fixtures: Path = FIXTURES) -> Fixtures:
    """Read ``fixtures/patients/*.json`` and ``fixtures/requests/*.json`` and roll them to ``today``.

    Each resource is loaded once: from the first file that has it (patients first, then requests by
    name); one that a later file holds differently is listed in ``conflicts`` and not loaded again.
    Requests are rolled by their own ``extension.trappa.today``, which they then lose (sent as the
    sandbox would); their prefetch resources are rolled with them."""
    out = Fixtures(today)
    seen: dict[tuple[str, str], tuple[str, dict]] = {}

    def take(source: str, resources: list[dict]) -> list[dict]:
        new = []
        for r in resources:
            if not isinstance(r.get("resourceType"), str) or not isinstance(r.get("id"), str):
                continue  # nothing to PUT it under
            key = (r["resourceType"], r["id"])
            if key in seen:
                if seen[key][1] != r:
                    out.conflicts.append(f"{key[0]}/{key[1]} ({seen[key][0]}, {source})")
                continue
            seen[key] = (source, r)
            new.append(r)
            if r["resourceType"] == "Patient":
                out.patients.append((source, r))
        return new

    def read(path: Path) -> dict | None:
        """The file rolled to ``today``; None (and a line in ``skipped``) when it cannot be: a fixture of
        a malformed request (text after the JSON, as some EHRs send) is for the tests, not for the demo."""
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(body, dict):
                raise ValueError("not a JSON object")
            return roll(body, days_to(body, today))
        except (OSError, ValueError) as exc:
            out.skipped.append(f"{_relative(path)}: {str(exc)[:200]}")
            return None

    for path in sorted((fixtures / "patients").glob("*.json")):
        if (bundle := read(path)) is None:
            continue
        entries = bundle.get("entry") if bundle.get("resourceType") == "Bundle" else [{"resource": bundle}]
        resources = take(_relative(path), [e["resource"] for e in entries or []
                                           if isinstance(e, dict) and isinstance(e.get("resource"), dict)])
        if resources:
            out.bundles.append((_relative(path), transaction(resources)))
    for path in sorted((fixtures / "requests").glob("*.json")):
        if path.name.endswith(".expected.json") or (rolled := read(path)) is None:
            continue
        resources = take(_relative(path), prefetch_resources(rolled))
        if resources:
            out.bundles.append((_relative(path), transaction(resources)))
        out.requests.append((path.name, without_today(rolled)))
    return out


def write_requests(fixtures: Fixtures, directory: Path, fhir_base: str) -> None:
    """The rolled requests as files for curl; those without prefetch (or with a ``fhirServer``) point at
    the demo's FHIR server."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, body in fixtures.requests:
        if "fhirServer" in body or not body.get("prefetch"):
            body = dict(body, fhirServer=fhir_base)
        (directory / name).write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------------------
# What it prints


def sandbox_url(fhir_base: str, discovery_url: str, patient_id: str, hook: str, screen: str,
                sandbox: str = SANDBOX) -> str:
    """The CDS Hooks sandbox opening ``patient_id`` of ``fhir_base`` with the services of
    ``discovery_url``, on ``screen`` (its URL parameters: fhirServiceUrl, serviceDiscoveryURL,
    patientId, hook, screen). ``hook`` as well as ``screen``: opened without it, the sandbox sends
    ``"hook": "patient-view"`` from every screen, and the order services refuse the call (400).
    ``sandbox``: the public sandbox, or a copy of one's own (``./trappa demo --sandbox``)."""
    return sandbox.rstrip("/") + "/?" + urlencode({"fhirServiceUrl": fhir_base, "serviceDiscoveryURL": discovery_url,
                                      "patientId": patient_id, "hook": hook, "screen": screen})


def _name(patient: dict) -> str:
    names = patient.get("name") or []
    first = names[0] if names and isinstance(names[0], dict) else {}
    text = first.get("text") or " ".join([*first.get("given", []), first.get("family", "")]).strip()
    return text or "(no name)"


def curl_lines(service: str, requests_dir: Path, names: set[str]) -> list[str]:
    """The README's "Try it" lines for this service and these rolled request files."""
    d = requests_dir
    lines = [f"curl -s {service}/cds-services | python3 -m json.tool | head -40          # discovery", ""]
    if all(f"{h}.anna-testsson.json" in names for h in ("patient-view", "order-select", "order-sign",
                                                        "medication-prescribe")):
        lines += [
            "for hook in patient-view order-select order-sign medication-prescribe; do",
            f"  curl -s -X POST {service}/cds-services/trappa-$hook \\",
            "       -H 'Content-Type: application/json' \\",
            f"       -d @{d}/$hook.anna-testsson.json | python3 -m json.tool | head -30",
            "done", "",
        ]
    if "order-sign.bob-example.json" in names:
        lines += ["# English cards",
                  f"curl -s -X POST {service}/cds-services/trappa-order-sign -H 'Accept-Language: en' \\",
                  f"     -H 'Content-Type: application/json' -d @{d}/order-sign.bob-example.json", ""]
    if "patient-view.anna-testsson.no-prefetch.json" in names:
        lines += ["# without prefetch: the service fetches the patient from the demo's FHIR server",
                  f"curl -s -X POST {service}/cds-services/trappa-patient-view -H 'Content-Type: application/json' \\",
                  f"     -d @{d}/patient-view.anna-testsson.no-prefetch.json", ""]
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    lines += [
        "# feedback (use a card uuid from a response)",
        f"curl -s -X POST {service}/cds-services/trappa-order-sign/feedback -H 'Content-Type: application/json' \\",
        f"     -d '{{\"feedback\":[{{\"card\":\"<uuid>\",\"outcome\":\"overridden\",\"outcomeTimestamp\":\"{now}\",",
        "          \"overrideReason\":{\"reason\":{\"system\":\"urn:trappa:override-reason\",\"code\":\"plan-elsewhere\"}}}]}'",
        "",
        f"curl -s {service}/health",
        "",
        f"# every fixture request, rolled: {d}/<name>.json (the topics each should give: fixtures/requests/<name>.expected.json)",
    ]
    return lines


def report(fixtures: Fixtures, fhir_base: str, service: str, requests_dir: Path, pids: dict[str, int],
           loaded: int, failed: list[str], sandbox: str = SANDBOX) -> str:
    discovery = f"{service}/cds-services"
    shift = (fixtures.today - REFERENCE_DATE).days
    out = [
        "",
        "Trappa demo — DEVELOPMENT MODE: EHR authentication OFF, synthetic patients only.",
        f"Fixtures written for {REFERENCE_DATE}, rolled by {shift:+d} days to today, {fixtures.today};"
        f" the service evaluates as of {fixtures.today}.",
        "",
        f"FHIR server  {fhir_base}  (pid {pids['fhir']}; in memory; {len(fixtures.patients)} patients, "
        f"{loaded} resources)",
        f"CDS service  {discovery}  (pid {pids['service']})",
    ]
    for problem in fixtures.skipped + failed:
        out.append(f"  not loaded: {problem}")
    if fixtures.conflicts:
        out.append(f"  held differently by two fixtures, loaded from the first: {', '.join(fixtures.conflicts)}")
    out += ["", "CDS Hooks sandbox, one patient per block: patient-view, Rx View (order-select), Rx Sign "
            "(order-sign). The browser may ask to let the page reach 127.0.0.1; allow it.", ""]
    for source, patient in fixtures.patients:
        out.append(f"  {patient['id']} — {_name(patient)} ({source})")
        for screen, hook in SCREENS:
            out.append(f"    {screen:<12} " + sandbox_url(fhir_base, discovery, patient["id"], hook, screen,
                                                                  sandbox))
    out += ["", f"curl (requests rolled to today, in {requests_dir}):", ""]
    out += ["  " + line if line else "" for line in curl_lines(service, requests_dir,
                                                                {name for name, _ in fixtures.requests})]
    out += ["", "Ready. Ctrl-C stops both servers."]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------
# The processes


def port_free(port: int) -> bool:
    """True when a server could listen on ``port`` (connections of a server just stopped, waiting out
    TIME_WAIT, do not count: servers bind with SO_REUSEADDR, so does this check)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _die_with_parent():
    """For ``preexec_fn`` (Linux): SIGTERM to the child when the demo dies, however it dies. Prepared
    before any fork, so the child only calls into libc."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, int(signal.SIGTERM))


def start_service(port: int, workers: int, tmp: Path, today: date) -> subprocess.Popen:
    """``python -m cds_service serve --dev`` in a session of its own (Ctrl-C reaches only the demo,
    which stops it), as of ``today`` (``TRAPPA_TODAY``: the day the fixtures are rolled to, also after
    midnight), with its database in ``tmp``. Started before any other thread exists (``preexec_fn`` is
    only safe then)."""
    env = dict(os.environ)
    env.update(TRAPPA_DEV_MODE="1", TRAPPA_TODAY=today.isoformat(), PYTHONUNBUFFERED="1",
               TRAPPA_DATABASE_URL=f"sqlite:///{tmp / 'trappa.sqlite3'}")
    return subprocess.Popen(
        [sys.executable, "-m", "cds_service", "serve", "--dev", "--host", HOST, "--port", str(port),
         "--workers", str(workers)],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent(),
    )


def await_service(proc: subprocess.Popen, base: str, timeout_s: float = 60.0) -> None:
    import requests

    http = requests.Session()
    http.trust_env = False  # loopback only: never through a proxy from the environment
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited during start-up (exit {proc.returncode}; its log is above)")
        try:
            if http.get(f"{base}/health", timeout=1).status_code in (200, 503):
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the service did not answer {base}/health within {timeout_s:.0f} s")


def stop_service(proc: subprocess.Popen) -> None:
    """SIGTERM to gunicorn's master (it stops its workers); after STOP_TIMEOUT_S, SIGKILL to its whole
    session, workers included."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def load(fhir, bundles: list[tuple[str, dict]], error: type[Exception]) -> tuple[int, list[str]]:
    """Load each transaction Bundle; when the server refuses one (it is atomic), its resources one by
    one, so that one resource the server will not take costs only itself. Returns how many resources
    were loaded and, for each refused one, "source Type/id: why"."""
    loaded, failed = 0, []
    for source, bundle in bundles:
        try:
            fhir.load(bundle)
            loaded += len(bundle["entry"])
            continue
        except error:
            pass
        for entry in bundle["entry"]:
            try:
                fhir.load(dict(bundle, entry=[entry]))
                loaded += 1
            except error as exc:
                failed.append(f"{source} {entry['request']['url']}: {str(exc)[:200]}")
    return loaded, failed


def _on_signal(signum, frame):  # noqa: ARG001 - signal handler signature
    raise Stop(signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./trappa demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"service port (default {DEFAULT_PORT}; 0: any free one)")
    parser.add_argument("--fhir-port", type=int, default=DEFAULT_FHIR_PORT,
                        help=f"FHIR server port (default {DEFAULT_FHIR_PORT}; 0: any free one)")
    parser.add_argument("--workers", type=int, default=2, help="service workers (default 2)")
    parser.add_argument("--sandbox", default=SANDBOX,
                        help=f"the CDS Hooks sandbox the links open (default {SANDBOX}; a local copy, e.g. "
                             "http://127.0.0.1:8095/, offline)")
    args = parser.parse_args(argv)
    if not args.sandbox.startswith(("http://", "https://")):
        print("demo: --sandbox must be an http(s) URL", file=sys.stderr)
        return 2
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # each line as it is printed, also into a pipe

    if args.port and args.port == args.fhir_port:
        print("demo: --port and --fhir-port must differ", file=sys.stderr)
        return 2
    port = args.port or free_port()
    fhir_port = args.fhir_port or free_port()
    while fhir_port == port:
        fhir_port = free_port()
    for what, p in (("--port", port), ("--fhir-port", fhir_port)):
        if not port_free(p):
            print(f"demo: port {p} on {HOST} is in use (another demo? ./trappa serve uses 8080); choose "
                  f"another with {what}", file=sys.stderr)
            return 2

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    tmp = Path(tempfile.mkdtemp(prefix="trappa-demo-"))
    service: subprocess.Popen | None = None
    fhir = None
    status = 0
    try:
        fixtures = collect(date.today())
        service = start_service(port, args.workers, tmp, fixtures.today)

        from tests.support.fhir_server import FhirServerError, FhirTestServer, ensure_node_modules

        ensure_node_modules()
        fhir = FhirTestServer(port=fhir_port, base_path=FHIR_BASE_PATH).start()
        loaded, failed = load(fhir, fixtures.bundles, FhirServerError)
        base = f"http://{HOST}:{port}"
        await_service(service, base)
        requests_dir = tmp / "requests"
        write_requests(fixtures, requests_dir, fhir.base_url)
        print(report(fixtures, fhir.base_url, base, requests_dir,
                     {"fhir": fhir.pid or 0, "service": service.pid}, loaded, failed, args.sandbox))
        while True:
            time.sleep(0.5)
            if service.poll() is not None:
                print(f"demo: the service exited (exit {service.returncode}); stopping", file=sys.stderr)
                status = 1
                break
            if not fhir.running():
                print("demo: the FHIR server exited; stopping", file=sys.stderr)
                status = 1
                break
    except Stop:
        pass
    except Exception as exc:  # start-up failed: say why, stop what was started
        print(f"demo: {type(exc).__name__}: {exc}", file=sys.stderr)
        status = 1
    finally:
        # A second Ctrl-C must not cut the stopping short and leave a server behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if service is not None:
            stop_service(service)
        if fhir is not None:
            fhir.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        busy = [str(p) for p in (port, fhir_port) if not port_free(p)]
        print("Stopped: FHIR server and service ended" + (f"; port {', '.join(busy)} still taken" if busy
                                                          else ", ports free."))
    return status
