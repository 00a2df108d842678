"""The night's lock: one live run per day and part, and none once its process is gone.

A run that crashes cleanly releases its lock in `finally`; one that is killed (SIGKILL, an
out-of-memory kill, a lost machine) runs no `finally`, so the lock must end with the
process by itself:
- on PostgreSQL, a session-level advisory lock on the run's own connection: PostgreSQL
  drops it the moment that session ends, however it ends, and the next run starts at once;
- elsewhere (the SQLite zero-setup default, one process), a cache key that expires
  LEASE_SECONDS after its last renewal, renewed by a thread while the process lives: a
  killed run blocks the next one for two minutes at most.

The key is the day and the part (the whole night, "chunk 2/4", "global"): chunks of one
night never wait for each other, two runs of the same chunk never overlap.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from datetime import date

from django.core.cache import cache
from django.db import DatabaseError
from django.db import connection as default_connection

logger = logging.getLogger(__name__)

# A lease outlives its last renewal by this much; it is renewed every quarter of it.
LEASE_SECONDS = 2 * 60

LOCK_LOST = (
    "the lock of the nightly run {name} was lost (its connection or lease ended): "
    "stopped so that two runs never overlap"
)


class LockLost(RuntimeError):
    """The run no longer holds its lock: another run may be working on the same part."""


def lock_name(day: date, part: str) -> str:
    # "chunk 2/4" -> "chunk-2-of-4": a key any cache backend accepts.
    slug = (part or "all").replace(" ", "-").replace("/", "-of-")
    return f"nightly-run:{day.isoformat()}:{slug}"


def run_lock(day: date, part: str) -> AdvisoryLock | Lease:
    """The lock for a run of `day` and `part` on this process's database."""
    name = lock_name(day, part)
    return AdvisoryLock(name) if default_connection.vendor == "postgresql" else Lease(name)


class AdvisoryLock:
    """A PostgreSQL session-level advisory lock, held by `connection` (the run's own)."""

    def __init__(self, name: str, *, connection=None):
        self.name = name
        self.connection = connection or default_connection
        # Advisory locks are keyed by one bigint: the first 8 bytes of the name's hash.
        digest = hashlib.sha256(f"licensing:{name}".encode()).digest()
        self.key = int.from_bytes(digest[:8], "big", signed=True)
        self._session = None

    def acquire(self) -> bool:
        """Take the lock if no other session holds it; never waits."""
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [self.key])
            held = bool(cursor.fetchone()[0])
        if held:
            # The DB-API connection the lock belongs to: if Django ever replaces it, the
            # lock went with the old session.
            self._session = self.connection.connection
        return held

    def renew(self) -> None:
        """Nothing to extend; raise LockLost if the session that held the lock is gone."""
        if self.connection.connection is not self._session:
            raise LockLost(LOCK_LOST.format(name=self.name))

    def release(self) -> None:
        if self._session is None or self.connection.connection is not self._session:
            return  # never taken, or gone with its session
        self._session = None
        try:
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [self.key])
        except DatabaseError:
            # E.g. a transaction left aborted by the error that ended the run. A persistent
            # connection (a Celery worker's) would keep the lock for its whole life: the
            # session ends instead, and the lock with it.
            logger.warning("could not release %s: closing its connection", self.name)
            if not self.connection.in_atomic_block:
                self.connection.close()


class Lease:
    """A cache key holding this run's token, that expires unless renewed."""

    def __init__(self, name: str, *, seconds: int = LEASE_SECONDS):
        self.name, self.seconds = name, seconds
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None
        self._lost = False

    def acquire(self) -> bool:
        if not cache.add(self.name, self.token, timeout=self.seconds):
            return False
        # Renewed from a thread, not between steps: a step longer than the lease (a slow
        # mail server) must not let a second run in while this one is alive.
        self._keeper = threading.Thread(target=self._keep, name=self.name, daemon=True)
        self._keeper.start()
        return True

    def _keep(self) -> None:
        while not self._stop.wait(self.seconds / 4):
            if not self._extend():
                return

    def _extend(self) -> bool:
        # Read, then touch: the cache API has no compare-and-touch, and the moment between
        # the two is far shorter than the lease.
        if self._lost or cache.get(self.name) != self.token:
            self._lost = True
            return False
        cache.touch(self.name, self.seconds)
        return True

    def renew(self) -> None:
        """Extend the lease now; raise LockLost if it expired and changed hands."""
        if not self._extend():
            raise LockLost(LOCK_LOST.format(name=self.name))

    def release(self) -> None:
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join()
            self._keeper = None
        if cache.get(self.name) == self.token:
            cache.delete(self.name)
