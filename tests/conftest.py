"""Shared fixtures: the real FHIR test server and the real Trappa server process (session-wide)."""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

import cds_service.cards  # noqa: F401 - str(problem) is English once the cards are loaded, as in the service

from tests.support.service import ServiceProcess
from tests.support.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def load_fixture(relpath: str) -> dict:
    return json.loads((FIXTURES / relpath).read_text(encoding="utf-8"))


PATIENTS = ("anna-testsson", "bob-example", "carl-prov")


@pytest.fixture(scope="session")
def fhir_server():
    """The real FHIR R4 test server with the fixture patients loaded. A small default page size (5)
    makes every search of a fixture patient's history span several pages, so paging is always exercised."""
    from tests.support.fhir_server import FhirTestServer

    with FhirTestServer(base_path="/fhir/r4", default_count=5) as server:
        for name in PATIENTS:
            server.load(load_fixture(f"patients/{name}.json"))
        yield server


def without_prefetch(relpath: str, fhir_base: str) -> dict:
    """A no-prefetch fixture request pointed at the given FHIR server."""
    body = load_fixture(relpath)
    body["fhirServer"] = fhir_base
    return body


@pytest.fixture(scope="session")
def service():
    """The production server (gunicorn, 2 workers) in development mode (auth off)."""
    with ServiceProcess() as proc:
        yield proc


# --- PostgreSQL (the tests that need one skip, saying why, when none runs) --------------------------------

def _postgres_admin_url() -> str | None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None
    from sqlalchemy import create_engine, text

    url = os.environ.get("TRAPPA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return url
    except Exception:
        return None


@pytest.fixture(scope="module")
def postgres_db():
    """A database of its own on the local PostgreSQL, reached through a TcpProxy; dropped at the end."""
    admin_url = _postgres_admin_url()
    if admin_url is None:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432 (or TRAPPA_TEST_POSTGRES_URL) and psycopg")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = "trappa_test_" + uuid.uuid4().hex[:12]
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    base = make_url(admin_url)
    proxy = TcpProxy(base.host or "127.0.0.1", base.port or 5432).start()
    url = base.set(host="127.0.0.1", port=proxy.port, database=name).render_as_string(hide_password=False)
    try:
        yield url, proxy
    finally:
        proxy.stop()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
