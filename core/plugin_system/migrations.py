"""Alembic without env.py files: core and each plugin own a folder and a version table.

Core's revisions live in ``core/migrations`` with the table ``alembic_version``; a plugin's
in its own ``migrations/`` folder with ``alembic_version_<plugin>``, as Indico does, so
adding or removing a plugin never leaves an unknown revision behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate.api import RevisionContext
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

CORE_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


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


def upgrade(engine: sa.Engine, location: Path, owner: str, target: str = "head") -> str | None:
    """Run every pending revision of ``owner`` in one transaction; return the new revision."""
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


def _owned_by(owner: str, plugin_names: list[str]):
    prefixes = tuple(f"{name}_" for name in plugin_names if name != owner)

    def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
        if type_ != "table" or name is None:
            return True
        if name.startswith("alembic_version"):
            return False
        if owner == "core":
            return not name.startswith(prefixes) if prefixes else True
        return name.startswith(f"{owner}_")

    return include_name


def autogenerate(
    engine: sa.Engine,
    location: Path,
    owner: str,
    message: str,
    metadata: sa.MetaData,
    plugin_names: list[str],
) -> list[str]:
    """Write a new revision comparing ``metadata`` with the database; return its file paths."""
    config, script = _script(location)
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
                include_name=_owned_by(owner, plugin_names),
                render_as_batch=True,
            )
            with env.begin_transaction():
                env.run_migrations()
    return [s.path for s in revision_context.generate_scripts() if s is not None]
