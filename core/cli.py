"""The ``crm`` command: set-up, serving, workers, plugins and users from the shell."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
import sqlalchemy as sa

from core.audit.models import audit_actor


def _app(ctx_obj: dict[str, Any] | None = None):
    from core import create_app

    return create_app()


def _fail(message: str) -> None:
    raise click.ClickException(str(message).splitlines()[0] if message else "failed")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Manage the CRM. Every command reads DATABASE_URL (default: instance/crm.sqlite3)."""


# --- set-up -----------------------------------------------------------------------------------


def upgrade_core(app) -> str | None:
    from core.db import db
    from core.plugin_system import migrations

    return migrations.upgrade(db.engine, migrations.CORE_MIGRATIONS, "core")


def ensure_admin_role():
    from core.db import db
    from core.users.models import Role

    role = db.session.execute(sa.select(Role).filter_by(is_admin=True)).scalars().first()
    if role is None:
        role = Role(name="Administrator", description="Every permission.", is_admin=True)
        db.session.add(role)
        db.session.commit()
    return role


@main.command()
@click.option("--admin-email", help="E-mail of the first administrator.")
@click.option("--admin-password", help="Password of the first administrator (10+ characters).")
@click.option("--admin-name", default="Administrator", show_default=True)
def init(admin_email: str | None, admin_password: str | None, admin_name: str) -> None:
    """Create or upgrade the database, enable default plugins and create the first admin."""
    from core.db import db
    from core.plugin_system import services as plugins
    from core.users import services
    from core.users.models import User

    app = _app()
    with app.app_context():
        upgrade_core(app)
        # Plugins that ask for it are enabled when first seen; an admin's later choice stays.
        for name in plugins.sync_discovered(app):
            info = app.extensions["crm_plugins"].plugins[name]
            if info.default_enabled and info.loaded:
                try:
                    plugins.enable(name, app)
                except plugins.PluginError as exc:
                    click.echo(f"warning: {exc.message}", err=True)
        plugins.upgrade_enabled(app)
        role = ensure_admin_role()
        has_users = db.session.execute(sa.select(User.id).limit(1)).first() is not None
        if has_users and not admin_email:
            click.echo("Database is up to date; users exist already.")
            return
        if not admin_email:
            admin_email = click.prompt("Administrator e-mail")
        existing = db.session.execute(
            sa.select(User).filter_by(email=services.normalise_email(admin_email))
        ).scalar_one_or_none()
        if existing is not None:
            click.echo(f"Database is up to date; {existing.email} exists already.")
            return
        if not admin_password:
            admin_password = click.prompt(
                "Administrator password", hide_input=True, confirmation_prompt=True
            )
        try:
            user = services.create_user(admin_email, admin_name, admin_password, roles=[role])
        except services.ValidationFailed as exc:
            _fail(str(exc))
        click.echo(f"Created administrator {user.email}.")


@main.command()
@click.option("--clients", default=300, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--if-empty", is_flag=True, help="Do nothing (and succeed) when clients exist.")
def demo(clients: int, if_empty: bool) -> None:
    """Load demo data: a sales team and clients in several languages, with contact persons."""
    from core import demo as demo_data
    from core.clients.models import Client
    from core.db import db as database

    app = _app()
    with app.app_context():
        if if_empty and database.session.execute(sa.select(Client.id).limit(1)).first():
            click.echo("Clients exist already; no demo data loaded.")
            return
        try:
            created = demo_data.load(clients)
        except ValueError as exc:
            _fail(str(exc))
        click.echo(
            f"Loaded {created} demo clients; the demo managers sign in with "
            "olga@demo.example / pavel@demo.example, password demo-password-1."
        )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def run(host: str, port: int, workers: int) -> None:
    """Serve the app with gunicorn (several workers share the database)."""
    from gunicorn.app.base import BaseApplication

    from core.plugin_system import migrations

    app = _app()
    with app.app_context():
        from core.db import db

        if migrations.current_revision(db.engine, "core") is None:
            _fail("the database is not initialised; run `crm init` first")

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", "-")
            self.cfg.set("timeout", 120)

        def load(self):
            from core import create_app, freeze_startup

            return freeze_startup(create_app())

    click.echo(f"Serving on http://{host}:{port}/ with {workers} workers")
    Server().run()


@main.command()
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--periodic/--no-periodic",
    default=True,
    show_default=True,
    help="Also fire periodic jobs; with several worker hosts, leave it on for one.",
)
def worker(workers: int, periodic: bool) -> None:
    """Run background and periodic jobs (SQLite queue, or Redis when REDIS_URL is set)."""
    from core import db as database
    from core.config import _int

    try:
        database.sqlite_cache_kib = _int("CRM_WORKER_SQLITE_CACHE_MB", 256) * 1024
    except RuntimeError as exc:
        _fail(str(exc))
    app = _app()
    app.extensions["crm_jobs"].run_worker(workers=workers, periodic=periodic)


