"""Why a value is unknown, as a code with parameters: ``Problem("no-conversion-factor", ingredient="tapentadol")``.

Honesty rule (clinical-rules §4): an unknown dose or MEDD is ``None`` plus its problem, never 0. The
problem is data, not words: the mapping layer and the domain say *which* problem and with what, the
cards word it in the card's language from the message catalogs (``problem.<code>`` in
``cds_service/cards/locale``). Parameters are plain values (an ingredient key, a unit, a dose) or a
nested problem (the cause of an unknown daily dose).

``str(problem)`` is its English text, for logs and for the machine-readable card facts that have always
carried it; the cards install that wording (:func:`set_english`) when ``cds_service.cards.words`` is
imported, since the domain holds no words. Before that it is the code and parameters.
"""
from __future__ import annotations

from typing import Callable




class Problem:
    __slots__ = ("code", "params")

    code: str
    params: tuple[tuple[str, object], ...]

    def __init__(self, code: str, /, **params: object) -> None:
        self.code = code
        self.params = tuple(params.items())

    def get(self, name: str, default: object = None) -> object:
        for key, value in self.params:
            if key == name:
                return value
        return default

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Problem) and self.code == other.code and dict(self.params) == dict(other.params)

    def __hash__(self) -> int:
        return hash((self.code, frozenset(self.params)))

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params)
        return f"Problem({self.code!r}{args})"

    def __str__(self) -> str:
        return _english(self)

    def __bool__(self) -> bool:
        return True


def _code_form(problem: Problem) -> str:
    return repr(problem)


_english: Callable[[Problem], str] = _code_form


def set_english(wording: Callable[[Problem], str]) -> None:
    """The cards' English wording of a problem, used by ``str(problem)``."""
    global _english
    _english = wording
