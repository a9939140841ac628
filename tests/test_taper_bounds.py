"""The schedule engine's work is bounded whatever the dose: a typo in the EHR (1000 tablets, mg for µg)
gets an answer at once, never a worker busy for minutes.
"""
from __future__ import annotations

from itertools import combinations_with_replacement

import pytest

from cds_service import taper
from cds_service.taper import strengths_table

TABLE = strengths_table()


# ---------------------------------------------------------------------------------------------
# the amounts of one administration: the same as enumerating every combination


def _enumerated(strengths, soft_max, max_units):
    """The enumeration the engine used to run (fewest units, then the largest strengths first)."""
    best = {0: ()}
    desc = tuple(sorted(strengths, reverse=True))
    for k in range(1, max_units + 1):
        for combo in combinations_with_replacement(desc, k):
            amount = sum(combo)
            if k > soft_max and amount <= soft_max * desc[0]:
                continue
            best.setdefault(amount, combo)
    return best


@pytest.mark.parametrize("strengths", sorted({tuple(round(s * 1000) for s in row.strengths) for row in TABLE.values()}
                                             | {(1000, 2500, 7500), (12000, 25000), (3000, 7000, 11000)}))
def test_amounts_by_units_equal_the_enumeration(strengths):
    for soft_max, max_units in ((1, 1), (2, 2), (2, 6), (4, 4), (4, 7)):
        assert dict(taper._per_administration_amounts(strengths, soft_max, max_units)) == \
            _enumerated(strengths, soft_max, max_units), (soft_max, max_units)
