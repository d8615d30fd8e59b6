"""Hook implementations of the hello plugin."""

import sqlalchemy as sa
from flask import Blueprint, render_template, request
from flask.views import MethodView
from flask_smorest import Blueprint as ApiBlueprint
from huey import crontab
from marshmallow import Schema, fields, validate

from core.db import db
from core.plugin_system import hookimpl
from core.plugin_system.types import (
    CardPanel,
    DashboardWidget,
    Job,
    MenuItem,
    NotificationChannel,
    Permission,
    Report,
    ReportChart,
    ReportColumn,
    ReportFilter,
    ReportResult,
    ScopeArea,
    SearchResult,
    SettingDefinition,
    TimelineItem,
)
from core.security import current_actor, requires, scoped
from crm_test_plugins.hello.models import Delivery, Greeting

bp = Blueprint("hello", __name__, url_prefix="/hello", template_folder="templates")
api = ApiBlueprint("hello_api", __name__, description="Greetings of the hello test plugin")


class GreetingSchema(Schema):
    id = fields.Integer(dump_only=True)
    text = fields.String(required=True, validate=validate.Length(min=1, max=200))
    owner_id = fields.Integer(dump_only=True)
    version = fields.Integer(dump_only=True)


def visible_greetings(user):
    query = scoped(sa.select(Greeting).order_by(Greeting.id), user, "greetings", Greeting.owner_id)
    return db.session.execute(query).scalars().all()


@bp.route("/")
@requires("hello.view")
def index():
    return render_template("hello/index.html", greetings=visible_greetings(current_actor()))


@bp.route("/", methods=["POST"])
@requires("hello.manage")
def add():
    text = request.form.get("text", "").strip()[:200] or "Hello"
    db.session.add(Greeting(text=text, owner_id=current_actor().id))
    db.session.commit()
    return index()


@api.route("/greetings")
class Greetings(MethodView):
    @requires("hello.view")
    @api.response(200, GreetingSchema(many=True))
    def get(self):
        """Greetings the caller may see."""
        return visible_greetings(current_actor())

    @requires("hello.manage")
    @api.arguments(GreetingSchema)
    @api.response(201, GreetingSchema)
    def post(self, data):
        """Add a greeting owned by the caller."""
        greeting = Greeting(text=data["text"], owner_id=current_actor().id)
        db.session.add(greeting)
        db.session.commit()
        return greeting


def _record(kind: str, payload: str = "") -> None:
    db.session.add(Delivery(kind=kind, payload=payload))
    db.session.commit()


def tick() -> None:
    _record("tick")


def flaky(fail_times: int = 2) -> str:
    """Fails ``fail_times`` times, then succeeds: proves retries."""
    _record("flaky-attempt")
    attempts = db.session.execute(
        sa.select(sa.func.count()).where(Delivery.kind == "flaky-attempt")
    ).scalar_one()
    if attempts <= fail_times:
        raise RuntimeError(f"flaky attempt {attempts}")
    _record("flaky-done", str(attempts))
    return "done"


def record(kind: str, payload: str = "") -> None:
    _record(kind, payload)


def _send(user, subject, body, url=None) -> None:
    """Records the message; a subject starting "flaky" fails on its first attempt."""
    if subject.startswith("flaky"):
        tries = db.session.execute(
            sa.select(sa.func.count()).where(Delivery.kind == "notification-attempt")
        ).scalar_one()
        _record("notification-attempt", subject)
        if tries == 0:
            raise ConnectionError("channel unavailable")
    _record("notification", f"{user.email}: {subject}")


def greetings_per_owner(params, user) -> ReportResult:
    """A plugin's report: greetings counted per owner, within the greetings scope."""
    query = scoped(
        sa.select(Greeting.owner_id, sa.func.count()), user, "greetings", Greeting.owner_id
    ).group_by(Greeting.owner_id)
    if params["word"]:
        query = query.where(Greeting.text.contains(params["word"]))
    rows = [{"owner": str(owner), "greetings": n} for owner, n in db.session.execute(query)]
    return ReportResult(
        [ReportColumn("owner", "Owner"), ReportColumn("greetings", "Greetings", "int")], rows
    )


