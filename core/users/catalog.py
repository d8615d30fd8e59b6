"""The permission codes and scope areas declared by core and every loaded plugin."""

from __future__ import annotations

from flask import Flask, current_app

from core.plugin_system.types import Permission, ScopeArea


def permissions_by_plugin(app: Flask | None = None) -> dict[str, list[Permission]]:
    """Every loaded plugin's codes, enabled or not, so roles keep codes of disabled plugins."""
    app = app or current_app
    grouped: dict[str, list[Permission]] = {}
    for plugin, perms in app.extensions["crm_plugins"].call_each_loaded("permissions", app=app):
        grouped.setdefault(plugin, []).extend(perms)
    return grouped


def known_codes(app: Flask | None = None) -> set[str]:
    return {p.code for perms in permissions_by_plugin(app).values() for p in perms}


def scope_areas(app: Flask | None = None) -> list[tuple[str, ScopeArea]]:
    app = app or current_app
    return [
        (plugin, area)
        for plugin, areas in app.extensions["crm_plugins"].call_each_loaded("scope_areas", app=app)
        for area in areas
    ]
