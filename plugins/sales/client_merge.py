"""The sales plugin's records of a client when the client goes: its part of a client merge
(the ``client_merged`` hook), and what keeps a trashed client from being deleted for good
(``client_purge_blockers``).

The deals, invoices and client sales plans of the merged clients belong to the survivor
afterwards, in the merge's own transaction (nothing here commits: core does, once).

- Deals and invoices are re-pointed with one UPDATE per merged client. Their history
  gets what an edit of the client would write: an audit entry ``client_id: [old, new]``
  per row, and a new ``version`` (a form opened before the merge is stale). The triggers
  on ``sales_deals`` that keep the board's stage totals and the funnel's stage entries
  (migrations 0008 and 0010) watch stage, owner, currency, source and amount only, so
  the board and the funnel are unchanged. A deal's contact person has already moved
  with the client (core moves contact persons first).
- A plan of a merged client becomes the survivor's; where the survivor already has one
  for that month and currency, the two targets are added up (the survivor's actual
  sales now include the merged client's won deals).

Lead submissions, stage changes, rule runs and alerts refer to deals, not clients, so
they follow their deals.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _

from core.audit.models import AuditLog, current_actor_id
from core.db import db, utcnow
from plugins.sales.analytics.models import SalesPlan
from plugins.sales.invoices.models import Invoice
from plugins.sales.models import Deal


def move_to_survivor(survivor_id: int, merged_ids: list[int]) -> None:
    now, actor = utcnow(), current_actor_id()
    audits = []
    for model in (Deal, Invoice):
        for merged_id in merged_ids:
            moved = (
                db.session.execute(
                    sa.update(model)
                    .where(model.client_id == merged_id)
                    .values(client_id=survivor_id, version=model.version + 1, updated_at=now)
                    .returning(model.id)
                )
                .scalars()
                .all()
            )
            audits.extend(
                {
                    "at": now,
                    "user_id": actor,
                    "entity": model.__tablename__,
                    "entity_id": row_id,
                    "action": "update",
                    "changes": {"client_id": [merged_id, survivor_id]},
                }
                for row_id in sorted(moved)
            )
    if audits:
        db.session.execute(sa.insert(AuditLog), audits)
    _move_plans(survivor_id, merged_ids)


def _move_plans(survivor_id: int, merged_ids: list[int]) -> None:
    """Client plans of the merged clients go to the survivor, added up per month and
    currency (a handful of rows: the ORM writes their audit entries)."""
    plans = (
        db.session.execute(
            sa.select(SalesPlan)
            .where(SalesPlan.kind == "client", SalesPlan.dimension_id.in_(merged_ids))
            .order_by(SalesPlan.id)
        )
        .scalars()
        .all()
    )
    if not plans:
        return
    kept = {
        (plan.period_month, plan.currency): plan
        for plan in db.session.execute(
            sa.select(SalesPlan).where(
                SalesPlan.kind == "client", SalesPlan.dimension_id == survivor_id
            )
        ).scalars()
    }
    for plan in plans:
        target = kept.get((plan.period_month, plan.currency))
        if target is None:
            plan.dimension_id = survivor_id
            kept[(plan.period_month, plan.currency)] = plan
        else:
            target.amount += plan.amount
            db.session.delete(plan)
    db.session.flush()


def purge_blockers(client_id: int) -> list[str]:
    """Deals and invoices of the client keep it from being deleted for good: invoices are
    kept for the accounts (cancelled, never deleted), and deals are given another client
    or deleted by someone who may first. The database refuses it too (ON DELETE RESTRICT),
    even while the plugin is switched off."""
    deals, invoices = db.session.execute(
        sa.select(
            sa.select(sa.func.count()).where(Deal.client_id == client_id).scalar_subquery(),
            sa.select(sa.func.count()).where(Invoice.client_id == client_id).scalar_subquery(),
        )
    ).one()
    reasons = []
    if invoices:
        reasons.append(
            _(
                "Invoices of this client: %(count)s. Invoices are kept for the accounts, so "
                "the client cannot be deleted for good; it can stay in the trash.",
                count=invoices,
            )
        )
    if deals:
        reasons.append(
            _(
                "Deals of this client: %(count)s. Give them another client or delete them first.",
                count=deals,
            )
        )
    return reasons
