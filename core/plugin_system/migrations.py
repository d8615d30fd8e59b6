"""Alembic without env.py files: core and each plugin own a folder and a version table.

Core's revisions live in ``core/migrations`` with the table ``alembic_version``; a plugin's
in its own ``migrations/`` folder with ``alembic_version_<plugin>``, as Indico does, so
adding or removing a plugin never leaves an unknown revision behind.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate.api import RevisionContext
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.pool import NullPool

CORE_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# Tables made by hand-written SQL in migrations (full-text search), unknown to the models.
UNMANAGED_TABLES = ("clients_fts", "client_search")


def version_table(owner: str) -> str:
    return "alembic_version" if owner == "core" else f"alembic_version_{owner}"


def _script(location: Path) -> tuple[Config, ScriptDirectory]:
    config = Config()
    config.set_main_option("script_location", str(location))
    return config, ScriptDirectory.from_config(config)


def current_revision(engine: sa.Engine, owner: str) -> str | None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": version_table(owner)})
        return context.get_current_revision()


def head_revision(location: Path) -> str | None:
    return _script(location)[1].get_current_head()


@contextmanager
def _transactional_ddl(engine: sa.Engine) -> Iterator[sa.Engine]:
    """An engine whose transactions include DDL, so a failed migration leaves nothing behind.

    The sqlite3 module runs CREATE/ALTER outside transactions; for migrations only, a separate
    engine opens them itself with BEGIN IMMEDIATE (SQLAlchemy's documented recipe). Sessions
    keep the module's default so concurrent web workers never trip over stale read snapshots.
    """
    if engine.dialect.name != "sqlite":
        yield engine
        return
    ddl_engine = sa.create_engine(engine.url, poolclass=NullPool, connect_args={"timeout": 30})

    @event.listens_for(ddl_engine, "connect")
    def _autocommit_driver(dbapi_connection, record) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(ddl_engine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        yield ddl_engine
    finally:
        ddl_engine.dispose()


def upgrade(engine: sa.Engine, location: Path, owner: str, target: str = "head") -> str | None:
    """Run every pending revision of ``owner`` in one transaction; return the new revision."""
    with _transactional_ddl(engine) as ddl_engine:
        return _upgrade(ddl_engine, location, owner, target)


def _upgrade(engine: sa.Engine, location: Path, owner: str, target: str) -> str | None:
    config, script = _script(location)

    def do_upgrade(rev, context):
        return script._upgrade_revs(target, rev)

    with EnvironmentContext(config, script, fn=do_upgrade, destination_rev=target) as env:
        with engine.begin() as conn:
            env.configure(
                connection=conn,
                version_table=version_table(owner),
                render_as_batch=True,
            )
            with env.begin_transaction():
                env.run_migrations()
    return current_revision(engine, owner)


def table_owner(table: str, plugin_names: list[str]) -> str:
    """The plugin whose prefix names ``table``; the longest wins (hello_extra_x: hello_extra)."""
    matches = [name for name in plugin_names if table.startswith(f"{name}_")]
    return max(matches, key=len) if matches else "core"


def _owned_by(owner: str, plugin_names: list[str], sqlite: bool = False):
    """Filters for autogenerate: tables in the database and in the models alike."""

    def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
        if type_ != "table" or name is None:
            return True
        if name.startswith(("alembic_version", *UNMANAGED_TABLES)):
            return False
        return table_owner(name, plugin_names) == owner

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to) -> bool:
        if sqlite and type_ == "foreign_key_constraint":
            # SQLite does not report the names of foreign keys added by ALTER TABLE, so they
            # would always look changed; PostgreSQL's autogenerate compares them.
            return False
        table = obj if type_ == "table" else getattr(obj, "table", None)
        if table is None or table.name is None:
            return True
        return include_name(table.name, "table", {})

    return include_name, include_object


def autogenerate(
    engine: sa.Engine,
    location: Path,
    owner: str,
    message: str,
    metadata: sa.MetaData,
    plugin_names: list[str],
) -> list[str]:
    """Write a new revision comparing ``metadata`` with the database; return its file paths."""
    template = location / "script.py.mako"
    if not template.exists():
        # A plugin may ship only versions/; new revisions use core's template.
        shutil.copyfile(CORE_MIGRATIONS / "script.py.mako", template)
    config, script = _script(location)
    include_name, include_object = _owned_by(owner, plugin_names, engine.dialect.name == "sqlite")
    revision_context = RevisionContext(
        config,
        script,
        {
            "message": message,
            "autogenerate": True,
            "sql": False,
            "head": "head",
            "splice": False,
            "branch_label": None,
            "version_path": None,
            "rev_id": None,
            "depends_on": None,
        },
    )

    def retrieve(rev, context):
        revision_context.run_autogenerate(rev, context)
        return []

    with EnvironmentContext(
        config,
        script,
        fn=retrieve,
        as_sql=False,
        template_args=revision_context.template_args,
        revision_context=revision_context,
    ) as env:
        with engine.connect() as conn:
            env.configure(
                connection=conn,
                target_metadata=metadata,
                version_table=version_table(owner),
                include_name=include_name,
                include_object=include_object,
                render_as_batch=True,
            )
            with env.begin_transaction():
                env.run_migrations()
    return [s.path for s in revision_context.generate_scripts() if s is not None]
