"""Core's own contributions, made through the same hooks a plugin uses."""

from __future__ import annotations

from datetime import timedelta

import phonenumbers
import sqlalchemy as sa
from flask import Flask, has_request_context, render_template
from flask_babel import lazy_gettext as _l
from huey import crontab

from core.clients.global_search import search_clients
from core.clients.imports.services import run_import
from core.clients.taxids import COUNTRIES as TAX_ID_COUNTRIES
from core.config import SUPPORTED_LOCALES
from core.documents.services import SEND_RETRIES, deliver_sending
from core.notifications import deliver, send_email, send_in_app
from core.plugin_system import hookimpl
from core.plugin_system.types import (
    CardPanel,
    DashboardWidget,
    Job,
    MenuItem,
    NotificationChannel,
    NotificationEvent,
    Permission,
    RecordType,
    Report,
    ScopeArea,
    SearchResult,
    SettingDefinition,
    TimelineItem,
    TimelineSource,
)

PHONE_REGIONS = tuple(sorted(phonenumbers.SUPPORTED_REGIONS))

name = "core"
title = "Core"


@hookimpl
def permissions() -> list[Permission]:
    return [
        Permission("core.users.view", _l("See users and teams")),
        Permission("core.users.manage", _l("Create and edit users and teams")),
        Permission("core.roles.manage", _l("Edit roles and their permissions")),
        Permission("core.plugins.manage", _l("Enable and disable plugins")),
        Permission("core.audit.view", _l("Browse the audit log")),
        Permission("core.settings.manage", _l("Edit installation settings")),
        Permission("clients.view", _l("See clients (within the role's scope)")),
        Permission("clients.create", _l("Create clients")),
        Permission("clients.edit", _l("Edit clients and their contact persons")),
        Permission("clients.delete", _l("Move clients to the trash")),
        Permission("clients.trash", _l("Restore clients from the trash and purge them")),
        Permission("clients.merge", _l("Merge duplicate clients")),
        Permission("clients.export", _l("Export client lists to CSV and XLSX")),
        Permission("clients.import", _l("Import clients from CSV and XLSX files")),
        Permission("clients.configure", _l("Edit client statuses, sources and custom fields")),
        Permission("reports.view", _l("Open the Reports page and run the reports allowed")),
        Permission("reports.activity", _l("See the activity per manager report")),
        Permission("tasks.view", _l("See tasks (within the role's scope)")),
        Permission("tasks.edit", _l("Create, edit and complete tasks")),
        Permission("tasks.delete", _l("Delete tasks")),
        Permission("tasks.templates", _l("Edit the task templates automations create tasks from")),
        Permission("interactions.view", _l("See calls, meetings and notes on clients")),
        Permission("interactions.edit", _l("Record, change and delete calls, meetings and notes")),
        Permission("comments.write", _l("Comment on records and mention colleagues")),
        Permission("documents.templates", _l("Edit document templates")),
        Permission("documents.generate", _l("Generate documents from templates and e-mail them")),
        Permission("documents.attach", _l("Upload attachments to records they may see")),
    ]


@hookimpl
def scope_areas() -> list[ScopeArea]:
    return [ScopeArea("clients", _l("Clients")), ScopeArea("tasks", _l("Tasks"))]


@hookimpl
def menu_items() -> list[MenuItem]:
    return [
        MenuItem(_l("Dashboard"), "web.dashboard", weight=0),
        MenuItem(_l("Clients"), "clients.index", "clients.view", weight=10),
        MenuItem(_l("Duplicates"), "client_duplicates.review", "clients.merge", weight=15),
        MenuItem(_l("Reports"), "reports.index", "reports.view", weight=50),
        MenuItem(_l("My tasks"), "tasks.mine", "tasks.view", weight=20),
        MenuItem(_l("Team tasks"), "tasks.team", "tasks.view", weight=21),
        MenuItem(_l("Calendar"), "tasks.calendar", "tasks.view", weight=22),
        MenuItem(
            _l("Client fields"),
            "clients.configure",
            "clients.configure",
            weight=35,
            section="admin",
        ),
        MenuItem(
            _l("Document templates"),
            "documents.templates",
            "documents.templates",
            weight=37,
            section="admin",
        ),
        MenuItem(_l("Trash"), "clients.trash", "clients.trash", weight=45, section="admin"),
        MenuItem(
            _l("Task templates"),
            "tasks.templates",
            "tasks.templates",
            weight=47,
            section="admin",
        ),
        MenuItem(_l("Users"), "admin.users", "core.users.view", weight=10, section="admin"),
        MenuItem(_l("Teams"), "admin.teams", "core.users.view", weight=20, section="admin"),
        MenuItem(_l("Roles"), "admin.roles", "core.roles.manage", weight=30, section="admin"),
        MenuItem(_l("Plugins"), "plugins.index", "core.plugins.manage", weight=40, section="admin"),
        MenuItem(
            _l("Settings"), "settings.index", "core.settings.manage", weight=50, section="admin"
        ),
        MenuItem(_l("Audit log"), "audit.index", "core.audit.view", weight=60, section="admin"),
    ]


