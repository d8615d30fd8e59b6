"""Admin page: browse the audit log."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template, request

from core.audit import queries
from core.db import db
from core.ids import parse_id
from core.security import requires
from core.users.models import User

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return parse_id(value)


@bp.route("/")
@requires("core.audit.view")
def index():
    filters = {
        "entity": request.args.get("entity", "")[:64] or None,
        "entity_id": _int_arg("entity_id"),
        "user_id": _int_arg("user_id"),
        "before": _int_arg("before"),
    }
    rows, cursor = queries.page(filters)
    user_ids = {r.user_id for r in rows if r.user_id}
    users = (
        {
            u.id: u
            for u in db.session.execute(sa.select(User).where(User.id.in_(user_ids))).scalars()
        }
        if user_ids
        else {}
    )
    return render_template(
        "audit/index.html", rows=rows, users=users, cursor=cursor, filters=filters
    )
