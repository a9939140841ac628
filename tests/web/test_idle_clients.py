"""Slow and idle clients hold no worker thread: a request head is collected by the worker's event loop
and handed to a thread only when complete (cds_service/http_server.TrappaWorker). Measured before: 12
sockets that sent "POST /cds-services/x HTTP/1.1" and a Host header, and nothing more, made 6 of 6 valid
calls time out. Through the real server, production settings, loopback only, bounded in count and time."""
from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import load_fixture
from tests.support.service import ServiceProcess

HALF_OPEN = 50


@pytest.fixture(scope="module")
def prod():
    # 1 worker × 4 threads: the fewest threads there are to take
    with ServiceProcess(env={"TRAPPA_AUTH_REQUIRED": "0", "TRAPPA_THREADS": "4"}, dev=False, workers=1) as proc:
        yield proc


def _half_open(port: int, n: int) -> list[socket.socket]:
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"POST /cds-services/trappa-order-sign HTTP/1.1\r\nHost: 127.0.0.1\r\n" if i % 2 else b"POST /cds")
        socks.append(s)
    return socks


def test_half_open_connections_do_not_starve_valid_calls(prod):
    body = load_fixture("requests/order-sign.anna-testsson.json")
    socks = _half_open(prod.port, HALF_OPEN)
    try:
        time.sleep(0.5)  # the server has read what they sent
        with ThreadPoolExecutor(max_workers=6) as pool:
            started = time.monotonic()
            answers = list(pool.map(lambda _: prod.post("/cds-services/trappa-order-sign", body, timeout=10),
                                    range(6)))
            elapsed = time.monotonic() - started
        assert [a.status_code for a in answers] == [200] * 6
        assert all(a.json()["cards"] for a in answers)
        assert elapsed < 5, f"{elapsed:.1f} s"
        assert requests.get(prod.base_url + "/cds-services", timeout=5).status_code == 200
    finally:
        for s in socks:
            s.close()


def test_a_head_that_arrives_slowly_in_pieces_is_served(prod):
    body = json.dumps(load_fixture("requests/order-sign.anna-testsson.json")).encode()
    head = (b"POST /cds-services/trappa-order-sign HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    with socket.create_connection(("127.0.0.1", prod.port), timeout=10) as s:
        for i in range(0, len(head), 16):
            s.sendall(head[i:i + 16])
            time.sleep(0.05)
        s.sendall(body)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


def test_an_unfinished_head_is_closed_after_the_head_timeout(prod):
    from cds_service.web.http_server import HEAD_TIMEOUT_S

    with socket.create_connection(("127.0.0.1", prod.port), timeout=HEAD_TIMEOUT_S + 5) as s:
        s.sendall(b"GET /cds-services HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        assert s.recv(100) == b""  # closed by the server, nothing answered
        assert HEAD_TIMEOUT_S - 0.5 < time.monotonic() - started < HEAD_TIMEOUT_S + 3
