"""The real Trappa server process for tests: ``python -m cds_service serve`` (gunicorn) on loopback.

Tests talk to it over HTTP exactly as an EHR would. Each instance gets its own SQLite file (or the
``database_url`` given), its own port and its own environment.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServiceProcess:
    def __init__(self, env: dict[str, str] | None = None, workers: int = 2, dev: bool = True,
                 database_url: str | None = None, port: int | None = None):
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._tmp = tempfile.TemporaryDirectory(prefix="trappa-test-")
        self.database_url = database_url or f"sqlite:///{self._tmp.name}/trappa.sqlite3"
        self.log_path = Path(self._tmp.name) / "server.log"
        # Metrics on, as in production, on a port of this instance's own (the default, 9464, is one for
        # the whole machine); env may set TRAPPA_METRICS_PORT=off.
        self.metrics_port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TRAPPA_")},
            "TRAPPA_DATABASE_URL": self.database_url,
            "TRAPPA_AUDIT_JOURNAL_DIR": str(Path(self._tmp.name) / "audit-journal"),
            "TRAPPA_METRICS_PORT": str(self.metrics_port),
            "TRAPPA_DEV_MODE": "1" if dev else "0",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.workers = workers
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "ServiceProcess":
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cds_service", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(self.workers)],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited early:\n{self.log()}")
            try:
                if requests.get(self.base_url + "/health", timeout=1).status_code in (200, 503):
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"service did not become healthy:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
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

    def cleanup(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    def post(self, path: str, body, headers=None, **kw) -> requests.Response:
        h = {"Content-Type": "application/json", **(headers or {})}
        data = body if isinstance(body, (bytes, str)) else __import__("json").dumps(body)
        return requests.post(self.base_url + path, data=data, headers=h, timeout=kw.pop("timeout", 10), **kw)

    @property
    def journal_dir(self) -> Path:
        return Path(self.env["TRAPPA_AUDIT_JOURNAL_DIR"])

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: the children of the master process (Linux /proc)."""
        pids = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            pids += [int(p) for p in (task / "children").read_text().split()]
        return sorted(pids)

    def metrics(self) -> str:
        """The text of the metrics endpoint (metrics.py)."""
        resp = requests.get(f"http://127.0.0.1:{self.env['TRAPPA_METRICS_PORT']}/metrics", timeout=5)
        resp.raise_for_status()
        return resp.text

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.base_url + path, timeout=kw.pop("timeout", 10), **kw)
