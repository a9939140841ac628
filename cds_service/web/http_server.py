"""What gunicorn answers itself, before the Flask app sees a request: its limits, and its error pages.

gunicorn refuses a request it cannot parse or that is over its limits (a header field over
``limit_request_field_size``, a request line over ``limit_request_line``) with an HTML page of its own,
and logs the offending text (a header line without a colon — say ``Authorization Bearer eyJ…`` — went
into the log whole). Its default field size, 8190 bytes, also cut tokens off at about 8 KB, below the
16 KiB a JWT may have (``auth.MAX_TOKEN_CHARS``): such a token got gunicorn's 431 page instead of
reaching the authenticator.

Here: a header field may be as large as the longest token the authenticator takes, with room for the
``Authorization: Bearer`` around it, so every token up to the limit is judged (and one a little over
is a 401, "token too long"); past that gunicorn's refusal is an OperationOutcome with the service's
usual headers, and its log line names the exception's type only.
"""
from __future__ import annotations

import json
import ssl
import time

from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker

from cds_service.web.auth import MAX_TOKEN_CHARS
from cds_service.protocol.errors import operation_outcome
from cds_service.web.logs import safe

#: Largest header field line ("Authorization: Bearer <JWT>" and its CRLF): the longest token + 4 KiB.
LIMIT_REQUEST_FIELD_SIZE = MAX_TOKEN_CHARS + 4096
#: Largest request line (method, path, version): gunicorn's default; the service's paths are short.
LIMIT_REQUEST_LINE = 4094
#: Most header fields: gunicorn's default.
LIMIT_REQUEST_FIELDS = 100
# A request head (request line and headers) must arrive within this many seconds of its first byte; it is
# read by the worker's event loop, not by a thread, so a client that sends half a head holds no thread.
HEAD_TIMEOUT_S = 10.0
# Largest head read that way: past it the parser is handed the bytes and answers 431/414 itself.
HEAD_LIMIT = LIMIT_REQUEST_LINE + LIMIT_REQUEST_FIELD_SIZE + 16 * 1024
# Once the head is in, each read of the body (and each send) may wait this long.
BODY_READ_TIMEOUT_S = 10.0
#: A kept-alive connection is closed (politely: "Connection: close") at this age or after this many
#: calls, so that connections spread again over the workers after one is restarted (TrappaWorker).
CONNECTION_MAX_AGE_S = 5.0
CONNECTION_MAX_REQUESTS = 1000

_REASONS = {400: "Bad Request", 403: "Forbidden", 414: "URI Too Long", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 501: "Not Implemented"}


def describe(exc: BaseException) -> tuple[int, str, str]:
    """(HTTP status, OperationOutcome issue code, message) for an error gunicorn raised."""
    if isinstance(exc, http_errors.LimitRequestHeaders):
        return 431, "too-costly", (
            f"request headers too large: at most {LIMIT_REQUEST_FIELDS} fields of at most "
            f"{LIMIT_REQUEST_FIELD_SIZE} bytes each (a JWT may have {MAX_TOKEN_CHARS} characters)")
    if isinstance(exc, http_errors.LimitRequestLine):
        return 414, "too-costly", f"request line longer than {LIMIT_REQUEST_LINE} bytes"
    if isinstance(exc, http_errors.UnsupportedTransferCoding):
        return 501, "not-supported", "unsupported Transfer-Encoding"
    if isinstance(exc, (http_errors.ForbiddenProxyRequest, ssl.SSLError)):
        return 403, "forbidden", "request refused"
    if isinstance(exc, http_errors.ConfigurationProblem):
        return 500, "exception", "server configuration problem"
    if isinstance(exc, http_errors.ParseException):
        return 400, "invalid", f"malformed HTTP request ({type(exc).__name__})"
    return 500, "exception", "internal error; the request was not evaluated"


