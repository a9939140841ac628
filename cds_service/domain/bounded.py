"""Bounding what a client sent before a card shows it or carries it in its facts.

A record's display texts and references are the EHR's, of any length; a card must stay readable and
small whatever arrives. Pure, no IO."""
from __future__ import annotations


def clip(text: str | None, limit: int = 80) -> str:
    """``text`` with its whitespace runs made single spaces, cut to ``limit`` characters (ending in
    "…"); None or empty → ""."""
    if not text:
        return ""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
