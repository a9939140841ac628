"""The caches the mapping keeps of what repeats in records — texts, never a patient's data as such: a
product name, a dosage text, a unit, a product's identification, a dosage's steps. Bounded in entries
and in the length of what they key on. Two kinds: :func:`text_cache` for a function of one text, and
:class:`BoundedCache` where the mapping builds a key of its own (what the key must hold to mean
"same answer" is the mapping's knowledge; how many entries to keep is this module's).

Why here and not beside the lookups: they make a call fast, they do not change an answer, so they sit with
the rest of what makes a call fast and the lookups read as plain functions.
"""
from __future__ import annotations

from functools import lru_cache, wraps

#: Longest text the caches below keep. Longer texts are worked out every time: a cache holding
#: whatever a client sends (a megabyte "display") would let memory grow from request to request.
CACHEABLE_TEXT = 256


def text_cache(maxsize: int, max_len: int = CACHEABLE_TEXT):
    """``lru_cache`` for a function of a text (plus hashable arguments), skipped for long texts."""

    def decorate(fn):
        cached = lru_cache(maxsize=maxsize)(fn)

        @wraps(fn)
        def lookup(text, *args):
            if len(text) <= max_len:
                return cached(text, *args)
            return fn(text, *args)

        lookup.cache_clear = cached.cache_clear
        lookup.cache_info = cached.cache_info
        return lookup

    return decorate


class BoundedCache(dict):
    """A dict that holds at most ``maxsize`` entries: when full, :meth:`put` empties it first, so
    memory stays flat however many distinct keys pass through (a worker's records repeat a handful of
    products and dosages; a cache that filled up is almost always full of one client's oddities).
    Lookups are plain ``dict.get`` (the hot path pays nothing for the bound)."""

    __slots__ = ("maxsize",)

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize

    def put(self, key, value) -> None:
        if len(self) >= self.maxsize:
            self.clear()
        self[key] = value