# --- database ---------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Upgrade core and every enabled plugin to their newest schema."""
    from core.plugin_system import services as plugins

    app = _app()
    with app.app_context():
        click.echo(f"core: {upgrade_core(app)}")
        plugins.sync_discovered(app)
        for name, revision in plugins.upgrade_enabled(app):
            row = plugins.registry(app).row(name)
            status = "failed: " + (row.error or "") if row and row.status == "failed" else revision
            click.echo(f"{name}: {status}")


@db.command("revision")
@click.option("-m", "--message", required=True)
@click.option(
    "--plugin",
    "owner",
    default="core",
    show_default=True,
    help="Whose migrations folder gets the revision.",
)
def db_revision(message: str, owner: str) -> None:
    """Write a new migration by comparing the models with the database (for developers)."""
    from core.db import db as database
    from core.plugin_system import migrations

    app = _app()
    registry = app.extensions["crm_plugins"]
    if owner == "core":
        location = migrations.CORE_MIGRATIONS
    else:
        info = registry.plugins.get(owner)
        if info is None or info.migrations_path is None:
            _fail(f"plugin {owner!r} is unknown or has no migrations/versions folder")
        location = info.migrations_path
    with app.app_context():
        paths = migrations.autogenerate(
            database.engine, location, owner, message, database.metadata, list(registry.plugins)
        )
    for path in paths:
        click.echo(path)


# --- plugins ----------------------------------------------------------------------------------


@main.group()
def plugins() -> None:
    """List, enable and disable plugins."""


@plugins.command("list")
def plugins_list() -> None:
    from core.plugin_system import services

    app = _app()
    with app.app_context():
        views = services.overview(app)
        if not views:
            click.echo("No plugins are installed.")
        for v in views:
            line = f"{v.name:24} {v.version:10} {v.state:9} {v.title}"
            if v.requires:
                line += f" (requires {', '.join(v.requires)})"
            if v.error:
                line += f" - {v.error}"
            click.echo(line)


def _toggle(name: str, enable: bool) -> None:
    from core.plugin_system import services

    app = _app()
    with app.app_context():
        try:
            view = services.enable(name, app) if enable else services.disable(name, app)
        except services.PluginError as exc:
            _fail(exc.message)
        click.echo(f"{view.name}: {view.state}")


@plugins.command("enable")
@click.argument("name")
def plugins_enable(name: str) -> None:
    """Enable NAME (its requirements must be enabled; runs its migrations)."""
    _toggle(name, True)


@plugins.command("disable")
@click.argument("name")
def plugins_disable(name: str) -> None:
    """Disable NAME (refused while an enabled plugin requires it; data is kept)."""
    _toggle(name, False)


# --- users ------------------------------------------------------------------------------------


@main.group()
def users() -> None:
    """Create and list users, set passwords."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--role", "role_names", multiple=True, help="Role name; repeat for several.")
@click.option("--team", "team_name", help="Team name.")
def users_create(
    email: str, name: str, password: str, role_names: tuple[str, ...], team_name: str | None
) -> None:
    """Create a user."""
    from core.db import db as database
    from core.users import services
    from core.users.models import Role, Team

    app = _app()
    with app.app_context():
        roles = []
        for role_name in role_names:
            role = database.session.execute(
                sa.select(Role).filter_by(name=role_name)
            ).scalar_one_or_none()
            if role is None:
                _fail(f"no role named {role_name!r}")
            roles.append(role)
        team = None
        if team_name:
            team = database.session.execute(
                sa.select(Team).filter_by(name=team_name)
            ).scalar_one_or_none()
            if team is None:
                _fail(f"no team named {team_name!r}")
        try:
            user = services.create_user(email, name, password, roles=roles, team=team)
        except services.ValidationFailed as exc:
            _fail(str(exc))
        click.echo(f"Created user {user.email} (id {user.id}).")


@users.command("list")
def users_list() -> None:
    from core.db import db as database
    from core.users.models import User

    app = _app()
    with app.app_context():
        for user in database.session.execute(sa.select(User).order_by(User.id)).scalars():
            roles = ", ".join(r.name for r in user.roles)
            state = "active" if user.active else "inactive"
            click.echo(f"{user.id:5} {user.email:40} {state:8} {user.name} [{roles}]")


@users.command("set-password")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def users_set_password(email: str, password: str) -> None:
    """Set a user's password; their sessions end."""
    from core.db import db as database
    from core.users import services
    from core.users.models import User

    app = _app()
    with app.app_context():
        user = database.session.execute(
            sa.select(User).filter_by(email=services.normalise_email(email))
        ).scalar_one_or_none()
        if user is None:
            _fail(f"no user with e-mail {email!r}")
        try:
            services.set_password(user, password)
        except services.ValidationFailed as exc:
            _fail(str(exc))
        click.echo(f"Password of {user.email} is changed.")


def entry() -> None:
    audit_actor.set(None)
    try:
        main(standalone_mode=True)
    except sa.exc.OperationalError as exc:
        click.echo(f"Error: database unavailable: {exc.orig}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    os.environ.setdefault("FLASK_DEBUG", "0")
    entry()