def _render_account(user) -> str:
    return render_template("web/widget_account.html", user=user)


def _render_system(user) -> str:
    from core.plugin_system.services import overview

    plugins = overview()
    return render_template("web/widget_system.html", plugins=plugins)


@hookimpl
def dashboard_widgets() -> list[DashboardWidget]:
    return [
        DashboardWidget("core.account", _l("Your account"), _render_account, weight=0),
        DashboardWidget(
            "core.system", _l("Plugins"), _render_system, "core.plugins.manage", weight=90
        ),
    ]


@hookimpl
def settings() -> list[SettingDefinition]:
    return [
        SettingDefinition(
            "core.company_name",
            _l("Company name"),
            default="",
            help=_l("Shown in documents and e-mails."),
            max_length=200,
        ),
        SettingDefinition(
            "core.company_address", _l("Company address"), default="", max_length=500
        ),
        SettingDefinition("core.company_tax_id", _l("Company tax id"), default="", max_length=40),
        SettingDefinition("core.company_phone", _l("Company phone"), default="", max_length=40),
        SettingDefinition("core.company_email", _l("Company e-mail"), default="", max_length=254),
        SettingDefinition("core.company_bank_name", _l("Bank"), default="", max_length=200),
        SettingDefinition(
            "core.company_bank_account",
            _l("Bank account (IBAN)"),
            default="",
            help=_l("Shown in documents as company.bank_account."),
            max_length=60,
        ),
        SettingDefinition(
            "core.company_bank_code", _l("Bank code (BIC/SWIFT)"), default="", max_length=40
        ),
        SettingDefinition(
            "core.default_locale",
            _l("Default language for new users"),
            "choice",
            default="en",
            choices=SUPPORTED_LOCALES,
        ),
        SettingDefinition(
            "core.phone_region",
            _l("Country of phone numbers typed without a country code"),
            "choice",
            default="",
            choices=("", *PHONE_REGIONS),
            help=_l("Two-letter code, e.g. MD, RO, RU or DE."),
        ),
        SettingDefinition(
            "core.tax_id_country",
            _l("Country whose tax id format clients' tax ids must follow"),
            "choice",
            default="",
            choices=("", *TAX_ID_COUNTRIES),
            help=_l("Empty: any 3 to 40 letters and digits."),
        ),
        SettingDefinition(
            "core.task_escalation_minutes",
            _l("Tell the team head about an overdue task after (minutes)"),
            "int",
            default=60,
            max_value=43_200,
        ),
        SettingDefinition(
            "core.audit_retention_days",
            _l("Keep audit log entries (days, 0 = forever)"),
            "int",
            default=0,
            max_value=36_500,
        ),
    ]


def purge_login_attempts() -> int:
    """Forget failed sign-ins older than a day; the rate limit looks back much less."""
    from core.db import db, utcnow
    from core.users.models import LoginAttempt

    result = db.session.execute(
        sa.delete(LoginAttempt).where(LoginAttempt.at < utcnow() - timedelta(days=1))
    )
    db.session.commit()
    return result.rowcount


def purge_audit_log() -> int:
    """Drop audit entries older than the retention setting (kept forever when it is 0)."""
    from core.audit.models import AuditLog
    from core.db import db, utcnow
    from core.settings.services import get

    days = int(get("core.audit_retention_days") or 0)
    if days <= 0:
        return 0
    result = db.session.execute(
        sa.delete(AuditLog).where(AuditLog.at < utcnow() - timedelta(days=days))
    )
    db.session.commit()
    return result.rowcount


def run_duplicate_scan(scan_id: int):
    """Look for duplicate clients over the whole registry (see core.clients.dupscan.scan)."""
    from core.clients.dupscan.scan import run

    return run(scan_id)


def run_task_reminders(now=None):
    """Due-soon reminders, overdue notices and escalations (core.tasks.reminders).

    ``now`` (naive UTC, or its ISO text when queued) replaces the clock: for tests and for
    going over a period again by hand."""
    from datetime import datetime

    from core.tasks.reminders import run

    return run(datetime.fromisoformat(now) if isinstance(now, str) else now)


@hookimpl
def jobs(app: Flask) -> list[Job]:
    return [
        Job("core.purge_login_attempts", purge_login_attempts, schedule=crontab(minute="17")),
        Job("core.purge_audit_log", purge_audit_log, schedule=crontab(minute="23", hour="3")),
        Job("core.deliver_notification", deliver, retries=5),
        Job("core.task_reminders", run_task_reminders, schedule=crontab(minute="*"), retries=0),
        # An import that stops is marked failed and goes on when the user asks; no retries.
        Job("core.import_clients", run_import, retries=0),
        Job("core.duplicate_scan", run_duplicate_scan, retries=2),
        # A mail server that is down delays the e-mail (backoff) but loses nothing.
        Job("core.send_document", deliver_sending, retries=SEND_RETRIES),
    ]


