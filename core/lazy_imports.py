"""Keep web workers from loading a database driver they never use.

Huey's storage module imports ``psycopg`` at import time for its PostgreSQL queue, which
the CRM never uses (its queues are SQLite, Redis or in-memory), so every web worker of a
SQLite installation paid ~9.5 MiB for a driver it never calls. ``import_hiding`` imports
Huey while ``psycopg`` is hidden (Huey then treats it as not installed) and un-hides it
right after: SQLAlchemy still imports it on its first PostgreSQL connection. (The standard
library's ``LazyLoader`` does not help on Python 3.11: ``import psycopg`` itself reads the
lazy module's ``__spec__`` and so executes it.)
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
