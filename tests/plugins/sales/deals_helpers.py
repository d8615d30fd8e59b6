"""Helpers shared by the deal tests: the sales plugin enabled, clients, users and deals."""

from __future__ import annotations

import sqlalchemy as sa

from core.clients import services as client_services
from core.db import db
from plugins.sales.models import LostReason, Pipeline, Stage
from tests.conftest import api_token, enable, make_user

SALES_PERMISSIONS = [
    "sales.view",
    "sales.deals.edit",
    "sales.deals.delete",
    "sales.deals.export",
    "clients.view",
]


def sales_on(app) -> None:
    enable(app, "sales")


def trigger_names() -> set[str]:
    """The user-defined triggers of the database (inside an app context)."""
    if db.engine.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    else:
        query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
    return set(db.session.execute(sa.text(query)).scalars())


def new_client(app, name: str = "Okna Plus", owner_id: int | None = None) -> int:
    with app.app_context():
        data = {"kind": "company", "name": name}
        if owner_id is not None:
            data["owner_id"] = owner_id
        return client_services.create_client(data).id


def stages(app, pipeline_name: str = "Sales") -> dict[str, int]:
    with app.app_context():
        pipeline = db.session.execute(
            sa.select(Pipeline).where(Pipeline.name == pipeline_name)
        ).scalar_one()
        return {
            s.name: s.id
            for s in db.session.execute(
                sa.select(Stage).where(Stage.pipeline_id == pipeline.id)
            ).scalars()
        }


def reason_id(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(LostReason.id).limit(1)).scalar_one()


def manager(app, email: str, scope: str = "own", team_id: int | None = None) -> tuple[int, dict]:
    """A manager with the sales permissions, the given deal scope and all clients."""
    user_id = make_user(
        app,
        email,
        SALES_PERMISSIONS,
        scopes={"sales.deals": scope, "clients": "all"},
        team_id=team_id,
    )
    return user_id, api_token(app.test_client(), email)