@hookimpl
def search(user, query: str, limit: int) -> list[SearchResult]:
    return search_clients(user, query, limit)


@hookimpl
def client_card_panels() -> list[CardPanel]:
    from core.clients.views import render_contacts_panel, render_relations_panel
    from core.documents.views import render_attachments_panel, render_documents_panel
    from core.interactions.views import render_timeline_panel
    from core.tasks.views import render_client_tasks_panel

    return [
        CardPanel("core.tasks", _l("Tasks"), render_client_tasks_panel, "tasks.view", weight=30),
        CardPanel("core.contacts", _l("Contact persons"), render_contacts_panel, weight=10),
        CardPanel("core.relations", _l("Relations"), render_relations_panel, weight=20),
        CardPanel("core.documents", _l("Documents"), render_documents_panel, weight=35),
        CardPanel("core.attachments", _l("Attachments"), render_attachments_panel, weight=40),
        # The timeline (interactions, comments, history) closes the card, after every
        # plugin's panels.
        CardPanel("core.timeline", _l("Timeline"), render_timeline_panel, weight=1000),
    ]


@hookimpl
def timeline_items(client, user, kinds, before, limit) -> list[TimelineItem | TimelineSource]:
    from core.documents.timeline import document_items, sending_items
    from core.interactions.timeline import core_items
    from core.tasks.timeline import task_items

    return [
        *core_items(client, user, kinds, before, limit),
        *task_items(client, user, kinds, before, limit),
        *document_items(client, user, kinds, before, limit),
        *sending_items(client, user, kinds, before, limit),
    ]


@hookimpl
def client_created(client) -> None:
    if client.next_contact_on is not None:
        _next_contact_changed(client)


@hookimpl
def client_updated(client, changes) -> None:
    if "next_contact_on" in changes or (
        "owner_id" in changes and client.next_contact_on is not None
    ):
        _next_contact_changed(client)
    if "owner_id" in changes:
        _tell_new_owner(client, changes["owner_id"][1])


def _next_contact_changed(client) -> None:
    from core.interactions.reminders import next_contact_changed
    from core.security import current_actor

    next_contact_changed(client, current_actor() if has_request_context() else None)


@hookimpl
def record_types() -> list[RecordType]:
    from core.records import resolve_clients
    from core.tasks.services import resolve_tasks

    return [
        RecordType("client", _l("Client"), resolve_clients),
        RecordType("task", _l("Task"), resolve_tasks),
    ]


@hookimpl
def notification_channels() -> list[NotificationChannel]:
    return [
        NotificationChannel("in_app", _l("In the CRM"), send_in_app),
        NotificationChannel("email", _l("E-mail"), send_email),
    ]


@hookimpl
def notification_events() -> list[NotificationEvent]:
    both = ("in_app", "email")
    return [
        NotificationEvent("task_assigned", _l("A task is assigned to me"), both),
        NotificationEvent("task_due_soon", _l("My task is due soon"), ("in_app",)),
        NotificationEvent("task_overdue", _l("My task is overdue"), both),
        NotificationEvent("task_overdue_escalated", _l("A task in my team is overdue"), both),
        NotificationEvent("mention", _l("Someone mentions me"), both),
        NotificationEvent("client_assigned", _l("A client is assigned to me"), both),
    ]


def _tell_new_owner(client, new_owner: int | None) -> None:
    """Tell the new owner when a client is handed to them by someone else."""
    from flask import url_for
    from flask_babel import gettext as _

    from core.audit.models import current_actor_id
    from core.notifications import notify

    if new_owner is None or new_owner == current_actor_id():
        return
    notify(
        "client_assigned",
        [new_owner],
        _("Client assigned to you: %(name)s", name=client.name),
        client.name,
        url=url_for("clients.card", client_id=client.id),
        record=("client", client.id),
    )


@hookimpl
def reports() -> list[Report]:
    from core.reports import activity, clients

    return [*clients.reports(), *activity.reports()]


@hookimpl
def client_merged(survivor, merged_ids: list[int]) -> None:
    # Calls, comments, tasks, documents and files of merged clients belong to the survivor
    # from now on (their rows keep who did what and when). The merge commits, not we.
    from core.db import db
    from core.documents.models import Attachment, Document
    from core.interactions.models import Comment, Interaction
    from core.tasks.models import Task

    for model in (Document, Interaction):
        db.session.execute(
            sa.update(model).where(model.client_id.in_(merged_ids)).values(client_id=survivor.id)
        )
    for model in (Attachment, Comment, Task):
        db.session.execute(
            sa.update(model)
            .where(model.record_kind == "client", model.record_id.in_(merged_ids))
            .values(record_id=survivor.id)
        )


@hookimpl
def client_purged(client_id: int) -> None:
    # Documents and interactions go with the client (ON DELETE CASCADE); comments, tasks
    # and attachments (files too) link to it by kind and id, so they go here.
    from core import records
    from core.db import db

    files = records.forget("client", client_id)
    db.session.commit()
    for path in files:
        path.unlink(missing_ok=True)
