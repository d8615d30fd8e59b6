"""Per-worker caches of data that hot requests read and that rarely changes.

Who a session or API token belongs to (the user, their roles, permissions and scopes),
the client option lists, custom fields and settings: reading them from the database on
every request costs more than the page itself. A ``WorkerCache`` keeps them in the worker
process, and drops them

- at once, in every process on this host, when a transaction that wrote to one of
  ``WATCHED_TABLES`` commits: the commit bumps a process-wide counter and a counter in a
  small shared file in the instance folder (``cache-generation``, mapped into memory),
  which each lookup compares in a fraction of a microsecond;
- after ``CRM_CACHE_TTL`` seconds (default 1) in any case: the bound for changes made where
  no counter sees them (another web host sharing the database, SQL typed by hand).

So revoking a token, deactivating a user, ending sessions or taking a permission away
takes effect on the next request on this host, and within ``CRM_CACHE_TTL`` seconds on
other hosts. Writes that must not drop the caches (an API token's ``last_used_at``) run
with the execution option ``crm_cache_neutral=True``.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

WATCHED_TABLES = frozenset(
    {
        "users",
        "roles",
        "user_roles",
        "api_tokens",
        "teams",
        "settings",
        "client_options",
        "custom_fields",
        "plugins",
    }
)
_WRITE = re.compile(
    r"\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO)\s+[\"`]?(\w+)",
    re.IGNORECASE,
)
_DIRTY = "crm_cache_dirty"
_MAX_ENTRIES = 10_000


class _Process:
    """The process-wide counter, and the shared counters of the live caches to bump."""

    generation = 0
    lock = threading.Lock()
    shared: weakref.WeakSet[SharedCounter] = weakref.WeakSet()


def bump() -> None:
    """Drop every cache in this process, and (through the shared files) on this host."""
    with _Process.lock:
        _Process.generation += 1
        counters = list(_Process.shared)
    for counter in counters:
        counter.bump()


@event.listens_for(Engine, "before_cursor_execute")
def _note_write(conn, cursor, statement, parameters, context, executemany) -> None:
    head = statement[:7].upper()
    if head.startswith("SELECT") or head.startswith("PRAGMA"):
        return
    match = _WRITE.match(statement)
    if match is None or match.group(1).lower() not in WATCHED_TABLES:
        return
    if context is not None and context.execution_options.get("crm_cache_neutral"):
        return
    conn.info[_DIRTY] = True


@event.listens_for(Engine, "commit")
def _after_commit(conn) -> None:
    if conn.info.pop(_DIRTY, False):
        bump()


@event.listens_for(Engine, "rollback")
def _after_rollback(conn) -> None:
    conn.info.pop(_DIRTY, None)


class SharedCounter:
    """Eight bytes in a file every worker of the host maps; a bump changes them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._map: mmap.mmap | None = None
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if os.fstat(fd).st_size < 8:
                    os.ftruncate(fd, 8)
                self._map = mmap.mmap(fd, 8)
            finally:
                os.close(fd)
        except OSError:
            self._map = None  # a read-only instance folder: the TTL alone bounds staleness

    def read(self) -> int:
        return struct.unpack_from("<Q", self._map)[0] if self._map is not None else 0

    def bump(self) -> None:
        if self._map is not None:
            value = (self.read() + 1) & 0xFFFF_FFFF_FFFF_FFFF
            struct.pack_into("<Q", self._map, 0, value)


class WorkerCache:
    """Values by key, each kept ``ttl`` seconds or until a watched table changes.

    ``get(key, load)`` returns the cached value or calls ``load()``; ``None`` results (an
    unknown token, say) are not kept. ``ttl`` 0 turns caching off.
    """

    def __init__(self, ttl: float, shared_path: Path | None = None) -> None:
        self.ttl = ttl
        self.shared = SharedCounter(shared_path) if shared_path is not None else None
        if self.shared is not None:
            _Process.shared.add(self.shared)
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._generation: tuple[int, int] = (-1, -1)

    def generation(self) -> tuple[int, int]:
        return _Process.generation, self.shared.read() if self.shared is not None else 0

    def get(self, key: Hashable, load: Callable[[], Any]) -> Any:
        if self.ttl <= 0:
            return load()
        generation = self.generation()
        if generation != self._generation:
            self._entries = {}
            self._generation = generation
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = load()
        # Kept only if nothing changed while it was read: it might be stale otherwise.
        if value is not None and self.generation() == generation:
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries = {}
            self._entries[key] = (now + self.ttl, value)
        return value

    def clear(self) -> None:
        self._entries = {}


def init_cache(app) -> WorkerCache:
    cache = WorkerCache(
        float(app.config["CRM_CACHE_TTL"]), Path(app.instance_path) / "cache-generation"
    )
    app.extensions["crm_cache"] = cache
    return cache


def cached(key: Hashable, load: Callable[[], Any]) -> Any:
    """``load()`` through the current app's worker cache."""
    from flask import current_app

    return current_app.extensions["crm_cache"].get(key, load)
