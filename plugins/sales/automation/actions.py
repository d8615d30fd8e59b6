"""What a stage rule can do: the registry of actions, and the built-in ones.

An action is a ``kind`` ("task", "notify", ...) with a label for the admin, a ``check``
that validates its parameters and a ``run`` that does it::

    from plugins.sales.automation import actions

    def check(params: dict) -> dict:  # return the cleaned params or raise ValidationFailed
        ...

    def run(deal, change, params: dict) -> None:  # raise to mark the run failed
        ...

    actions.register("vendor.sms", "Send an SMS", run, check)

Other plugins (declaring ``requires = ("sales",)``) register their actions when imported
or from their ``plugin_enabled`` hook; see docs/sales-automation.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.db import db
from core.users.models import Role, Team, User, user_roles
from core.users.services import ValidationFailed

DEAL_KIND = "sales.deal"


@dataclass(frozen=True)
class Action:
    kind: str
    label: Any
    run: Callable[[Any, Any, dict], Any]
    check: Callable[[dict], dict]


_actions: dict[str, Action] = {}


def register(kind: str, label: Any, run: Callable, params_schema: Callable | Any) -> Action:
    """Add (or replace) the action ``kind``. ``params_schema`` is a callable taking the
    parameters and returning them cleaned (raising ValidationFailed), or a marshmallow
    schema (class or instance) whose ``load`` does the same."""
    check = params_schema
    if hasattr(params_schema, "load"):
        schema = params_schema() if isinstance(params_schema, type) else params_schema

        def check(params: dict) -> dict:
            from marshmallow import ValidationError

            try:
                return schema.load(params)
            except ValidationError as exc:
                raise ValidationFailed(
                    {
                        f"params.{k}": v if isinstance(v, list) else [str(v)]
                        for k, v in exc.messages.items()
                    }  # type: ignore[union-attr]
                ) from None

    action = Action(kind, label, run, check)
    _actions[kind] = action
    return action


def get(kind: str) -> Action | None:
    return _actions.get(kind)


def all_actions() -> list[Action]:
    return sorted(_actions.values(), key=lambda a: a.kind)


def check(kind: Any, params: Any) -> dict:
    """The cleaned parameters of an action, or ValidationFailed naming the field."""
    action = _actions.get(kind) if isinstance(kind, str) else None
    if action is None:
        choices = ", ".join(sorted(_actions))
        raise ValidationFailed({"action": [_("Choose one of: %(c)s.", c=choices)]})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValidationFailed({"params": [_("Give the parameters as fields.")]})
    return action.check(params)


# --- helpers ------------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        return None
    return value


def _text(params: dict, field: str, errors: dict, limit: int, required: bool = False) -> str:
    raw = params.get(field)
    if raw is not None and not isinstance(raw, str):
        errors[f"params.{field}"] = [_("Enter text.")]
        return ""
    text = (raw or "").strip()
    if required and not text:
        errors[f"params.{field}"] = [_("This field is required.")]
    elif len(text) > limit:
        errors[f"params.{field}"] = [_("At most %(n)s characters.", n=limit)]
    return text


def _active_user(raw: Any, field: str, errors: dict) -> int | None:
    user_id = _int(raw)
    user = db.session.get(User, user_id) if user_id else None
    if user is None or not user.active:
        errors[f"params.{field}"] = [_("Choose an active user.")]
        return None
    return user.id


def _role(raw: Any, field: str, errors: dict) -> str:
    name = raw.strip() if isinstance(raw, str) else ""
    if not name or db.session.execute(sa.select(Role.id).where(Role.name == name)).scalar() is None:
        errors[f"params.{field}"] = [_("Choose an existing role.")]
    return name


def role_holders(role_name: str) -> list[int]:
    """Active users holding the role ``role_name``, by id."""
    return list(
        db.session.execute(
            sa.select(User.id)
            .join(user_roles, user_roles.c.user_id == User.id)
            .join(Role, Role.id == user_roles.c.role_id)
            .where(Role.name == role_name, User.active.is_(True))
            .order_by(User.id)
        ).scalars()
    )


def least_loaded(user_ids: list[int]) -> int | None:
    """Of ``user_ids``, the one with the fewest open tasks (the lowest id on a tie)."""
    from core.tasks.models import ACTIVE_STATUSES, Task

    if not user_ids:
        return None
    counts = dict(
        db.session.execute(
            sa.select(Task.assignee_id, sa.func.count())
            .where(Task.assignee_id.in_(user_ids), Task.status.in_(ACTIVE_STATUSES))
            .group_by(Task.assignee_id)
        ).all()
    )
    return min(user_ids, key=lambda uid: (counts.get(uid, 0), uid))


def team_head(user_id: int | None) -> int | None:
    if user_id is None:
        return None
    return db.session.execute(
        sa.select(Team.head_id).join(User, User.team_id == Team.id).where(User.id == user_id)
    ).scalar()


def render(text: str, deal: Any) -> str:
    """``text`` with {deal}, {client}, {stage}, {amount} and {owner} filled in."""
    values = {
        "{deal}": deal.title,
        "{client}": deal.client.name if deal.client else "",
        "{stage}": deal.stage.name if deal.stage else "",
        "{amount}": f"{deal.amount:,.2f} {deal.currency}",
        "{owner}": deal.owner.name if deal.owner else "",
    }
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def deal_url(deal: Any) -> str | None:
    from flask import has_request_context, url_for

    if not has_request_context():
        return f"/sales/deals/{deal.id}"
    return url_for("sales_deals.card", deal_id=deal.id)


# --- create a task -------------------------------------------------------------------------

ASSIGNEES = ("owner", "user", "role")


def check_task(params: dict) -> dict:
    from core.tasks.services import template

    errors: dict[str, list[str]] = {}
    code = _text(params, "template", errors, 80, required=True)
    if code and "params.template" not in errors and template(code) is None:
        errors["params.template"] = [_("There is no task template with this code.")]
    assignee = params.get("assignee") or "owner"
    out: dict[str, Any] = {"template": code, "assignee": assignee}
    if assignee not in ASSIGNEES:
        errors["params.assignee"] = [_("Choose one of: %(c)s.", c=", ".join(ASSIGNEES))]
    elif assignee == "user":
        out["user_id"] = _active_user(params.get("user_id"), "user_id", errors)
    elif assignee == "role":
        out["role"] = _role(params.get("role"), "role", errors)
    if errors:
        raise ValidationFailed(errors)
    return out


def run_task(deal: Any, change: Any, params: dict) -> Any:
    from core.tasks.services import create_from_template

    if params["assignee"] == "user":
        assignee = params["user_id"]
    elif params["assignee"] == "role":
        assignee = least_loaded(role_holders(params["role"]))
        if assignee is None:
            raise LookupError(f"no active user holds the role {params['role']!r}")
    else:
        assignee = deal.owner_id
        if assignee is None:
            raise LookupError("the deal has no owner")
    return create_from_template(
        params["template"], assignee, link=(DEAL_KIND, deal.id), now=change.at
    )


# --- notify users --------------------------------------------------------------------------

RECIPIENTS = ("owner", "team_head")


def check_notify(params: dict) -> dict:
    errors: dict[str, list[str]] = {}
    to = params.get("to") or []
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or any(t not in RECIPIENTS for t in to):
        errors["params.to"] = [_("Choose among: %(c)s.", c=", ".join(RECIPIENTS))]
        to = []
    raw_ids = params.get("user_ids") or []
    if not isinstance(raw_ids, list):
        raw_ids = [raw_ids]
    user_ids = [_active_user(raw, "user_ids", errors) for raw in raw_ids]
    role = params.get("role") or ""
    if role:
        role = _role(role, "role", errors)
    subject = _text(params, "subject", errors, 300, required=True)
    body = _text(params, "body", errors, 5000)
    if not errors and not (to or user_ids or role):
        errors["params.to"] = [_("Choose whom to tell.")]
    if errors:
        raise ValidationFailed(errors)
    return {"to": to, "user_ids": user_ids, "role": role, "subject": subject, "body": body}


def run_notify(deal: Any, change: Any, params: dict) -> Any:
    from core.notifications import notify

    users: list[int] = list(params.get("user_ids") or [])
    if "owner" in params["to"] and deal.owner_id:
        users.append(deal.owner_id)
    if "team_head" in params["to"]:
        head = team_head(deal.owner_id)
        if head:
            users.append(head)
    if params.get("role"):
        users.extend(role_holders(params["role"]))
    return notify(
        "sales.stage_entered",
        users,
        render(params["subject"], deal),
        render(params.get("body") or "", deal),
        url=deal_url(deal),
        record=(DEAL_KIND, deal.id),
        key=f"sales.stage_entered:{change.id}:{params.get('_rule_id', '')}",
    )


# --- generate a document -------------------------------------------------------------------


def check_document(params: dict) -> dict:
    from core.documents.models import DocumentTemplate

    template_id = _int(params.get("template_id"))
    template = db.session.get(DocumentTemplate, template_id) if template_id else None
    if template is None or not template.active:
        raise ValidationFailed({"params.template_id": [_("Choose an active document template.")]})
    if template.type not in ("proposal", "invoice", "contract", "act", "letter"):
        raise ValidationFailed({"params.template_id": [_("Choose a document template.")]})
    return {"template_id": template.id}


def run_document(deal: Any, change: Any, params: dict) -> Any:
    """An invoice template issues an invoice (numbered, payable); any other template a
    document; either is linked to the deal and the client."""
    from core.documents.models import DocumentTemplate
    from plugins.sales.invoices import services as invoices

    template = db.session.get(DocumentTemplate, params["template_id"])
    if template is None or not template.active:
        raise LookupError(f"document template {params['template_id']} is gone")
    if template.type == "invoice":
        return invoices.issue_invoice(deal, template, None)
    document = invoices.issue_document(deal, template, None)
    db.session.commit()
    return document


# --- set a field ---------------------------------------------------------------------------

FIELDS = ("expected_close_on", "source", "campaign")


def check_set_field(params: dict) -> dict:
    errors: dict[str, list[str]] = {}
    field = params.get("field")
    if field not in FIELDS:
        raise ValidationFailed({"params.field": [_("Choose one of: %(c)s.", c=", ".join(FIELDS))]})
    if field == "expected_close_on":
        days = params.get("days")
        if isinstance(days, str) and re.fullmatch(r"-?[0-9]{1,6}", days.strip()):
            days = int(days.strip())
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 3650:
            errors["params.days"] = [_("Enter a whole number of days from 0 to 3650.")]
        if errors:
            raise ValidationFailed(errors)
        return {"field": field, "days": days}
    value = _text(params, "value", errors, 40 if field == "source" else 200)
    if errors:
        raise ValidationFailed(errors)
    return {"field": field, "value": value}


def run_set_field(deal: Any, change: Any, params: dict) -> Any:
    from plugins.sales.deals.services import update_deal

    if params["field"] == "expected_close_on":
        start = change.at.date() if isinstance(change.at, datetime) else date.today()
        value: Any = start + timedelta(days=params["days"])
    else:
        value = params["value"] or None
    return update_deal(deal, {params["field"]: value}, None)


# --- move the deal (for the "invoice paid" trigger) ----------------------------------------


def check_move(params: dict) -> dict:
    from plugins.sales.models import Stage

    stage_id = _int(params.get("stage_id"))
    stage = db.session.get(Stage, stage_id) if stage_id else None
    if stage is None or stage.removed_at is not None:
        raise ValidationFailed({"params.stage_id": [_("Choose a stage of the deal's pipeline.")]})
    return {"stage_id": stage.id}


def run_move(deal: Any, change: Any, params: dict) -> Any:
    from plugins.sales.deals.services import move_deal

    if deal.stage_id == params["stage_id"]:
        return None
    return move_deal(deal, params["stage_id"], None, note=_("Moved by a stage rule."))


register("task", _l("Create a task from a template"), run_task, check_task)
register("notify", _l("Notify users"), run_notify, check_notify)
register("document", _l("Generate a document and attach it"), run_document, check_document)
register("set_field", _l("Set a field of the deal"), run_set_field, check_set_field)
register("move", _l("Move the deal to a stage"), run_move, check_move)