class HelloPlugin:
    name = "hello"
    title = "Hello"
    version = "1.2.0"
    description = "Greets new users; exercises every plugin hook in tests."
    requires = ()

    @hookimpl
    def register_blueprints(self, app):
        return [bp]

    @hookimpl
    def register_api_blueprints(self, app):
        return [api]

    @hookimpl
    def menu_items(self, user):
        return [MenuItem("Hello", "hello.index", "hello.view", weight=150)]

    @hookimpl
    def dashboard_widgets(self, user):
        return [DashboardWidget("hello.count", "Greetings", self._widget, "hello.view", weight=120)]

    def _widget(self, user) -> str:
        return f"<p data-testid='hello-widget'>{len(visible_greetings(user))} greetings</p>"

    @hookimpl
    def reports(self, app):
        return [
            Report(
                "hello.greetings",
                "Greetings per owner",
                "hello.view",
                [ReportFilter("word", "Word", "choice", (("Welcome", "Welcome"), ("Hi", "Hi")))],
                greetings_per_owner,
                chart=ReportChart("bar", "owner", ("greetings",)),
                group="Hello",
            )
        ]

    @hookimpl
    def permissions(self):
        return [
            Permission("hello.view", "See greetings"),
            Permission("hello.manage", "Add greetings"),
        ]

    @hookimpl
    def scope_areas(self):
        return [ScopeArea("greetings", "Greetings")]

    @hookimpl
    def settings(self):
        return [SettingDefinition("hello.word", "Greeting word", default="Hello", max_length=20)]

    @hookimpl
    def jobs(self, app):
        return [
            Job("hello.tick", tick, schedule=crontab(minute="*")),
            Job("hello.flaky", flaky, retries=3),
            Job("hello.record", record, retries=0),
        ]

    @hookimpl
    def notification_channels(self):
        return [NotificationChannel("hello_log", "Hello log", _send)]

    @hookimpl
    def user_created(self, user):
        db.session.add(Greeting(text=f"Welcome, {user.name}!", owner_id=user.id))
        db.session.commit()

    @hookimpl
    def client_card_panels(self, client, user):
        return [
            CardPanel("hello.greetings", "Greetings", self._panel, "hello.view", weight=50),
            CardPanel("hello.secret", "Secret", self._panel, "hello.manage", weight=60),
        ]

    def _panel(self, client, user) -> str:
        return f"<p data-testid='hello-panel'>Hello, {client.name}!</p>"

    @hookimpl
    def timeline_items(self, client, kinds, before, limit):
        if kinds is not None and "hello" not in kinds:
            return []
        item = TimelineItem(
            kind="hello",
            at=client.created_at,
            id=client.id,
            title=f"Hello from the plugin, {client.name}!",
            label="Hello",
            weight=150,
        )
        return [item] if before is None or before.admits(item) else []

    @hookimpl
    def search(self, user, query, limit):
        if not user.has_permission("hello.view"):
            return []
        rows = db.session.execute(
            sa.select(Greeting).where(Greeting.text.contains(query)).limit(limit)
        ).scalars()
        return [SearchResult("greeting", g.text, "/hello/", weight=50) for g in rows]

    @hookimpl
    def document_variables(self, template_type, record, user):
        if record is None:  # a template is being checked: sample values
            return {"hello": {"greeting": "Hi", "lines": [{"name": "Sample", "price": "1"}]}}
        return {
            "hello": {
                "greeting": f"Привет from {record.kind} {record.id} for {user.name}",
                "lines": [{"name": "Чай", "price": "10"}, {"name": "Café", "price": "12"}],
            }
        }

    @hookimpl
    def client_created(self, client):
        _record("client_created", client.name)

    @hookimpl
    def client_deleted(self, client):
        _record("client_deleted", client.name)

    @hookimpl
    def client_purged(self, client_id):
        _record("client_purged", str(client_id))

    @hookimpl
    def plugin_enabled(self, name):
        _record("plugin_enabled", name)

    @hookimpl
    def plugin_disabled(self, name):
        _record("plugin_disabled", name)
