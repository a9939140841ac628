"""The benchmark's floor: the least a Flask service under our server can do for a hook call.

``POST /cds-services/<id>`` reads the body, parses it (exactly as the hook view parses it) and
answers ``{"cards": []}``; nothing else (no validation, no rules, no audit). Served exactly like ``python -m cds_service serve``
(``cds_service/__main__.py``): gunicorn, ``gthread`` workers, the same worker and thread counts,
timeouts and no access log — so the difference between the two is what Trappa itself costs.

Run: ``python bench/floor_app.py --host 127.0.0.1 --port 8090 --workers 2 --threads 4``.
"""
from __future__ import annotations

import argparse
import os

from flask import Flask, Response, request

EMPTY = b'{"cards": []}'


def parse(raw: bytes):
    """Parse exactly as Trappa's hook view does (``cds_service.protocol.jsonio.parse_json``, called by
    ``views/hooks.py`` ``call_service``), so the floor is the least *our* stack can do and the
    difference between the two is what Trappa does beyond reading the request."""
    from cds_service.protocol.jsonio import parse_json

    return parse_json(raw)


def create_app() -> Flask:
    app = Flask("trappa-floor")

    @app.post("/cds-services/<service_id>")
    def call_service(service_id: str):
        body = parse(request.get_data(cache=False))
        if not isinstance(body, dict):  # keeps the parse from being optimised away, and is honest
            return Response(b'{"error": "not an object"}', status=400, mimetype="application/json")
        return Response(EMPTY, status=200, mimetype="application/json")

    @app.get("/health")
    def health():
        return Response(b'{"status": "ok"}', status=200, mimetype="application/json")

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Trappa benchmark floor (gunicorn, like the serve command)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("TRAPPA_WORKERS", os.cpu_count() or 2)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("TRAPPA_THREADS", 4)))
    args = parser.parse_args(argv)

    from cds_service.__main__ import run_gunicorn

    run_gunicorn(create_app, args.host, args.port, args.workers, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
