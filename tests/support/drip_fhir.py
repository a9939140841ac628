"""A "FHIR server" on loopback that never quite answers: the slow server of the fetch-capacity tests.

``DripServer`` accepts connections on 127.0.0.1 and, for each, reads the request's head, then, by the
request path:

- ``/drip-headers/…``: sends the status line and headers one byte every ``interval_s`` (a per-recv
  timeout never fires: a byte always arrives in time);
- ``/stall-body/…``: sends complete headers at once, then a body one byte every ``interval_s``, never
  finishing it.

Every connection is bounded: it ends when the client closes its side (seen at once: the server waits
for the next byte with ``select`` on the socket, so a FIN or reset wakes it), after ``max_bytes``
bytes, or when the server stops. :meth:`DripServer.open_connections` tells how many clients are still
being dripped on — a fetch that gave up closed its socket, one still reading keeps it open. With an
``ssl_context`` (a server-side ``ssl.SSLContext``) it speaks TLS, and :attr:`DripServer.origin` is https.
"""
from __future__ import annotations

import select
import socket
import ssl
import threading
import time

_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/fhir+json\r\n"
    b"X-Padding: the rest of these headers takes a while to arrive\r\n"
    b"Content-Length: 100000\r\n"
    b"\r\n"
)
_BODY = b'{"resourceType": "Bundle", "type": "searchset", "entry": [' + b" " * 99_000


class DripServer:
    def __init__(self, interval_s: float = 1.0, max_bytes: int = 600, max_connections: int = 200,
                 ssl_context: ssl.SSLContext | None = None):
        self.interval_s = interval_s
        self.ssl_context = ssl_context
        self.max_bytes = max_bytes  # per connection: ends every drip after at most this many bytes
        self.max_connections = max_connections  # accepted in all; more are closed at once
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open = 0
        self.accepted = 0
        self.closed_by_client: list[float] = []  # monotonic times at which a client went away

    @property
    def origin(self) -> str:
        assert self._sock is not None
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self._sock.getsockname()[1]}"

    def open_connections(self) -> int:
        with self._lock:
            return self._open

    def start(self) -> "DripServer":
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(256)
        self._sock.settimeout(0.2)  # the accept loop looks at the stop flag this often
        threading.Thread(target=self._accept_loop, daemon=True, name="drip-accept").start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "DripServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        sock = self._sock
        while not self._stop.is_set():
            try:
                conn, _ = sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return  # closed by stop()
            with self._lock:
                self.accepted += 1
                too_many = self.accepted > self.max_connections
                if not too_many:
                    self._open += 1
            if too_many:
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True, name="drip").start()

    def _serve(self, conn: socket.socket) -> None:
        gone = False
        try:
            if self.ssl_context is not None:
                conn.settimeout(5.0)
                conn = self.ssl_context.wrap_socket(conn, server_side=True)
            head = self._read_head(conn)
            if head is None:
                gone = True
                return
            path = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b"/"
            if path.startswith(b"/stall-body/"):
                conn.sendall(_HEAD)
                data = _BODY
            else:
                data = _HEAD + _BODY
            for i in range(min(len(data), self.max_bytes)):
                if self._stop.is_set():
                    return
                conn.sendall(data[i : i + 1])
                if self._client_left(conn, self.interval_s):
                    gone = True
                    return
        except OSError:
            gone = True  # reset by the client
        finally:
            conn.close()
            with self._lock:
                self._open -= 1
                if gone:
                    self.closed_by_client.append(time.monotonic())

    def _read_head(self, conn: socket.socket) -> bytes | None:
        """The request up to its blank line (at most 16 KiB, 5 s); None if the client went away."""
        conn.settimeout(5.0)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 16384:
            chunk = conn.recv(4096)
            if not chunk:
                return None
            data += chunk
        return data

    def _client_left(self, conn: socket.socket, wait_s: float) -> bool:
        """Wait ``wait_s`` (in short steps, for the stop flag); True as soon as the client closed or reset."""
        end = time.monotonic() + wait_s
        while not self._stop.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return False
            readable, _, _ = select.select([conn], [], [], min(left, 0.1))
            if readable:
                try:
                    chunk = conn.recv(4096)
                except OSError:
                    return True
                if not chunk:
                    return True
                # a client sending more (a pipelined request) is ignored
        return False
