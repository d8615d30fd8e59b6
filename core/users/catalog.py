"""The permission codes and scope areas declared by core and every loaded plugin.

Collected once while the app is created (they are declarations, not state), for plugins
enabled or not, so roles keep the codes of a disabled plugin.
"""

from __future__ import annotations

from flask import Flask, current_app

from core.plugin_system.types import Permission, ScopeArea


def collect_declarations(app: Flask) -> None:
    registry = app.extensions["crm_plugins"]
    grouped: dict[str, list[Permission]] = {}
    for plugin, perms in registry.call_each_loaded("permissions", app=app):
        grouped.setdefault(plugin, []).extend(perms)
    areas = [
        (plugin, area)
        for plugin, declared in registry.call_each_loaded("scope_areas", app=app)
        for area in declared
    ]
    app.extensions["crm_permissions"] = grouped
    app.extensions["crm_scope_areas"] = areas


def permissions_by_plugin(app: Flask | None = None) -> dict[str, list[Permission]]:
    return (app or current_app).extensions["crm_permissions"]


def known_codes(app: Flask | None = None) -> set[str]:
    return {p.code for perms in permissions_by_plugin(app).values() for p in perms}


def scope_areas(app: Flask | None = None) -> list[tuple[str, ScopeArea]]:
    return (app or current_app).extensions["crm_scope_areas"]
