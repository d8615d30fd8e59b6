"""What stage automation and lead forms contribute to the sales plugin's hooks."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from huey import crontab

from core.plugin_system.types import Job, MenuItem, NotificationEvent, SettingDefinition
from plugins.sales import events
from plugins.sales.automation import services
from plugins.sales.invoices import events as invoice_events

events.on_stage_entered(services.on_stage_entered)
invoice_events.on_invoice_paid(services.on_invoice_paid)


def _run_stage_rules(stage_change_id: int) -> dict:
    return services.run_rules(stage_change_id, "enter")


def _run_paid_rules(deal_id: int) -> dict:
    return services.run_paid_rules(deal_id)


def _stage_time_limits() -> dict:
    from plugins.sales.automation import limits

    return limits.run()


def jobs() -> list[Job]:
    return [
        Job(services.JOB, _run_stage_rules),
        Job(services.PAID_JOB, _run_paid_rules),
        Job("sales.stage_time_limits", _stage_time_limits, schedule=crontab(minute="*/5")),
    ]


def notification_events() -> list[NotificationEvent]:
    return [
        NotificationEvent("sales.stage_entered", _l("A stage rule tells me about a deal")),
        NotificationEvent("sales.stage_overdue", _l("My deal stays too long in a stage")),
        NotificationEvent(
            "sales.stage_overdue_escalated", _l("A deal of my team stays too long in a stage")
        ),
    ]


def settings() -> list[SettingDefinition]:
    return [
        SettingDefinition(
            "sales.overdue_escalation_hours",
            _l("Hours after a deal's stage time limit before its owner's team head is told"),
            kind="int",
            default=24,
            max_value=10_000,
        ),
        SettingDefinition(
            "sales.lead_rate_per_minute",
            _l("Lead form posts accepted per minute from one address"),
            kind="int",
            default=10,
            min_value=1,
            max_value=10_000,
        ),
        SettingDefinition(
            "sales.lead_form_rate_per_minute",
            _l("Lead form posts accepted per minute by one form"),
            kind="int",
            default=120,
            min_value=1,
            max_value=100_000,
        ),
    ]


def blueprints() -> list[Any]:
    from plugins.sales.automation.views import bp
    from plugins.sales.leads.views import admin_bp, public_bp

    return [bp, admin_bp, public_bp]


def api_blueprints() -> list[Any]:
    from plugins.sales.automation.api import blp

    return [blp]


def menu_items() -> list[MenuItem]:
    return [MenuItem(_l("Lead forms"), "sales_leads.index", "sales.admin", 112, "admin")]
