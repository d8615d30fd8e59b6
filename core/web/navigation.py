"""The navigation of a page: menu items from core and every active plugin, filtered and sorted."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, url_for
from werkzeug.routing import BuildError


def navigation_for(app: Flask, user: Any) -> dict[str, list[dict[str, Any]]]:
    cached = g.get("crm_nav")
    if cached is not None:
        return cached
    from core.plugin_system.registry import Deferred
    from core.security import current_actor

    registry = app.extensions["crm_plugins"]
    sections: dict[str, list[dict[str, Any]]] = {"main": [], "admin": []}
    # Plugins get the User (loaded only if one asks); permissions come from the principal.
    deferred = Deferred(current_actor, for_core=user)
    items = [item for _, item in registry.collect("menu_items", app=app, user=deferred)]
    for item in sorted(items, key=lambda i: (i.weight, str(i.label))):
        if item.permission and not user.has_permission(item.permission):
            continue
        try:
            url = url_for(item.endpoint, **item.url_values)
        except BuildError:
            continue
        sections.setdefault(item.section, []).append(
            {"label": item.label, "url": url, "endpoint": item.endpoint}
        )
    g.crm_nav = sections
    return sections
