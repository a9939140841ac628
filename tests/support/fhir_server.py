"""A real FHIR R4 server on loopback for tests: Medplum's in-memory engine under Node.

The server lives in ``tests/fhir_server`` (``server.mjs``; npm dependencies pinned
exactly in ``package.json``/``package-lock.json``).  This module installs its
node_modules when needed, starts it on a free 127.0.0.1 port and drives its
test-only controls (``/$test/...``).

Typical use::

    with FhirTestServer() as fhir:
        fhir.load(transaction_bundle)
        requests.get(f"{fhir.base_url}/MedicationRequest", params={"patient": "123"})

Fixture loading through :meth:`FhirTestServer.load` carries the header
``X-Trappa-Test-Harness: 1``: the server neither logs nor delays such requests,
so :meth:`requests_log`, :meth:`set_delay` and :meth:`set_failure` concern only the traffic of the
code under test.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

FHIR_SERVER_DIR = Path(__file__).resolve().parent.parent / "fhir_server"
HARNESS_HEADERS = {"X-Trappa-Test-Harness": "1", "Content-Type": "application/fhir+json"}
_NPM_TIMEOUT_S = 300
_install_lock = threading.Lock()
# The harness only ever talks to 127.0.0.1: never route that through an HTTP(S)_PROXY from the environment.
_http = requests.Session()
_http.trust_env = False


class FhirServerError(RuntimeError):
    """The test FHIR server could not be installed, started or driven."""


def ensure_node_modules(server_dir: Path = FHIR_SERVER_DIR) -> None:
    """Run ``npm ci`` in ``server_dir`` if node_modules is missing or older than package-lock.json.

    npm writes ``node_modules/.package-lock.json`` on every install, so its mtime
    tells when the tree was last installed (a directory's own mtime does not).
    """
    lock = server_dir / "package-lock.json"
    installed = server_dir / "node_modules" / ".package-lock.json"
    with _install_lock:
        if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
            return
        npm = shutil.which("npm")
        if npm is None:
            raise FhirServerError("npm is not on PATH; the FHIR test server needs Node.js >= 20.19 and npm")
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=server_dir,
            capture_output=True,
            text=True,
            timeout=_NPM_TIMEOUT_S,
            check=False,
        )
        if proc.returncode != 0:
            raise FhirServerError(
                f"npm ci failed in {server_dir} (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
            )


class FhirTestServer:
    """One Node process serving FHIR R4 from memory on 127.0.0.1.

    ``base_path`` puts the FHIR base under a path (e.g. ``"/fhir/r4"``) so that
    callers' URL joining is exercised; ``default_count`` is the page size used when
    a search has no ``_count`` (the server's own default is 20).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        base_path: str = "",
        default_count: int | None = None,
        startup_timeout_s: float = 30.0,
        server_dir: Path = FHIR_SERVER_DIR,
    ) -> None:
        self._requested_port = port
        self._base_path = ("/" + base_path.strip("/")) if base_path.strip("/") else ""
        self._default_count = default_count
        self._startup_timeout_s = startup_timeout_s
        self._server_dir = server_dir
        self._proc: subprocess.Popen[str] | None = None
        self._stderr_file: Any = None
        self._stdout_lines: queue.Queue[str | None] = queue.Queue()
        self.port: int | None = None
        self.startup_seconds: float | None = None
        """Wall time from spawning node to a successful ``/metadata``."""

    # ------------------------------------------------------------- lifecycle

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:<port>``: where the ``/$test/`` controls live."""
        if self.port is None:
            raise FhirServerError("FHIR test server is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The FHIR base URL (no trailing slash), as an EHR would put in ``fhirServer``."""
        return self.root_url + self._base_path

    @property
    def pid(self) -> int | None:
        """The Node process's id while it is started (None before :meth:`start` and after :meth:`stop`)."""
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        """True while the Node process is started and has not exited."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> FhirTestServer:
        if self._proc is not None:
            return self
        node = shutil.which("node")
        if node is None:
            raise FhirServerError("node is not on PATH; the FHIR test server needs Node.js >= 20.19")
        env = dict(os.environ)
        env.update(
            PORT=str(self._requested_port),
            FHIR_BASE_PATH=self._base_path,
            EXIT_ON_STDIN_CLOSE="1",
        )
        if self._default_count is not None:
            env["FHIR_DEFAULT_COUNT"] = str(self._default_count)
        self._stderr_file = tempfile.TemporaryFile(mode="w+t")
        started = time.monotonic()
        deadline = started + self._startup_timeout_s
        self._proc = subprocess.Popen(
            [node, "server.mjs"],
            cwd=self._server_dir,
            env=env,
            stdin=subprocess.PIPE,  # closing it makes the server exit (no orphans if we die)
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
            text=True,
        )
        threading.Thread(target=self._drain_stdout, daemon=True).start()
        try:
            self.port = self._await_listening(deadline)
            self._await_metadata(deadline)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin:
                    proc.stdin.close()
                proc.terminate()
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None
        self.port = None

    def __enter__(self) -> FhirTestServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _drain_stdout(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        for line in proc.stdout:
            self._stdout_lines.put(line.strip())
        self._stdout_lines.put(None)

    def _stderr_tail(self) -> str:
        if self._stderr_file is None:
            return ""
        self._stderr_file.seek(0)
        return self._stderr_file.read()[-3000:]

    def _await_listening(self, deadline: float) -> int:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FhirServerError(f"FHIR test server did not print LISTENING in time\n{self._stderr_tail()}")
            try:
                line = self._stdout_lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise FhirServerError(f"FHIR test server exited during start-up\n{self._stderr_tail()}")
            if line.startswith("LISTENING "):
                return int(line.split()[1])

    def _await_metadata(self, deadline: float) -> None:
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                resp = _http.get(f"{self.base_url}/metadata", headers=HARNESS_HEADERS, timeout=5)
                if resp.status_code == 200 and resp.json().get("resourceType") == "CapabilityStatement":
                    return
                last_error = FhirServerError(f"/metadata answered {resp.status_code}")
            except requests.RequestException as err:
                last_error = err
            time.sleep(0.05)
        raise FhirServerError(f"FHIR test server /metadata not ready: {last_error}\n{self._stderr_tail()}")

    # ------------------------------------------------------------- data and controls

    def load(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """POST a transaction (or batch) Bundle; return the response Bundle.

        Raises :class:`FhirServerError` if the server rejects it, or if any batch
        entry failed (a failed transaction is rolled back by the server).
        """
        resp = _http.post(self.base_url, json=bundle, headers=HARNESS_HEADERS, timeout=60)
        if resp.status_code != 200:
            raise FhirServerError(f"Loading bundle failed: HTTP {resp.status_code}: {resp.text[:2000]}")
        result: dict[str, Any] = resp.json()
        failed = [
            (i, e.get("response", {}))
            for i, e in enumerate(result.get("entry") or [])
            if not str(e.get("response", {}).get("status", "")).startswith("2")
        ]
        if failed:
            raise FhirServerError(f"Loading bundle: entries failed: {failed[:5]}")
        return result

    def reset(self) -> None:
        """Empty the repository (the request log, delay and failures are kept)."""
        self._control("POST", "/$test/reset", {})

    def set_delay(self, ms: float) -> None:
        """Make every later FHIR response wait ``ms`` milliseconds (0 turns it off)."""
        self._control("POST", "/$test/delay", {"ms": ms})

    def set_failure(self, resource_type: str, *, status: int | None = None, delay_ms: float = 0) -> None:
        """Make every later request for ``resource_type`` (search or read) wait ``delay_ms``, then
        answer ``status`` (400–599) with an OperationOutcome; other types answer normally. With a
        delay only, the answer is the normal one, late (past a client's timeout it is a timeout)."""
        self._control("POST", "/$test/fail", {"resourceType": resource_type, "status": status, "delayMs": delay_ms})

    def clear_failures(self) -> None:
        """Undo every :meth:`set_failure`."""
        self._control("DELETE", "/$test/fail")

    def requests_log(self) -> list[dict[str, Any]]:
        """Requests received since the last :meth:`clear_log`, oldest first.

        Each entry: ``method``, ``path`` (path + query as sent), ``has_authorization``,
        ``authorization`` (header value or None), ``accept``, ``content_type``, ``time``.
        """
        log: list[dict[str, Any]] = self._control("GET", "/$test/requests")
        return log

    def clear_log(self) -> None:
        self._control("DELETE", "/$test/requests")

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = _http.request(method, self.root_url + path, json=body, timeout=10)
        if resp.status_code != 200:
            raise FhirServerError(f"{method} {path} failed: HTTP {resp.status_code}: {resp.text[:500]}")
        return resp.json()


def fhir_server_session() -> Iterator[FhirTestServer]:
    """Generator for a session-scoped pytest fixture: install, start, yield, stop.

    Wire it in conftest.py with
    ``fhir_server = pytest.fixture(scope="session")(fhir_server_session)``.
    """
    ensure_node_modules()
    with FhirTestServer() as server:
        yield server
