"""A tiny HTTP server whose every answer the test scripts: the hostile or broken "FHIR server".

``ScriptedServer(handler)`` runs ``http.server`` in a thread on 127.0.0.1. ``handler(request)``
gets a :class:`Seen` request and returns a :class:`Reply` (status, headers, body — bytes, a JSON-able
object, or an iterable of byte chunks sent with pauses — and an optional delay before answering).
Every request is logged (:attr:`ScriptedServer.seen`) with its path and Authorization header, so tests
can prove what was — and was not — sent where.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Seen:
    method: str
    path: str  # path and query as sent
    authorization: str | None
    at: float


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # bytes, str, JSON-able object, or an iterable of bytes chunks (streamed)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # wait before sending anything
    chunk_pause_s: float = 0.0  # pause between streamed chunks


def bundle(resources: list[dict], next_url: str | None = None) -> dict:
    out: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}
    if next_url:
        out["link"] = [{"relation": "next", "url": next_url}]
    return out


class ScriptedServer:
    def __init__(self, handler: Callable[[Seen], Reply] | None = None):
        self.handler = handler or (lambda seen: Reply(404, {"resourceType": "OperationOutcome"}))
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def origin(self) -> str:
        return self.base_url

    def clear(self) -> None:
        with self._lock:
            self.seen.clear()

    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self.seen)

    def start(self) -> "ScriptedServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                seen = Seen("GET", self.path, self.headers.get("Authorization"), time.monotonic())
                with owner._lock:
                    owner.seen.append(seen)
                try:
                    reply = owner.handler(seen)
                except Exception as exc:  # a bug in a test handler should show, not hang
                    reply = Reply(599, {"error": type(exc).__name__})
                try:
                    self._send(reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up: that is often the point of the test

            do_POST = do_GET  # noqa: N815

            def _send(self, reply: Reply) -> None:
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                body = reply.body
                streamed = not isinstance(body, (bytes, str, dict, list, type(None), int, float, bool))
                self.send_response(reply.status)
                headers = {"Content-Type": "application/fhir+json", **reply.headers}
                for k, v in headers.items():
                    self.send_header(k, v)
                if streamed:
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for chunk in body:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        if reply.chunk_pause_s:
                            time.sleep(reply.chunk_pause_s)
                    self.close_connection = True
                    return
                data = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else json.dumps(body).encode()
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "ScriptedServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
