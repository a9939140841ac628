"""The EHR's OAuth 2.0 authorization server for the planner's SMART launch tests: oidc-provider, a
real Node process on loopback (tests/oidc_server/server.mjs says what it simplifies)."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import requests

OIDC_SERVER_DIR = Path(__file__).resolve().parents[1] / "oidc_server"


class OidcTestServer:
    def __init__(self, client_id: str, redirect_uri: str):
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self._stderr = tempfile.TemporaryFile(mode="w+t")

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "OidcTestServer":
        node = shutil.which("node")
        assert node, "node is needed for the authorization server (oidc-provider)"
        env = {**os.environ, "PORT": "0", "CLIENT_ID": self.client_id, "REDIRECT_URIS": self.redirect_uri}
        self.proc = subprocess.Popen([node, "server.mjs"], cwd=OIDC_SERVER_DIR, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("LISTENING "):
                self.port = int(line.split()[1])
                break
            if not line and self.proc.poll() is not None:
                self._stderr.seek(0)
                raise RuntimeError(f"oidc-provider exited early: {self._stderr.read()[-2000:]}")
        assert self.port, "oidc-provider did not start"
        r = requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=5)
        r.raise_for_status()
        self.discovery = r.json()
        return self

    def register_launch(self, patient: str, app_context: str) -> str:
        """What an EHR does before it launches an app: a launch id naming the patient and appContext."""
        r = requests.post(f"{self.issuer}/$test/launch", json={"patient": patient, "appContext": app_context}, timeout=5)
        r.raise_for_status()
        return r.json()["launch"]

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def __enter__(self) -> "OidcTestServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
