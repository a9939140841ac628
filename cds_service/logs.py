"""Logging: what a log line may hold of a request.

Every value that comes from a request — its path, method, a header, a claim, a hookInstance — goes into
a log line through :func:`safe`, never as it is. A path is decoded before the service sees it, so
``GET /cds-services/x%0a2026-12-02 00:00:00,000 ERROR …`` used to write a second, forged line into the
log ("ERROR …") that a reader or a log shipper took for the service's own. :func:`safe` escapes what
could end or disguise a line and cuts the value short.
"""
from __future__ import annotations

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
