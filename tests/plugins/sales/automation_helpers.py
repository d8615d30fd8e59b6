"""The window installer's set-up shared by the automation and lead form tests."""

from __future__ import annotations

import sqlalchemy as sa

from core.db import db
from core.notifications.models import Notification
from core.tasks import services as task_services
from core.tasks.models import Task
from core.users import services as user_services
from core.users.models import Role, Team
from plugins.sales.leads import services as lead_services
from tests.conftest import PASSWORD, api_token
from tests.plugins.sales.deals_helpers import SALES_PERMISSIONS, sales_on

STAGES = ["First call", "Measurements", "Approval", "Payment", "Installation", "Won", "Lost"]


def user_with_role(app, email: str, name: str, role_name: str, team_id=None, perms=()) -> int:
    with app.app_context():
        role = db.session.execute(sa.select(Role).where(Role.name == role_name)).scalar()
        if role is None:
            role = Role(
                name=role_name,
                permissions=list(perms) or list(SALES_PERMISSIONS),
                scopes={"sales.deals": "all", "clients": "all", "tasks": "own"},
            )
            db.session.add(role)
            db.session.commit()
        team = db.session.get(Team, team_id) if team_id else None
        return user_services.create_user(email, name, PASSWORD, roles=[role], team=team).id


def windows(app, api) -> dict:
    """The company: a pipeline, a manager in the head of sales' team, two measurers, an
    installer, task templates and the stage rules of the story."""
    sales_on(app)
    ids: dict = {}
    ids["head"] = user_with_role(app, "head@okna.test", "Helen Head", "Head of sales")
    with app.app_context():
        team = Team(name="Sales team", head_id=ids["head"])
        db.session.add(team)
        db.session.commit()
        ids["team"] = team.id
    ids["manager"] = user_with_role(
        app,
        "manager@okna.test",
        "Max Manager",
        "Manager",
        team_id=ids["team"],
        perms=[*SALES_PERMISSIONS, "sales.invoices"],
    )
    ids["measurer1"] = user_with_role(app, "m1@okna.test", "Mia Measurer", "Measurer")
    ids["measurer2"] = user_with_role(app, "m2@okna.test", "Mo Measurer", "Measurer")
    ids["installer"] = user_with_role(app, "inst@okna.test", "Ivan Installer", "Installer")
    with app.app_context():
        for code, title, amount, unit in (
            ("sales.first_call", "Call the client within 15 minutes", 15, "minutes"),
            ("sales.measure", "Measure the windows", 1, "working_days"),
            (
                "sales.calculate",
                "Calculate the cost and call the client within 2 hours",
                2,
                "hours",
            ),
            ("busy", "Something else", 8, "hours"),
        ):
            task_services.save_template(
                None, {"code": code, "title": title, "due_amount": amount, "due_unit": unit}
            )
        # Mia already has an open task: the measurement goes to Mo.
        task_services.create_from_template("busy", ids["measurer1"])
    response = api.post(
        "/api/v1/sales/pipelines",
        json={
            "name": "Windows",
            "stages": [
                {
                    "name": name,
                    "kind": "won" if name == "Won" else "lost" if name == "Lost" else "open",
                }
                for name in STAGES
            ],
        },
    )
    assert response.status_code == 201, response.get_json()
    pipeline = response.get_json()
    ids["pipeline"] = pipeline["id"]
    ids["stages"] = {s["name"]: s["id"] for s in pipeline["stages"]}
    with app.app_context():
        from plugins.sales.invoices.services import default_template

        ids["invoice_template"] = default_template("invoice").id
    ids["manager_headers"] = api_token(app.test_client(), "manager@okna.test")
    return ids


def add_rule(api, stage_id: int, action: str, params: dict, trigger: str = "enter") -> dict:
    response = api.post(
        f"/api/v1/sales/stages/{stage_id}/rules",
        json={"action": action, "params": params, "trigger": trigger},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def story_rules(api, ids: dict) -> None:
    s = ids["stages"]
    add_rule(api, s["First call"], "task", {"template": "sales.first_call", "assignee": "owner"})
    add_rule(
        api,
        s["Measurements"],
        "task",
        {"template": "sales.measure", "assignee": "role", "role": "Measurer"},
    )
    add_rule(api, s["Approval"], "task", {"template": "sales.calculate", "assignee": "owner"})
    add_rule(api, s["Payment"], "document", {"template_id": ids["invoice_template"]})
    add_rule(api, s["Payment"], "move", {"stage_id": s["Installation"]}, trigger="invoice_paid")
    add_rule(
        api,
        s["Installation"],
        "notify",
        {"role": "Installer", "subject": "Install at {client}: {deal}", "body": "Deadline soon."},
    )


def lead_form(app, ids: dict, **extra) -> str:
    with app.app_context():
        data = {
            "name": "Website",
            "pipeline_id": ids["pipeline"],
            "owner_id": ids["manager"],
            "source": "website",
            "allowed_origins": "https://okna.test",
            **extra,
        }
        return lead_services.save_form(data).key


def tasks_of(app, user_id: int) -> list[Task]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Task).where(Task.assignee_id == user_id).order_by(Task.id)
        ).scalars()
        result = list(rows)
        db.session.expunge_all()
        return result


def notices(app, user_id: int, event: str | None = None) -> list[str]:
    with app.app_context():
        query = sa.select(Notification.subject).where(Notification.user_id == user_id)
        if event:
            query = query.where(Notification.event == event)
        return list(db.session.execute(query.order_by(Notification.id)).scalars())
