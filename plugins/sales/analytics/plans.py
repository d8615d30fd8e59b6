"""Sales plans: the head of sales enters a turnover target per month for a product group,
a seller or a client; the "Plan vs actual" report compares them with won deals.

One marshmallow schema validates the page's form and the API (`/api/v1/sales/plans`).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from core.api import refuse_invalid, refuse_stale
from core.clients.models import Client
from core.db import db
from core.security import current_actor, requires
from core.users.models import User
from core.users.services import ValidationFailed
from plugins.sales.analytics.models import PLAN_KINDS, SalesPlan
from plugins.sales.analytics.queries import currency_choices
from plugins.sales.analytics.reports import PLAN_KIND_LABELS
from plugins.sales.models import ProductGroup

PERMISSION = "sales.plans"
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
MAX_AMOUNT = Decimal("999999999999.99")

bp = Blueprint("sales_analytics", __name__, url_prefix="/sales/plans", template_folder="templates")
api = ApiBlueprint(
    "sales_analytics_api",
    __name__,
    url_prefix="/api/v1/sales/plans",
    description="Sales plans: turnover targets per month for product groups, sellers, clients",
)


def _amount_in_range(value: Decimal) -> None:
    """Checked by hand: apispec would write a Range of decimals into the OpenAPI
    document as strings, which is not valid OpenAPI."""
    if value < 0:
        raise ValidationError(str(_l("The amount cannot be negative.")))
    if value > MAX_AMOUNT:
        raise ValidationError(str(_l("The amount is too large.")))


def parse_month(value: str) -> date:
    match = MONTH.match(value or "")
    if not match:
        raise ValidationError(str(_l("Enter a month as YYYY-MM.")))
    return date(int(match.group(1)), int(match.group(2)), 1)


class Month(fields.String):
    """A month as 'YYYY-MM' (stored as its first day)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return parse_month(super()._deserialize(value, attr, data, **kwargs))

    def _serialize(self, value, attr, obj, **kwargs):
        return value.strftime("%Y-%m") if value else None


class SalesPlanSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.Integer(dump_only=True)
    month = Month(required=True, attribute="period_month", metadata={"description": "YYYY-MM"})
    kind = fields.String(required=True, validate=validate.OneOf(PLAN_KINDS))
    dimension_id = fields.Integer(
        required=True,
        strict=True,
        metadata={"description": "the product group, seller (user) or client id"},
    )
    amount = fields.Decimal(
        required=True,
        places=2,
        as_string=True,
        validate=_amount_in_range,
        metadata={"description": "from 0 to 999,999,999,999 with two decimals"},
    )
    currency = fields.String(
        required=True, validate=validate.Regexp(r"^[A-Z]{3}$", error="Use a 3-letter code.")
    )
    version = fields.Integer(dump_only=True)


class SalesPlanPatchSchema(Schema):
    amount = fields.Decimal(
        required=True,
        places=2,
        as_string=True,
        validate=_amount_in_range,
        metadata={"description": "from 0 to 999,999,999,999 with two decimals"},
    )
    version = fields.Integer(required=True, strict=True)


class SalesPlanQuerySchema(Schema):
    month = Month(load_default=None)
    kind = fields.String(load_default=None, validate=validate.OneOf(PLAN_KINDS))


def _dimension_exists(kind: str, dimension_id: int) -> bool:
    if kind == "seller":
        return db.session.get(User, dimension_id) is not None
    if kind == "product_group":
        return db.session.get(ProductGroup, dimension_id) is not None
    client = db.session.get(Client, dimension_id)
    return client is not None and client.deleted_at is None


def _find(data: dict[str, Any]) -> SalesPlan | None:
    return db.session.execute(
        sa.select(SalesPlan).filter_by(
            period_month=data["period_month"],
            kind=data["kind"],
            dimension_id=data["dimension_id"],
            currency=data["currency"],
        )
    ).scalar_one_or_none()


def save_plan(data: dict[str, Any], user: Any, replace: bool = False) -> SalesPlan:
    """Create a plan (or, with ``replace``, change the amount of the one already there)."""
    if not _dimension_exists(data["kind"], data["dimension_id"]):
        raise ValidationFailed({"dimension_id": [_("No such %(kind)s.", kind=_kind(data))]})
    plan = _find(data)
    if plan is not None and not replace:
        raise ValidationFailed(
            {
                "dimension_id": [
                    _(
                        "There is already a plan for this month (id %(id)s); change it instead.",
                        id=plan.id,
                    )
                ]
            }
        )
    if plan is None:
        plan = SalesPlan(created_by_id=user.id, **data)
        db.session.add(plan)
    else:
        plan.amount = data["amount"]
    db.session.commit()
    return plan


def _kind(data: dict[str, Any]) -> str:
    return str(PLAN_KIND_LABELS[data["kind"]]).lower()


def plans_of(month: date | None, kind: str | None) -> list[SalesPlan]:
    query = sa.select(SalesPlan).order_by(
        SalesPlan.period_month, SalesPlan.kind, SalesPlan.dimension_id
    )
    if month is not None:
        query = query.where(SalesPlan.period_month == month)
    if kind is not None:
        query = query.where(SalesPlan.kind == kind)
    return list(db.session.execute(query.limit(5000)).scalars())


