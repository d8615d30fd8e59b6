"""The app's plugin registry: discovery through entry points, state from the database, hook calls.

Every installed plugin is loaded and registered with pluggy at start-up; whether it is
*active* (enabled and healthy) is data read from the ``plugins`` table. Hooks are called
implementation by implementation, skipping inactive plugins (rather than through pluggy's
``subset_hook_caller``) so core knows who contributed what and one plugin's exception
cannot break a page (hooks that work inside the caller's transaction use
``call_each_or_fail`` instead: there a failure must undo the whole change). Toggling
never re-registers anything, and every worker process notices a toggle within
``CRM_PLUGIN_STATE_TTL`` seconds.
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pluggy
import sqlalchemy as sa

from core import hookspecs

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "crm.plugins"
CORE = "core"


@dataclass
class PluginInfo:
    """What is known about one discovered plugin in this process."""

    name: str
    title: str = ""
    version: str = ""
    description: str = ""
    requires: tuple[str, ...] = ()
    default_enabled: bool = False
    distribution: str = ""
    obj: Any = None
    migrations_path: Path | None = None
    # Why the plugin could not be loaded in this process (import error, bad metadata,
    # a hook without specification); such a plugin is never active.
    load_error: str | None = None
    blueprints: list[str] = field(default_factory=list)
    # Its hooks take the request's cached ``Principal`` as ``user`` (see ``Deferred``).
    takes_principal: bool = False

    @property
    def loaded(self) -> bool:
        return self.load_error is None


class HookFailed(Exception):
    """An implementation raised during ``PluginRegistry.call_each_or_fail``: ``plugin_name``
    says whose, ``error`` (also the ``__cause__``) is what it raised."""

    def __init__(self, hook_name: str, plugin_name: str, error: Exception) -> None:
        super().__init__(
            f"plugin {plugin_name}: {hook_name} failed: {type(error).__name__}: {error}"
        )
        self.hook_name = hook_name
        self.plugin_name = plugin_name
        self.error = error


class Deferred:
    """A hook argument computed only if an implementation takes it (the ``User`` of a
    request costs a query). Core's own implementations get ``for_core`` instead when it
    is given (the request's cached ``Principal``: core only reads permissions and scope),
    and so do plugins that declare ``takes_principal = True``."""

    __slots__ = ("_load", "_value", "_loaded", "for_core")

    def __init__(self, load, for_core: Any = None) -> None:
        self._load = load
        self._loaded = False
        self._value = None
        self.for_core = for_core

    def get(self, plugin_name: str) -> Any:
        if self.for_core is not None and (
            plugin_name == CORE or plugin_name in _principal_takers()
        ):
            return self.for_core
        if not self._loaded:
            self._value = self._load()
            self._loaded = True
        return self._value


def _principal_takers() -> frozenset[str]:
    from flask import current_app

    return current_app.extensions["crm_plugins"].principal_takers


def _arguments(impl, kwargs: dict[str, Any]) -> dict[str, Any]:
    args = {}
    for name in impl.argnames:
        if name in kwargs:
            value = kwargs[name]
            args[name] = value.get(impl.plugin_name) if isinstance(value, Deferred) else value
    return args


@dataclass(frozen=True)
class PluginRow:
    enabled: bool
    status: str
    error: str | None
    schema_revision: str | None


def _migrations_path(obj: Any) -> Path | None:
    """A plugin's Alembic folder: its ``migrations_path``, else ``migrations/`` beside it."""
    explicit = getattr(obj, "migrations_path", None)
    if explicit:
        return Path(explicit)
    module = inspect.getmodule(obj)
    file = getattr(module, "__file__", None)
    if not file:
        return None
    candidate = Path(file).resolve().parent / "migrations"
    return candidate if (candidate / "versions").is_dir() else None


class PluginRegistry:
    def __init__(self, engine_getter, state_ttl: float = 0.5) -> None:
        self.pm = pluggy.PluginManager("crm")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._engine_getter = engine_getter
        self._state_ttl = state_ttl
        self._lock = threading.Lock()
        self._rows: dict[str, PluginRow] = {}
        self._active: frozenset[str] = frozenset()
        self._inactive_reason: dict[str, str] = {}
        self._checked_at = 0.0
        # Plugins whose hooks get the request's Principal instead of a loaded User.
        self.principal_takers: frozenset[str] = frozenset()

    # --- loading -------------------------------------------------------------------------

    def register_core(self, obj: Any) -> None:
        self.pm.register(obj, name=CORE)
        self.pm.check_pending()

    def discover(self) -> None:
        """Load every plugin of the "crm.plugins" entry-point group; failures are recorded."""
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = getattr(ep.dist, "name", "") if ep.dist else ""
            info = PluginInfo(name=ep.name, distribution=dist)
            self.plugins[ep.name] = info
            try:
                obj = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import failure marks the plugin failed
                info.load_error = f"import failed: {type(exc).__name__}: {exc}"
                log.error("plugin %s: %s", ep.name, info.load_error)
                continue
            self._register(info, obj)
        self._check_requires()

    def _check_requires(self) -> None:
        """A plugin whose requirement is not installed (or failed to load) can never run."""
        changed = True
        while changed:
            changed = False
            for info in self.plugins.values():
                if not info.loaded:
                    continue
                missing = [
                    r for r in info.requires if r not in self.plugins or not self.plugins[r].loaded
                ]
                if missing:
                    info.load_error = (
                        "requires " + ", ".join(missing) + ", which is not installed or failed"
                    )
                    log.error("plugin %s: %s", info.name, info.load_error)
                    changed = True

    def _register(self, info: PluginInfo, obj: Any) -> None:
        name = getattr(obj, "name", None)
        if name != info.name:
            info.load_error = (
                f"declares name {name!r} but its entry point is {info.name!r}"
                if name
                else "declares no name"
            )
        elif name == CORE:
            info.load_error = "the name 'core' is reserved"
        else:
            info.title = str(getattr(obj, "title", "") or name)
            info.version = str(getattr(obj, "version", "") or "")
            info.description = str(getattr(obj, "description", "") or "")
            requires = getattr(obj, "requires", ()) or ()
            if isinstance(requires, str) or not all(isinstance(r, str) for r in requires):
                info.load_error = "requires must be a list of plugin names"
            else:
                info.requires = tuple(requires)
            info.default_enabled = bool(getattr(obj, "default_enabled", False))
            info.migrations_path = _migrations_path(obj)
            info.takes_principal = getattr(obj, "takes_principal", False) is True
        if info.load_error:
            log.error("plugin %s: %s", info.name, info.load_error)
            return
        try:
            self.pm.register(obj, name=info.name)
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            if self.pm.is_registered(obj):
                self.pm.unregister(obj)
            detail = re.sub(r" in plugin <.*>$", "", str(exc))
            info.load_error = f"invalid hook implementation: {detail}"
            log.error("plugin %s: %s", info.name, info.load_error)
            return
        info.obj = obj
        if info.takes_principal:
            self.principal_takers = self.principal_takers | {info.name}

    def loaded_names(self) -> list[str]:
        return [name for name, info in self.plugins.items() if info.loaded]

    # --- state ---------------------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Re-read plugin state from the database if the last read is older than the TTL."""
        now = time.monotonic()
        if not force and now - self._checked_at < self._state_ttl:
            return
        with self._lock:
            if not force and now - self._checked_at < self._state_ttl:
                return
            rows = self._read_rows()
            self._checked_at = time.monotonic()
            if rows == self._rows and not force:
                return
            self._apply(rows)

    def _read_rows(self) -> dict[str, PluginRow]:
        engine = self._engine_getter()
        try:
            with engine.connect() as conn:
                result = conn.execute(
                    sa.text("SELECT name, enabled, status, error, schema_revision FROM plugins")
                )
                return {
                    r.name: PluginRow(bool(r.enabled), r.status, r.error, r.schema_revision)
                    for r in result
                }
        except (sa.exc.OperationalError, sa.exc.ProgrammingError):
            # Not migrated yet (``crm init`` has not run): nothing is active.
            return {}

    def _apply(self, rows: dict[str, PluginRow]) -> None:
        active: set[str] = set()
        reasons: dict[str, str] = {}
        candidates = {
            name
            for name, row in rows.items()
            if row.enabled and row.status == "ok" and name in self.plugins
        }
        for name in list(candidates):
            if not self.plugins[name].loaded:
                reasons[name] = self.plugins[name].load_error or "not loaded"
                candidates.discard(name)
        # Drop plugins whose requirements are not active, until nothing changes.
        changed = True
        while changed:
            changed = False
            for name in sorted(candidates):
                missing = [r for r in self.plugins[name].requires if r not in candidates]
                if missing:
                    reasons[name] = "requires " + ", ".join(missing) + ", which is not active"
                    candidates.discard(name)
                    changed = True
        active = candidates
        self._rows = rows
        self._active = frozenset(active)
        self._inactive_reason = reasons

    def row(self, name: str) -> PluginRow | None:
        return self._rows.get(name)

    def title(self, name: str) -> str:
        """How to name a plugin to users ("Sales"), also one that failed to load."""
        info = self.plugins.get(name)
        return info.title if info is not None else name.capitalize()

    def is_active(self, name: str) -> bool:
        return name == CORE or name in self._active

    @property
    def active(self) -> frozenset[str]:
        return self._active

    def inactive_reason(self, name: str) -> str | None:
        return self._inactive_reason.get(name)

    # --- hook calls ----------------------------------------------------------------------

    def call_each(self, hook_name: str, **kwargs) -> list[tuple[str, Any]]:
        """Call ``hook_name`` once per active plugin; return ``(plugin name, result)`` pairs.

        Used where core must know who contributed what (menus, widgets, settings) and for
        domain events. One plugin's exception is logged and skipped: it must not break the
        page or the change that triggered it. Core's own implementations are not shielded.
        """
        results = []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            plugin_name = impl.plugin_name
            if not self.is_active(plugin_name):
                continue
            args = _arguments(impl, kwargs)
            if plugin_name == CORE:
                result = impl.function(**args)
            else:
                try:
                    result = impl.function(**args)
                except Exception:
                    log.exception("plugin %s: %s failed", plugin_name, hook_name)
                    continue
            if result is not None:
                results.append((plugin_name, result))
        return results

    def call_each_or_fail(
        self, hook_name: str, after_each: Callable[[], None] | None = None, **kwargs
    ) -> list[tuple[str, Any]]:
        """Call ``hook_name`` once per active plugin, like ``call_each``, but stop at the first
        implementation that raises (core's or a plugin's) with ``HookFailed`` naming it.

        For hooks whose implementations work inside the caller's transaction (``client_merged``):
        the caller rolls the whole change back rather than saving it half done. ``after_each``
        runs after every implementation (e.g. a flush, so a broken row is blamed on the plugin
        that wrote it); what it raises counts as that implementation's failure.
        """
        results = []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            plugin_name = impl.plugin_name
            if not self.is_active(plugin_name):
                continue
            try:
                result = impl.function(**_arguments(impl, kwargs))
                if after_each is not None:
                    after_each()
            except Exception as exc:
                raise HookFailed(hook_name, plugin_name, exc) from exc
            if result is not None:
                results.append((plugin_name, result))
        return results

    def notify(self, hook_name: str, **kwargs) -> None:
        """Tell every active plugin about a domain event (see ``call_each`` on failures)."""
        self.call_each(hook_name, **kwargs)

    def call_each_loaded(self, hook_name: str, **kwargs) -> list[tuple[str, Any]]:
        """Like ``call_each`` for every loaded plugin, enabled or not (start-up structure).

        A plugin whose implementation raises is marked failed and never becomes active.
        """
        results = []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            info = self.plugins.get(impl.plugin_name)
            if info is not None and not info.loaded:
                continue
            args = _arguments(impl, kwargs)
            try:
                result = impl.function(**args)
            except Exception as exc:
                if info is None:
                    raise  # core's own hooks must work
                info.load_error = f"{hook_name} failed: {type(exc).__name__}: {exc}"
                log.exception("plugin %s: %s failed", impl.plugin_name, hook_name)
                continue
            if result is not None:
                results.append((impl.plugin_name, result))
        return results

    def collect(self, hook_name: str, **kwargs) -> list[tuple[str, Any]]:
        """Flatten list-returning hooks into ``(plugin name, item)`` pairs, active plugins only."""
        return [
            (name, item) for name, items in self.call_each(hook_name, **kwargs) for item in items
        ]
