"""Every hook a plugin can implement: when it is called, its arguments, what it returns.

Implementations are marked with ``core.plugin_system.hookimpl`` and may name only the
arguments they need (core passes those). A disabled plugin's hooks are not called, except
the structural ones that core collects once at start-up from every plugin that loaded
(``register_blueprints``, ``register_api_blueprints``, ``jobs``, ``permissions`` and
``scope_areas``): its routes then answer 404, its jobs are skipped, and roles keep its codes.
An exception in one plugin's implementation is logged and skipped.
Order never depends on the order pluggy calls implementations in: everything that is
shown carries a ``weight`` and core sorts by it. docs/plugin-hooks.md is the reference
for plugin authors; a test keeps it in step with this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from flask import Flask

    from core.clients.models import Client
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
        TimelineCursor,
        TimelineItem,
        TimelineSource,
    )
    from core.records import Linked
    from core.users.models import User

hookspec = pluggy.HookspecMarker("crm")


# --- structure: called once per process while the app is being created ------------------


@hookspec
def register_blueprints(app: Flask) -> list[Any]:
    """Contribute web UI blueprints.

    Called once while the app is created, for every plugin that loaded, enabled or not
    (Flask cannot add routes later); a disabled plugin's routes then answer 404.

    :param app: the Flask application.
    :return: a list of ``flask.Blueprint``; name each after the plugin (``"hello"``,
        ``"hello_admin"``) and declare a permission for every view.
    """


@hookspec
def register_api_blueprints(app: Flask) -> list[Any]:
    """Contribute JSON API blueprints, documented in ``/api/v1/openapi.json``.

    Called once while the app is created, like ``register_blueprints``.

    :param app: the Flask application.
    :return: a list of ``flask_smorest.Blueprint``; each is mounted under
        ``/api/v1/<plugin name>`` unless it sets its own ``url_prefix`` starting with
        ``/api/v1/``. Views take token auth only and declare a permission.
    """


# --- navigation and pages: called per request, only for enabled plugins ------------------


@hookspec
def menu_items(app: Flask, user: User) -> list[MenuItem]:
    """Contribute entries to the main navigation.

    Called when a page is rendered for a logged-in user.

    :param app: the Flask application.
    :param user: the user the page is for.
    :return: a list of ``MenuItem``; items whose ``permission`` the user lacks are dropped
        by core, the rest sorted by ``weight`` (core uses 0-99, plugins 100 and up).
    """


@hookspec
def dashboard_widgets(app: Flask, user: User) -> list[DashboardWidget]:
    """Contribute widgets to the dashboard.

    Called when the dashboard is rendered.

    :param app: the Flask application.
    :param user: the user the dashboard is for.
    :return: a list of ``DashboardWidget``; ``render`` is called with the user and returns
        HTML (use ``render_template``); widgets the user may not see are dropped by core.
    """


@hookspec
def client_card_panels(app: Flask, client: Client, user: User) -> list[CardPanel]:
    """Contribute sections to the client card (deals, tickets, campaigns, ...).

    Called when a client card is shown to a user who may see that client.

    :param app: the Flask application.
    :param client: the client being shown (never one outside the user's scope).
    :param user: the user looking at it.
    :return: a list of ``CardPanel(name, title, render, permission=None, weight=100)``;
        ``render(client, user)`` returns HTML, or (better) a ``PanelSource(reads,
        render)`` whose ``reads`` core runs together with every other panel's, in one
        statement for the card, before calling its ``render(rows)`` for the HTML. Core
        drops panels whose ``permission`` the user lacks and sorts the rest by ``weight``
        (core: contacts 10, relations 20, history 1000 so it stays last; plugins use
        100-999).
    """


@hookspec
def search(app: Flask, user: User, query: str, limit: int) -> list[SearchResult]:
    """Answer the global search box (clients now; deals, articles and more from plugins).

    Called when a user types into the search box of the layout (or calls the search API).

    :param app: the Flask application.
    :param user: the user searching; return only what their scopes let them see.
    :param query: what they typed, stripped, at most 200 characters.
    :param limit: the most results wanted from each provider.
    :return: a list of ``SearchResult(kind, title, url, subtitle="", weight=100)``; core
        groups them by ``kind`` and orders groups by the best ``weight``.
    """


@hookspec
def record_types(app: Flask) -> list[RecordType]:
    """Declare kinds of records that tasks, comments, documents and attachments can link to.

    Called when a link is checked or shown (core declares "client"; the sales plugin
    declares "sales.deal", the service plugin its cards, ...). Links of a disabled plugin's
    kinds show as unavailable and cannot be made.

    :param app: the Flask application.
    :return: a list of ``RecordType(kind, label, resolve)``: ``kind`` is unique (prefix it
        with the plugin name); ``resolve(ids, user)`` returns ``{id: (title, url)}`` for the
        records among ``ids`` that ``user`` may see, with one query for all of them.
    """


@hookspec
def reports(app: Flask) -> list[Report]:
    """Contribute reports to the Reports page and ``/api/v1/reports``.

    Called when the Reports page, a report or the reports API is requested (core declares
    clients by status, source and owner, new clients per period and activity per manager).

    :param app: the Flask application.
    :return: a list of ``Report(name, title, permission, filters, run, chart=None,
        weight=100, group="")``; ``name`` is unique (prefix it with the plugin name).
        Core lists the reports whose ``permission`` the user holds, grouped by ``group``
        and sorted by ``weight``; renders ``filters`` (``ReportFilter``: period, user,
        team, choice) as a form and validates them (bad input is a form error or a 422
        naming the field); then calls ``run(params, user)``, which applies the user's
        record scope and returns a ``ReportResult(columns, rows, totals, chart)``. Core
        draws the table, the chart (SVG) and the CSV/XLSX files.
    """


# --- declarations: collected for the admin pages and checks ------------------------------


@hookspec
def timeline_items(
    app: Flask,
    client: Client,
    user: User,
    kinds: frozenset[str] | None,
    before: TimelineCursor | None,
    limit: int,
) -> list[TimelineItem | TimelineSource]:
    """Contribute entries to a client's timeline (tasks, documents, deals, tickets, ...).

    Called for each page of the timeline on the client card, ``/clients/<id>/timeline``
    and ``GET /api/v1/clients/<id>/timeline``, only for enabled plugins and only for a
    client the user may see. Core contributes interactions (kinds ``call``, ``meeting``,
    ``email``, ``letter``, ``visit``, ``message``, ``note``), comments (``comment``), the
    audit history (``history``) and a due next contact date (``next_contact``).

    :param app: the Flask application.
    :param client: the client whose timeline is shown (never one outside the scope).
    :param user: the user looking at it; apply your own permissions and record scopes.
    :param kinds: the kinds wanted, or None for all; return nothing of other kinds.
    :param before: a ``TimelineCursor``: return only items it ``admits`` (strictly older
        by ``(at, kind, id)``; ``before.older(...)`` builds that condition for a query),
        or None for the first page.
    :param limit: the most items wanted; return at most this many, the newest first, with
        a fixed number of queries (core merges every provider's items and keeps ``limit``).
    :return: a list of ``TimelineItem(kind, at, id, title, body="", url=None, label="",
        icon="", weight=100, actor="")``; ``(at, kind, id)`` must be unique and ``at`` is
        a naive UTC datetime. Or (better) ``TimelineSource(reads, items)``s: core runs the
        ``reads`` (``core.reads.Read``) of every provider together, in one statement for
        the page (on the card, with the panels' reads), and ``items(rows)`` makes the
        items from their rows.
    """


# --- declarations: collected for the admin pages and checks ------------------------------


@hookspec
def document_variables(
    app: Flask, template_type: str, record: Linked | None, user: User | None, language: str
) -> dict[str, Any]:
    """Add variables to document template bodies (deal lines and totals, a ticket's text).

    Called when a document is generated from a template, and when an admin saves a template
    (then ``record`` and ``user`` are None: return the same names with sample values, so
    placeholders using them are accepted and the body is tried out).

    :param app: the Flask application.
    :param template_type: contract, proposal, invoice, letter or act.
    :param record: the record the document is generated for, as a ``core.records.Linked``
        (``kind``, ``id``, ``title``, ``url``): the linked record (``"sales.deal"`` 7) or,
        without a link, the client (``"client"``); None when a template is being checked.
    :param user: who generates the document; None when a template is being checked.
    :param language: the template's language (en, ru, ro, de), for values written out in
        words (an amount in words, a month name).
    :return: a dict of variable name -> value (strings, numbers, lists, dicts); return
        ``{}`` for records that are not yours. Core's names (client, contact, user, company,
        document, today) cannot be overridden.
    """


# --- declarations: collected for the admin pages and checks ------------------------------


@hookspec
def permissions(app: Flask) -> list[Permission]:
    """Declare the permission codes the plugin's views check.

    Called once while the app is created, for every plugin that loaded, enabled or not,
    so roles keep the codes of a disabled plugin.

    :param app: the Flask application.
    :return: a list of ``Permission(code, label)``; codes are ``"<plugin>.<action>"``.
        The admin UI shows them grouped by plugin.
    """


@hookspec
def scope_areas(app: Flask) -> list[ScopeArea]:
    """Declare the record areas whose visibility a role limits to own, team or all.

    Called once while the app is created, for every plugin that loaded.

    :param app: the Flask application.
    :return: a list of ``ScopeArea(code, label)``, e.g. ``ScopeArea("deals", "Deals")``.
    """


@hookspec
def settings(app: Flask) -> list[SettingDefinition]:
    """Declare installation settings an admin edits on the settings page.

    Called when the settings page is shown or a setting is read or written.

    :param app: the Flask application.
    :return: a list of ``SettingDefinition``; keys are ``"<plugin>.<name>"``. Values are
        validated against ``kind`` and ``choices`` on every write.
    """


@hookspec
def jobs(app: Flask) -> list[Job]:
    """Declare background and periodic jobs.

    Called once while the app (and so every worker) is created, for every plugin that
    loaded; a job of a disabled plugin is skipped when it comes due.

    :param app: the Flask application.
    :return: a list of ``Job(name, func, schedule=None, retries=3)``; ``func`` runs inside
        an app context; ``schedule`` (a ``huey.crontab``) makes it periodic. Enqueue a
        one-off run with ``core.jobs.enqueue(name, **kwargs)``.
    """


@hookspec
def notification_channels(app: Flask) -> list[NotificationChannel]:
    """Contribute ways to deliver notifications (e-mail, SMS, a messenger, ...).

    Called when a notification is sent (``core.notifications.send``) and when it is
    delivered by a background job.

    :param app: the Flask application.
    :return: a list of ``NotificationChannel(name, label, send)``; ``send(user, subject,
        body, url)`` delivers one message and raises to have the job retried.
    """


@hookspec
def notification_events(app: Flask) -> list[NotificationEvent]:
    """Declare the kinds of events users are notified of, and how by default.

    Called when a notification is sent (``core.notifications.notify``) and when a user's
    notification preferences are shown or saved on the profile page.

    :param app: the Flask application.
    :return: a list of ``NotificationEvent(code, label, default_channels)``; ``code`` is
        unique (prefix it with the plugin name); ``default_channels`` name channels
        (``"in_app"``, ``"email"`` or a plugin's) used until the user chooses otherwise.
    """


# --- domain events: called after the change is committed, only for enabled plugins -------


@hookspec
def user_created(app: Flask, user: User) -> None:
    """React to a new user.

    Called after the user is committed.

    :param app: the Flask application.
    :param user: the new user.
    """


@hookspec
def user_updated(app: Flask, user: User, changes: dict[str, Any]) -> None:
    """React to a changed user (name, team, roles, active, ...).

    Called after the change is committed.

    :param app: the Flask application.
    :param user: the user as saved.
    :param changes: ``{field: [old, new]}`` as written to the audit log.
    """


@hookspec
def client_created(app: Flask, client: Client) -> None:
    """React to a new client (created in the UI, the API or a web form).

    Called after the client is committed.

    :param app: the Flask application.
    :param client: the new client.
    """


@hookspec
def clients_imported(app: Flask, client_ids: list[int], user: User) -> None:
    """React to clients created by an import, in batches of up to 5,000.

    Called after each batch is committed, instead of ``client_created`` per client (an
    import of 100,000 rows would otherwise make 100,000 calls). Clients an import updates
    call ``client_updated`` as any change does.

    :param app: the Flask application.
    :param client_ids: ids of the new clients of this batch.
    :param user: who runs the import (new clients belong to them unless the file says
        otherwise).
    """


@hookspec
def client_updated(app: Flask, client: Client, changes: dict[str, Any]) -> None:
    """React to a changed client.

    Called after a change is committed; a save that changed nothing calls nothing.

    :param app: the Flask application.
    :param client: the client as saved.
    :param changes: ``{field: [old, new]}``, phones, e-mails and addresses included, as
        written to the audit log.
    """


@hookspec
def client_deleted(app: Flask, client: Client) -> None:
    """React to a client moved to the trash (its data stays until it is purged).

    Called after the change is committed.

    :param app: the Flask application.
    :param client: the trashed client.
    """


@hookspec
def client_restored(app: Flask, client: Client) -> None:
    """React to a client brought back from the trash.

    Called after the change is committed.

    :param app: the Flask application.
    :param client: the restored client.
    """


@hookspec
def client_merged(app: Flask, survivor: Client, merged_ids: list[int]) -> None:
    """Move the plugin's references from merged clients to the surviving one.

    Called inside the merge's one transaction, before anything is committed: core has
    already set the survivor's fields, moved phones, e-mails, addresses, tags, contact
    persons and relations, and put the merged clients in the trash with ``merged_into_id``
    set (all flushed). Core commits once, after every implementation has returned.

    What an implementation must do:

    - Re-point its rows that reference a merged client at ``survivor.id`` through
      ``db.session`` (an ``UPDATE ... WHERE client_id IN merged_ids``, or ORM objects),
      then return. Write audit entries for the rows it changes, as it does when a user
      changes them.
    - Never commit or roll back, and call nothing that does (``core.notifications.notify``
      commits), nor anything that cannot be undone (e-mails, other systems): a commit
      here raises ``core.db.CommitForbidden`` and cancels the merge.
    - Any exception cancels the whole merge: core's part and every plugin's are rolled
      back, the clients stay exactly as they were, and the user is told which plugin
      stopped it (HTTP 409; the traceback goes to the server log). To refuse a merge on
      purpose, raise ``core.users.services.ValidationFailed({field: [message]})``: the
      user sees your message instead.

    Only active (enabled) plugins are called; implementations are called in no particular
    order.

    :param app: the Flask application.
    :param survivor: the client that remains.
    :param merged_ids: the ids of the clients merged into it.
    """


@hookspec
def client_purge_blockers(app: Flask, client_id: int) -> list[str] | None:
    """Say why a trashed client must not be deleted for good: records of the plugin that
    must outlive it or be dealt with first (invoices kept for the accounts, open deals).

    Called before a purge, which is refused (HTTP 409, the messages shown to the user)
    while any implementation returns a message. Return translated messages telling the
    user what to do, or nothing. An implementation that raises refuses the purge too (a
    check that failed cannot say "nothing blocks it"). Read only; do not write.

    :param app: the Flask application.
    :param client_id: the trashed client's id.
    :return: messages for the user, or None when nothing of the plugin keeps the client.
    """


@hookspec
def client_purged(app: Flask, client_id: int) -> None:
    """Delete what the plugin keeps about a client purged for good.

    Called after the client row is deleted (foreign keys with ON DELETE CASCADE have
    already removed dependent rows).

    :param app: the Flask application.
    :param client_id: the id the client had.
    """


@hookspec
def demo_loaded(app: Flask, client_ids: list[int], user_ids: list[int]) -> None:
    """Add a plugin's demo records to the demo data `crm demo` has just loaded.

    Called once, after core's demo clients, contact persons and interactions are
    committed, only for enabled plugins.

    :param app: the Flask application.
    :param client_ids: the demo clients, in the order they were made.
    :param user_ids: the demo sales team (the first is its head).
    """


@hookspec
def plugin_enabled(app: Flask, name: str) -> None:
    """React to a plugin being enabled, including this plugin itself.

    Called after the plugin's migrations ran and its state was committed.

    :param app: the Flask application.
    :param name: the plugin's name.
    """


@hookspec
def plugin_disabled(app: Flask, name: str) -> None:
    """React to a plugin being disabled.

    Called after the state is committed; the plugin being disabled is not called.

    :param app: the Flask application.
    :param name: the plugin's name.
    """
