"""The per-worker caches stay bounded whatever passes through them, and never change an answer."""
from __future__ import annotations

from cds_service.runtime.caches import BoundedCache, text_cache


def test_a_bounded_cache_never_holds_more_than_its_size():
    cache = BoundedCache(maxsize=3)
    for i in range(10):
        cache.put(i, str(i))
        assert len(cache) <= 3
    assert cache.get(9) == "9"  # the newest entry survives the emptying before it


def test_a_text_cache_skips_long_texts_but_answers_the_same():
    calls = []

    @text_cache(maxsize=8, max_len=5)
    def upper(text: str) -> str:
        calls.append(text)
        return text.upper()

    assert upper("abc") == upper("abc") == "ABC"
    assert calls == ["abc"]  # the second came from the cache
    assert upper("abcdefgh") == upper("abcdefgh") == "ABCDEFGH"
    assert calls == ["abc", "abcdefgh", "abcdefgh"]  # too long to keep: worked out each time
