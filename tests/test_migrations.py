"""Migrations match the models, and each owner's autogenerate sees only its own tables."""

from __future__ import annotations

import shutil

import pytest

from core.db import db
from core.plugin_system import migrations
from tests.conftest import enable


def _autogenerate(app, tmp_path, owner, source=None):
    location = tmp_path / f"{owner}-migrations"
    if source is None:
        (location / "versions").mkdir(parents=True)  # a plugin starting its first revision
    else:
        shutil.copytree(source, location)
    names = list(app.extensions["crm_plugins"].plugins)
    with app.app_context():
        paths = migrations.autogenerate(db.engine, location, owner, "check", db.metadata, names)
    assert len(paths) == 1
    return open(paths[0]).read()


def _upgrade_body(text: str) -> str:
    return text.split("def upgrade() -> None:")[1].split("def downgrade")[0]


@pytest.mark.parametrize("owner", ["core", "hello"])
def test_the_migrations_match_the_models_so_autogenerate_finds_nothing(app, tmp_path, owner):
    enable(app, "hello")
    info = app.extensions["crm_plugins"].plugins.get(owner)
    source = migrations.CORE_MIGRATIONS if owner == "core" else info.migrations_path
    body = _upgrade_body(_autogenerate(app, tmp_path, owner, source))
    assert "op." not in body, body


def test_a_plugin_revision_holds_only_its_own_tables(app, tmp_path):
    """With hello's tables missing from the database, hello's revision creates just those."""
    body = _upgrade_body(_autogenerate(app, tmp_path, "hello"))
    assert "create_table('hello_greeting'" in body and "create_table('hello_delivery'" in body
    assert "'users'" not in body.replace("['users.id']", "")
    core_revision = _autogenerate(app, tmp_path / "c", "core", migrations.CORE_MIGRATIONS)
    core_body = _upgrade_body(core_revision)
    assert "hello_" not in core_body


def test_table_owner_prefers_the_longest_plugin_name():
    names = ["hello", "hello_extra"]
    assert migrations.table_owner("hello_extra_note", names) == "hello_extra"
    assert migrations.table_owner("hello_greeting", names) == "hello"
    assert migrations.table_owner("users", names) == "core"