def error_response(status: int, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 response carrying an OperationOutcome, with the app's CORS and security headers."""
    from cds_service.web.app import CORS_HEADERS, SECURITY_HEADERS

    body = json.dumps(operation_outcome(code, message), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/fhir+json", "Content-Length": str(len(body)), "Connection": "close",
               **CORS_HEADERS, **SECURITY_HEADERS}
    head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode("latin-1") + b"\r\n" + body


class TrappaWorker(ThreadWorker):
    """gunicorn's threaded worker (gthread), with OperationOutcome error answers and log lines that hold
    no request text."""

    # -- Request heads are read by the event loop --------------------------------------------------
    # gunicorn's gthread hands a connection to a thread as soon as one byte is readable, and the thread
    # then blocks until the whole head has come: a dozen sockets that send half a head and stop hold every
    # thread, and valid calls time out. Here the loop collects the head itself (without blocking: the
    # socket is readable) and submits the connection only when the head is complete; a head that does
    # not complete within HEAD_TIMEOUT_S is closed. The bytes read are given back to the parser.

    def on_client_socket_readable(self, conn, client):
        if self.cfg.is_ssl:  # TLS ends at a proxy in front (README); the plain path is the one guarded
            return super().on_client_socket_readable(conn, client)
        try:
            chunk = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client went away
            self._drop(conn, client)
            return
        head = getattr(conn, "_trappa_head", None)
        if head is None:
            head = conn._trappa_head = bytearray()
            conn._trappa_head_deadline = time.monotonic() + HEAD_TIMEOUT_S
            self._heads().add(conn)
        head += chunk
        if b"\r\n\r\n" not in head and b"\n\n" not in head and len(head) < HEAD_LIMIT:
            return  # wait for more of the head, in the loop
        data = bytes(head)
        conn._trappa_head = None
        self._heads().discard(conn)
        with self._lock:
            self.poller.unregister(client)
            if conn.initialized:
                try:
                    self._keep.remove(conn)
                except ValueError:
                    return
        conn.init()
        conn.parser.unreader.unread(data)
        fs = self.tpool.submit(self.handle, conn)
        self._wrap_future(fs, conn)

    # -- Connections are not kept for ever -------------------------------------------------------
    # An EHR reuses its connections. When a worker dies and gunicorn starts another, every client is
    # still connected to the survivor and the new worker gets nothing (measured: 0 sockets for 21 s,
    # throughput 530/s → 325/s). So a connection is asked to close — "Connection: close" on a response,
    # which the client sees before it sends its next request on it, so no request is lost in a race —
    # once it is CONNECTION_MAX_AGE_S old or has carried CONNECTION_MAX_REQUESTS calls; the client
    # reconnects, and the kernel hands the new connection to whichever worker accepts first.

    def handle_request(self, req, conn):
        now = time.monotonic()
        born = getattr(conn, "_trappa_born", None)
        if born is None:
            born = conn._trappa_born = now
        served = conn._trappa_served = getattr(conn, "_trappa_served", 0) + 1
        if served >= CONNECTION_MAX_REQUESTS or now - born >= CONNECTION_MAX_AGE_S:
            req.must_close = True
        return super().handle_request(req, conn)

    def handle(self, conn):
        if not self.cfg.is_ssl:
            conn.sock.settimeout(BODY_READ_TIMEOUT_S)  # a body that drips holds a thread this long at most
        return super().handle(conn)

    def murder_keepalived(self):
        super().murder_keepalived()
        now = time.monotonic()
        for conn in [c for c in self._heads() if c._trappa_head_deadline < now]:
            self._heads().discard(conn)
            self._drop(conn, conn.sock)

    def _heads(self) -> set:
        heads = getattr(self, "_trappa_heads", None)
        if heads is None:
            heads = self._trappa_heads = set()
        return heads

    def _drop(self, conn, client) -> None:
        self._heads().discard(conn)
        if conn.sock.fileno() < 0:
            return  # closed already (an idle keep-alive connection gunicorn itself closed)
        with self._lock:
            try:
                self.poller.unregister(client)
            except (KeyError, ValueError):
                pass
            if conn.initialized:
                try:
                    self._keep.remove(conn)
                except ValueError:
                    pass
        self.nr_conns -= 1
        conn.close()

    def handle_error(self, req, client, addr, exc):
        status, code, message = describe(exc)
        ip = safe((addr or ("",))[0], 60)
        if status >= 500:
            self.log.error("error handling a request from %s: %s", ip, type(exc).__name__)
        else:
            self.log.warning("invalid request from %s: %s (answered %d)", ip, type(exc).__name__, status)
        try:
            client.sendall(error_response(status, code, message))
        except Exception:
            self.log.debug("failed to send the error answer")
