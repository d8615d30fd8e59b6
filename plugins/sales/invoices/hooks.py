"""What the documents part contributes to the sales plugin's hooks (plugin.py delegates)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from core.plugin_system.types import CardPanel, MenuItem, Permission


def permissions() -> list[Permission]:
    return [
        Permission(
            "sales.invoices",
            _l("Issue proposals and invoices for deals, e-mail them, register payments"),
        )
    ]


def blueprints() -> list[Any]:
    from plugins.sales.invoices.views import bp

    return [bp]


def api_blueprints() -> list[Any]:
    from plugins.sales.invoices.api import api

    return [api]


def menu_items() -> list[MenuItem]:
    return [MenuItem(_l("Invoices"), "sales_invoices.index", "sales.view", weight=120)]


def client_card_panels() -> list[CardPanel]:
    from plugins.sales.invoices.views import render_client_panel

    return [CardPanel("sales_invoices", _l("Invoices"), render_client_panel, "sales.view", 160)]


def document_variables(template_type: str, record: Any, user: Any, language: str) -> dict:
    from plugins.sales.invoices.variables import document_variables

    return document_variables(template_type, record, user, language)


def plugin_enabled() -> None:
    from plugins.sales.invoices.defaults import ensure_default_templates

    ensure_default_templates()
