"""The search box of the layout: asks every provider (core's clients, plugins' records)."""

from __future__ import annotations

from typing import Any

from flask import Flask, url_for
from flask_babel import gettext as _

from core.clients import queries
from core.plugin_system.types import SearchResult


def run(app: Flask, user: Any, query: str, limit: int = 8) -> list[SearchResult]:
    """``user``: the request's principal; plugins' providers get the ``User`` itself."""
    from core.plugin_system.registry import Deferred
    from core.security import current_actor

    query = query.strip()[:200]
    if not query:
        return []
    results: list[SearchResult] = []
    for _plugin, found in app.extensions["crm_plugins"].call_each(
        "search", app=app, user=Deferred(current_actor, for_core=user), query=query, limit=limit
    ):
        results.extend(found[:limit])  # a provider gets ``limit`` results, however many it sends
    best: dict[str, int] = {}
    for result in results:
        best[result.kind] = min(best.get(result.kind, result.weight), result.weight)
    return sorted(results, key=lambda r: (best[r.kind], r.kind, r.weight))


def search_clients(user: Any, query: str, limit: int) -> list[SearchResult]:
    """Core's provider: clients the user may see, by name, e-mail, phone or tax id."""
    if not user.has_permission("clients.view"):
        return []
    clients, _cursor = queries.page(queries.ClientQuery(q=query, limit=limit), user)
    results = []
    for client in clients:
        contact = [
            c
            for c in (
                client.emails[0].email if client.emails else None,
                client.phones[0].e164 if client.phones else None,
            )
            if c
        ]
        results.append(
            SearchResult(
                kind="client",
                title=client.name,
                url=url_for("clients.card", client_id=client.id),
                subtitle=" · ".join(contact),
                weight=10,
                group=_("Clients"),
            )
        )
    return results
