"""Logging: what a log line may hold of a request.

Every value that comes from a request — its path, method, a header, a claim, a hookInstance — goes into
a log line through :func:`safe`, never as it is. A path is decoded before the service sees it, so
``GET /cds-services/x%0a2026-12-02 00:00:00,000 ERROR …`` used to write a second, forged line into the
log ("ERROR …") that a reader or a log shipper took for the service's own. :func:`safe` escapes what
could end or disguise a line and cuts the value short.

The format is text by default, or JSON lines (``TRAPPA_LOG_FORMAT=json``, python-json-logger) with the
request id and the hookInstance on each of a request's lines (:func:`configure`).
"""
from __future__ import annotations

import itertools
import logging
import os
import re

_LIMIT = 200


def _escape_char(ch: str) -> str:
    if ch == "\\":
        return "\\\\"
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code < 0x100:
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch, f"\\x{code:02x}")
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def safe(value, limit: int = _LIMIT) -> str:
    """``value`` fit for one log line: a string as it is but with backslashes doubled and every
    character that is not printable — line breaks (also U+2028/U+2029), other control characters,
    bidirectional and other format characters — written as its escape (``\\n``, ``\\x1b``,
    ``\\u202e``); anything else by its ``repr``. At most ``limit`` characters of the value, then "…"."""
    text = value if isinstance(value, str) else repr(value)
    cut = len(text) > limit
    if cut:
        text = text[:limit]
    if not text.isprintable() or "\\" in text:
        text = "".join(_escape_char(ch) for ch in text)
    return text + "…" if cut else text


# ---------------------------------------------------------------------------------------------------
# Log format: text (default) or JSON lines (TRAPPA_LOG_FORMAT=json)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FORMATS = ("text", "json")
_JSON_HANDLER = "trappa-json"


def json_formatter() -> logging.Formatter:
    """One JSON object per line (python-json-logger): time (ISO 8601, UTC), level, logger, message,
    and on a request's lines its ``request_id`` and ``hookInstance``. Nothing else of the request:
    the message is what the service wrote, with request values through :func:`safe`."""
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter("{levelname}{name}{message}", style="{", timestamp="time",
                         rename_fields={"levelname": "level", "name": "logger"}, json_ensure_ascii=False)


class RequestContext(logging.Filter):
    """Adds the request id and the hookInstance of the request being served (``flask.g``) to each
    record written in that request's thread."""

    def filter(self, record: logging.LogRecord) -> bool:
        from flask import g, has_request_context

        if has_request_context():
            request_id = g.get("trappa_request_id")
            if request_id is not None:
                record.request_id = request_id
            hook_instance = g.get("trappa_hook_instance")
            if hook_instance is not None:
                record.hookInstance = hook_instance
        return True


def configure(level: str, fmt: str) -> None:
    """The service's logging, once per process (create_app): ``text`` (the default) or ``json``."""
    root = logging.getLogger()
    if fmt != "json":
        logging.basicConfig(level=level, format=TEXT_FORMAT)
        return
    if not any(getattr(h, "name", None) == _JSON_HANDLER for h in root.handlers):
        handler = logging.StreamHandler()
        handler.set_name(_JSON_HANDLER)
        handler.setFormatter(json_formatter())
        handler.addFilter(RequestContext())
        root.addHandler(handler)
    root.setLevel(level)


def gunicorn_logconfig(fmt: str) -> dict | None:
    """gunicorn's own loggers (the master's start-up and worker lines, the workers' refusals) in JSON
    too, for ``json``: a log shipper then reads one format. None for ``text`` (gunicorn's default)."""
    if fmt != "json":
        return None
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": []},  # the app adds its own (configure)
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["json_console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["json_console"], "propagate": False},
        },
        "handlers": {"json_console": handler},
        "formatters": {"json": {"()": json_formatter}},
    }


# ---------------------------------------------------------------------------------------------------
# Request ids

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_prefix = os.urandom(4).hex()
_counter = itertools.count(1)


def _new_prefix() -> None:
    global _prefix
    _prefix = os.urandom(4).hex()


os.register_at_fork(after_in_child=_new_prefix)


def request_id(incoming: str | None) -> str:
    """The id of a request in the log: the caller's ``X-Request-ID`` when it is a plain token (a proxy's
    or the EHR's, for following one call through several logs), else a new one — a random prefix per
    process and a counter, so no system call per request."""
    if incoming and _REQUEST_ID.fullmatch(incoming):
        return incoming
    return f"{_prefix}-{next(_counter):x}"
