"""The audit trail's journal: every call's record on local disk before its answer, in the database behind it.

Swedish law requires a record of who accessed which patient's data when, so an audit record must not be
lost when a worker is killed or the database is down. The record of a call is appended to a journal file
of the worker's own (one JSON line, one ``write`` system call) *before* the response is sent; a call whose
record cannot be written is answered 503, never 200. A background thread per worker ships new lines to
the database in batches (one transaction for the rows of ~50 ms) and notes how far it got in a checkpoint
file beside the journal.

Why this survives what it must:
- **A killed worker** (SIGKILL, OOM): its lines are in the kernel's page cache the moment ``write``
  returned, so they are in the file whatever happens to the process. Each worker holds an exclusive
  ``flock`` on its journal for life; the kernel drops it when the process dies, and any other worker —
  or the next one to start — that can take the lock knows the journal is an orphan and ships the rest of
  it (from its checkpoint), then deletes it.
- **A database outage**: nothing is dropped; the shipper retries (backing off to 5 s) and the journal
  grows on disk until the database is back.
- **Shipped twice** (a worker killed between the insert and its checkpoint, or two workers racing for an
  orphan): every record carries a random ``record_id`` with a unique index in the database, and rows
  already there are skipped — shipping is idempotent.
- Not covered by default: a crash of the whole machine before the page cache reaches the disk (seconds).
  ``TRAPPA_AUDIT_FSYNC=1`` syncs every record (``fdatasync``; about a disk flush per call) for that.

The journal directory must be local to one host (one replica): the locks are the host's.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

_PREFIX = "journal-"
_SUFFIX = ".jsonl"
_CHECKPOINT = ".shipped"


class JournalUnavailable(Exception):
    """The record could not be written to the journal (disk full, directory gone, read-only): the
    call must not be answered 200. The message is the exception type only."""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_checkpoint(path: Path) -> int:
    try:
        return int(path.read_text(encoding="ascii").strip() or 0)
    except (OSError, ValueError):
        return 0


def _write_checkpoint(path: Path, offset: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(str(offset), encoding="ascii")
    os.replace(tmp, path)


def _complete_lines(data: bytes) -> tuple[list[dict], int]:
    """The records of the complete lines in ``data`` and how many bytes they take. A torn last line
    (a process killed inside ``write``: the call was never answered) is left for later, or forever."""
    end = data.rfind(b"\n") + 1
    records = []
    for line in data[:end].splitlines():
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:  # a line torn by a crash in the middle of the file: skipped, and said
            log.error("audit journal: an unreadable line was skipped")
    return records, end


class AuditJournal:
    """One worker's journal and its shipper (see the module docstring).

    ``ship(records)`` stores records in the database and must be idempotent on ``record_id``; it raises
    when the database cannot take them (they are retried)."""

    def __init__(self, directory: str | Path, ship: Callable[[list[dict]], None], *, fsync: bool = False,
                 linger: float = 0.05, batch: int = 500, rotate_bytes: int = 8 * 1024 * 1024,
                 orphan_interval: float = 5.0):
        self.directory = Path(directory)
        self._ship = ship
        self._fsync = fsync
        self._linger = linger
        self._batch = batch
        self._rotate_bytes = rotate_bytes
        self._orphan_interval = orphan_interval
        self._lock = threading.Lock()  # the file, its offsets, rotation
        self._wake = threading.Event()
        self._pid: int | None = None
        self._fd: int | None = None
        self._path: Path | None = None
        self._written = 0  # bytes appended to the current file
        self._shipped = 0  # bytes of it in the database
        self._pending = 0  # records appended, not yet in the database (this process)
        self._failing_since: float | None = None
        self._thread: threading.Thread | None = None
        self.observe_pending: Callable[[int], None] | None = None  # the metrics' gauge (app.py)

    # -- the request's side: one write ------------------------------------------------------------

    def append(self, record: dict) -> None:
        """Write ``record`` (JSON values) to the journal before the call is answered."""
        line = (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")
        try:
            with self._lock:
                if self._pid != os.getpid():
                    self._open()
                _write_all(self._fd, line)
                if self._fsync:
                    os.fdatasync(self._fd)
                self._written += len(line)
                self._pending += 1
        except OSError as exc:
            raise JournalUnavailable(type(exc).__name__) from None
        self._wake.set()

    @property
    def pending(self) -> int:
        """Records of this process appended but not yet in the database."""
        return self._pending

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until this process's records are in the database; False after ``timeout``."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        while self._pending and time.monotonic() < deadline:
            time.sleep(0.002)
        return self._pending == 0

    # -- files ------------------------------------------------------------------------------------

    def _open(self) -> None:
        """This process's own journal and shipper (a new process after a fork too: the parent's
        journal is the parent's)."""
        if self._fd is not None and self._pid != os.getpid():
            os.close(self._fd)  # the inherited descriptor; the parent's lock stays the parent's
            self._fd = None
        self._open_file()
        self._pid = os.getpid()
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name="trappa-audit-shipper", daemon=True)
        self._thread.start()

    def _open_file(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{_PREFIX}{socket.gethostname()}-{os.getpid()}-{time.time_ns()}{_SUFFIX}"
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd, self._path = fd, path
        self._written = self._shipped = 0

    def _rotate(self) -> None:
        """Start a new file once the current one is wholly in the database and large."""
        with self._lock:
            if self._shipped != self._written or self._written < self._rotate_bytes:
                return
            old_fd, old_path = self._fd, self._path
            self._open_file()
        old_path.unlink(missing_ok=True)
        Path(str(old_path) + _CHECKPOINT).unlink(missing_ok=True)
        os.close(old_fd)

    # -- the shipper --------------------------------------------------------------------------------

    def _run(self) -> None:
        next_orphans = 0.0
        backoff = 0.0
        while True:
            self._wake.wait(timeout=self._orphan_interval if not backoff else backoff)
            self._wake.clear()
            if self._linger and not backoff:
                time.sleep(self._linger)
            try:
                self._ship_own()
                if time.monotonic() >= next_orphans:
                    self.reconcile()
                    next_orphans = time.monotonic() + self._orphan_interval
                self._rotate()
                if self._failing_since is not None:
                    log.warning("audit database reachable again after %.0f s: the journal is being shipped",
                                time.monotonic() - self._failing_since)
                    self._failing_since = None
                backoff = 0.0
            except Exception as exc:  # the database is down: everything stays in the journal
                if self._failing_since is None:
                    self._failing_since = time.monotonic()
                    log.error("audit database unavailable (%s): %d records wait in the journal",
                              type(exc).__name__, self._pending)
                backoff = min(5.0, max(0.1, backoff * 2))
            if self.observe_pending is not None:
                self.observe_pending(self._pending)

    def _ship_own(self) -> None:
        if self._path is None:
            return
        while True:
            with self._lock:
                path, start, end = self._path, self._shipped, self._written
            if start >= end:
                return
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read(min(end - start, 4 * 1024 * 1024))
            records, used = _complete_lines(data)
            if not used:
                return
            for i in range(0, len(records), self._batch):
                self._ship(records[i:i + self._batch])
            with self._lock:
                if self._path == path:
                    self._shipped = start + used
                    self._pending = max(0, self._pending - len(records))
            _write_checkpoint(Path(str(path) + _CHECKPOINT), start + used)

    def reconcile(self) -> int:
        """Ship the journals of processes that are gone (their lock is free), then delete them. The
        number of records shipped. Run at start-up and every few seconds by each worker's shipper."""
        shipped = 0
        if not self.directory.is_dir():
            return 0
        for path in sorted(self.directory.glob(f"{_PREFIX}*{_SUFFIX}")):
            if path == self._path:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # shipped by another worker meanwhile
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its process is alive and ships it itself
                if not path.exists():  # deleted after we opened it: another worker shipped it
                    continue
                checkpoint = Path(str(path) + _CHECKPOINT)
                start = _read_checkpoint(checkpoint)
                with os.fdopen(os.dup(fd), "rb") as f:
                    f.seek(start)
                    data = f.read()
                records, _used = _complete_lines(data)
                for i in range(0, len(records), self._batch):
                    self._ship(records[i:i + self._batch])
                shipped += len(records)
                path.unlink(missing_ok=True)
                checkpoint.unlink(missing_ok=True)
            finally:
                os.close(fd)
        if shipped:
            log.info("audit journal: %d records of ended workers reconciled into the database", shipped)
        return shipped
