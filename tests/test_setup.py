"""Configuration, the SQLite set-up and `crm init` as a new installation meets them."""

from __future__ import annotations

import os
import stat

import pytest
import sqlalchemy as sa

from core.config import build_config, load_secret_key, normalise_database_url
from core.db import db
from core.plugin_system import migrations


def test_secret_key_is_generated_once_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = load_secret_key(tmp_path)
    assert len(first) >= 64 and load_secret_key(tmp_path) == first
    assert stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode) == 0o600


def test_database_url_defaults_to_sqlite_under_instance(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = build_config(tmp_path, {"SECRET_KEY": "x"})
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"


def test_bad_numeric_environment_variables_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("SMTP_PORT", "twenty-five")
    with pytest.raises(RuntimeError, match="SMTP_PORT"):
        build_config(tmp_path, {"SECRET_KEY": "x"})


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite pragmas")
    with app.app_context(), db.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(sa.text("PRAGMA busy_timeout")).scalar() >= 5000


def test_crm_init_is_idempotent_and_creates_a_working_admin(app, crm):
    result = crm("init", "--admin-email", "boss@example.com", "--admin-password", "boss-password-1")
    assert result.exit_code == 0, result.output
    assert "Created administrator boss@example.com" in result.output
    again = crm("init", "--admin-email", "boss@example.com", "--admin-password", "boss-password-1")
    assert again.exit_code == 0 and "exists already" in again.output
    from tests.conftest import login

    assert login(app.test_client(), "boss@example.com", "boss-password-1").status_code == 302


def test_crm_init_refuses_a_weak_password_with_a_message(app, crm):
    result = crm("init", "--admin-email", "weak@example.com", "--admin-password", "123")
    assert result.exit_code == 1 and "at least 10 characters" in result.output


def test_crm_init_prompts_when_not_given_credentials(app, crm):
    result = crm(
        "init", "--admin-email", "asked@example.com", input="prompted-password\nprompted-password\n"
    )
    assert result.exit_code == 0, result.output
    assert "Created administrator asked@example.com" in result.output


def test_crm_db_upgrade_upgrades_core_and_enabled_plugins(app, crm):
    from tests.conftest import enable

    enable(app, "hello")
    result = crm("db", "upgrade")
    assert result.exit_code == 0, result.output
    core_head = migrations.head_revision(migrations.CORE_MIGRATIONS)
    assert f"core: {core_head}" in result.output and "hello: 0001_hello" in result.output


def test_crm_run_refuses_an_uninitialised_database(tmp_path):
    from click.testing import CliRunner

    from core.cli import main

    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        "CRM_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    result = CliRunner().invoke(main, ["run", "--port", "5999"], env=env)
    assert result.exit_code == 1 and "crm init" in result.output
    result = CliRunner().invoke(main, ["run", "--port", "99999"], env=env)
    assert result.exit_code == 2 and "port" in result.output.lower()


def test_crm_demo_loads_a_living_registry_once(app, crm):
    from tests.conftest import enable

    enable(app, "sales")  # as `crm init` does: it is enabled by default
    result = crm("demo", "--clients", "40")
    assert result.exit_code == 0, result.output
    assert "Loaded 40 demo clients" in result.output
    from core.clients.models import Client, ContactPerson

    with app.app_context():
        names = db.session.execute(sa.select(Client.name)).scalars().all()
        assert len(names) == 40
        assert any("ООО" in n for n in names) and any("SRL" in n for n in names)
        assert (
            db.session.execute(sa.select(sa.func.count()).select_from(ContactPerson)).scalar() > 10
        )
        # Clients with a next contact date give their owners a task for that day.
        from core.tasks.models import Task

        dated = db.session.execute(
            sa.select(sa.func.count()).where(Client.next_contact_on.is_not(None))
        ).scalar()
        tasks = db.session.execute(
            sa.select(sa.func.count()).where(Task.origin == "core.next_contact")
        ).scalar()
        assert dated > 0 and tasks == dated
        # The sales plugin (enabled by default) adds deals spread over its funnel.
        from plugins.sales.models import Deal, Stage

        deals = db.session.execute(sa.select(Stage.kind, Deal.amount).join(Deal.stage)).all()
        assert len(deals) >= 5 and all(amount > 0 for _, amount in deals)
        assert {kind for kind, _ in deals} >= {"open"}
    again = crm("demo")
    assert again.exit_code == 1 and "clients already" in again.output
    assert crm("demo", "--if-empty").exit_code == 0
