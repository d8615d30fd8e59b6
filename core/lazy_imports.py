"""Keep web workers from loading client libraries they never use.

Huey's storage module imports ``psycopg`` (for its PostgreSQL queue, which the CRM never
uses) and ``redis`` (for its Redis queue, used only when REDIS_URL is set) when it is
imported, so every web worker of a SQLite installation paid ~15 MiB for two clients it
never calls. ``import_hiding`` imports Huey while they are hidden (Huey then treats them as
not installed) and un-hides them right after: SQLAlchemy still imports psycopg on its first
PostgreSQL connection, and ``bind_huey_redis`` gives Huey the redis client when an app is
configured with Redis after all. (The standard library's ``LazyLoader`` does not help on
Python 3.11: ``import psycopg`` itself reads the lazy module's ``__spec__`` and so executes
it.)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable


def import_hiding(module: str, hidden: Iterable[str]) -> None:
    """Import ``module`` as if the not yet loaded modules ``hidden`` were not installed."""
    if module in sys.modules:
        return
    names = [name for name in hidden if name not in sys.modules]
    for name in names:
        sys.modules[name] = None  # type: ignore[assignment]  # "import name" raises ImportError
    try:
        importlib.import_module(module)
    finally:
        for name in names:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]


def bind_huey_redis() -> None:
    """Give Huey the redis names its storage module binds at import (as that import does)
    if Huey was imported while redis was hidden; a no-op otherwise."""
    from huey import storage

    if storage.Redis is not None:
        return
    import redis
    from redis import exceptions

    storage.ConnectionPool = redis.ConnectionPool
    storage.Redis = redis.Redis
    storage.ConnectionError = exceptions.ConnectionError
    storage.TimeoutError = exceptions.TimeoutError
    storage.RedisStorage.redis_client = redis.Redis  # a class attribute set at import
