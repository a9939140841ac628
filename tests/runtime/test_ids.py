"""Card and suggestion UUIDs (``cds_service.runtime.ids``): random version 4 UUIDs, unique, fetched in batches,
and never shared between forked worker processes."""
from __future__ import annotations

import os
import uuid

import pytest

from cds_service.runtime import ids
from cds_service.runtime.ids import RandomUuids


def test_uuids_are_random_version_4_and_unique():
    make = RandomUuids(batch=8)  # several refills within the test
    values = [make() for _ in range(2000)]
    assert len(set(values)) == len(values)
    for v in values[:50] + values[-50:]:
        parsed = uuid.UUID(v)
        assert str(parsed) == v  # canonical lower-case 8-4-4-4-12 form
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_randomness_is_fetched_once_per_batch(monkeypatch):
    calls = []
    real = os.urandom

    def counting(n):
        calls.append(n)
        return real(n)

    monkeypatch.setattr(ids.os, "urandom", counting)
    make = RandomUuids(batch=256)
    for _ in range(600):
        make()
    assert calls == [16 * 256] * 3  # 600 UUIDs: three fetches, not 600


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_process_never_repeats_the_parents_uuids():
    make = RandomUuids(batch=256)
    make()  # the parent holds a batch with 255 UUIDs left when it forks
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next UUIDs, to the parent
        try:
            os.write(write_end, " ".join(make() for _ in range(20)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    child = set(os.read(read_end, 65536).decode().split())
    os.close(read_end)
    os.waitpid(pid, 0)
    parent = {make() for _ in range(20)}
    assert len(child) == 20
    assert not child & parent
