"""Random identifiers for cards and suggestions (CDS Hooks ``uuid``), without a system call each.

``uuid.uuid4()`` asks the kernel for 16 random bytes per UUID: six system calls in a typical hook call,
all inside the evaluation, and each one lets the worker's other threads take the interpreter lock
(``cds_service.runtime.turns`` explains why the evaluation should keep it). :class:`RandomUuids` asks for the
same randomness once per 256 UUIDs — the bytes and the UUIDs are exactly those of ``uuid4``
(``UUID(bytes=os.urandom(16), version=4)``), only fetched in batches.
"""
from __future__ import annotations

import os
import threading
import uuid


class RandomUuids:
    """Version 4 UUIDs as strings, from ``os.urandom`` in batches of ``batch``.

    After a fork (every gunicorn worker is one) the child drops the batch it inherited and fetches its
    own: otherwise two workers would hand out the same UUIDs.
    """

    def __init__(self, batch: int = 256):
        self._size = 16 * batch
        self._forget()
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()  # new in a child too: another thread may have held it at the fork
        self._pool = b""
        self._at = 0

    def __call__(self) -> str:
        with self._lock:
            if self._at >= len(self._pool):
                self._pool, self._at = os.urandom(self._size), 0
            chunk = self._pool[self._at:self._at + 16]
            self._at += 16
        return str(uuid.UUID(bytes=chunk, version=4))


new_uuid = RandomUuids()