def dimension_names(plans: list[SalesPlan]) -> dict[tuple[str, int], str]:
    from plugins.sales.analytics import queries as q

    out: dict[tuple[str, int], str] = {}
    for kind, lookup in (
        ("seller", q.user_names),
        ("client", q.client_names),
        ("product_group", lambda ids: q.names(ProductGroup, ids)),
    ):
        found = lookup(p.dimension_id for p in plans if p.kind == kind)
        out.update({(kind, i): name for i, name in found.items()})
    return out


# --- API ---------------------------------------------------------------------------------


@api.route("")
class Plans(MethodView):
    @requires(PERMISSION)
    @api.arguments(SalesPlanQuerySchema, location="query")
    @api.response(200, SalesPlanSchema(many=True))
    def get(self, args):
        """Plans, optionally of one month (``YYYY-MM``) and one kind."""
        return plans_of(args.get("month"), args.get("kind"))

    @requires(PERMISSION)
    @api.arguments(SalesPlanSchema)
    @api.response(201, SalesPlanSchema)
    def post(self, data):
        """Add a plan; a second plan for the same month, dimension and currency is 422."""
        try:
            return save_plan(data, current_actor())
        except ValidationFailed as exc:
            refuse_invalid(exc)


@api.route("/<int:plan_id>")
class PlanItem(MethodView):
    @requires(PERMISSION)
    @api.response(200, SalesPlanSchema)
    def get(self, plan_id):
        """One plan."""
        return db.get_or_404(SalesPlan, plan_id)

    @requires(PERMISSION)
    @api.arguments(SalesPlanPatchSchema)
    @api.response(200, SalesPlanSchema)
    def patch(self, data, plan_id):
        """Change a plan's amount; send the ``version`` you read (409 if it changed)."""
        plan = db.get_or_404(SalesPlan, plan_id)
        refuse_stale(plan, data["version"], "plan")
        plan.amount = data["amount"]
        db.session.commit()
        return plan

    @requires(PERMISSION)
    @api.response(204)
    def delete(self, plan_id):
        """Remove a plan."""
        db.session.delete(db.get_or_404(SalesPlan, plan_id))
        db.session.commit()


# --- page --------------------------------------------------------------------------------


def _page(month: date, kind: str, errors: dict | None = None, values: dict | None = None):
    plans = plans_of(month, None)
    if kind == "seller":
        options = list(
            db.session.execute(
                sa.select(User.id, User.name).where(User.active.is_(True)).order_by(User.name)
            )
        )
    elif kind == "product_group":
        options = list(
            db.session.execute(sa.select(ProductGroup.id, ProductGroup.name).order_by("name"))
        )
    else:
        options = []  # a client is chosen by id: there may be a million of them
    return render_template(
        "sales_analytics/plans.html",
        month=month.strftime("%Y-%m"),
        kind=kind,
        kinds=[(k, PLAN_KIND_LABELS[k]) for k in PLAN_KINDS],
        labels=PLAN_KIND_LABELS,
        plans=plans,
        names=dimension_names(plans),
        options=options,
        currencies=[c for c, _ in currency_choices()],
        errors=errors or {},
        values=values or {},
    ), (422 if errors else 200)


def _month_arg() -> date:
    try:
        return parse_month(request.args.get("month", ""))
    except ValidationError:
        return date.today().replace(day=1)


@bp.route("/")
@requires(PERMISSION)
def index():
    kind = request.args.get("kind")
    return _page(_month_arg(), kind if kind in PLAN_KINDS else "seller")


@bp.route("/", methods=["POST"])
@requires(PERMISSION)
def save():
    raw = {k: request.form.get(k, "").strip() for k in ("month", "kind", "dimension_id")}
    raw.update(
        amount=request.form.get("amount", "").strip().replace(",", "."),
        currency=request.form.get("currency", "").strip().upper(),
    )
    kind = raw["kind"] if raw["kind"] in PLAN_KINDS else "seller"
    try:
        month = parse_month(raw["month"])
    except ValidationError:
        month = date.today().replace(day=1)
    try:
        dimension = raw["dimension_id"]
        loaded = SalesPlanSchema().load(
            {
                **raw,
                "dimension_id": int(dimension)
                if dimension.isascii() and dimension.isdigit()
                else dimension,
            }
        )
        save_plan(loaded, current_actor(), replace=True)
    except ValidationError as exc:
        errors = {k: v if isinstance(v, list) else [str(v)] for k, v in exc.messages.items()}
        return _page(month, kind, errors, raw)
    except ValidationFailed as exc:
        db.session.rollback()
        return _page(month, kind, exc.errors, raw)
    flash(_("Plan saved."), "success")
    return redirect(url_for("sales_analytics.index", month=raw["month"], kind=kind))


@bp.route("/<int:plan_id>/delete", methods=["POST"])
@requires(PERMISSION)
def delete(plan_id: int):
    plan = db.get_or_404(SalesPlan, plan_id)
    month, kind = plan.period_month.strftime("%Y-%m"), plan.kind
    db.session.delete(plan)
    db.session.commit()
    flash(_("Plan removed."), "success")
    return redirect(url_for("sales_analytics.index", month=month, kind=kind))
