"""The periodic job ``sales.stage_time_limits``: a deal that stays in an open stage longer
than the stage's ``target_hours`` is reported to its owner, and after a further
``sales.overdue_escalation_hours`` to the owner's team head: each once per entry.

Each notice is claimed by inserting a ``StageAlert`` (UNIQUE(stage_change_id, kind)), so
several workers running the job at once send it once; deals already alerted are left out
by the query itself, so a pass costs the same however long deals have been overdue.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from core.db import db, utcnow
from core.notifications import notify
from core.settings.services import get as setting
from core.users.models import User
from plugins.sales.automation.actions import deal_url, team_head
from plugins.sales.automation.models import StageAlert
from plugins.sales.models import Deal, Stage, StageChange

BATCH = 500


def _claim(change_id: int, kind: str, now: datetime) -> bool:
    db.session.add(StageAlert(stage_change_id=change_id, kind=kind, at=now))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def _overdue(stage: Stage, kind: str, cutoff: datetime) -> list[tuple[Deal, int]]:
    """Deals in ``stage`` since before ``cutoff`` with no ``kind`` alert for their entry."""
    entry = (
        sa.select(sa.func.max(StageChange.id))
        .where(StageChange.deal_id == Deal.id, StageChange.to_stage_id == Deal.stage_id)
        .correlate(Deal)
        .scalar_subquery()
    )
    alerted = (
        sa.select(StageAlert.id)
        .where(StageAlert.stage_change_id == entry, StageAlert.kind == kind)
        .exists()
    )
    return list(
        db.session.execute(
            sa.select(Deal, entry)
            .where(
                Deal.stage_id == stage.id,
                Deal.closed_at.is_(None),
                Deal.stage_entered_at <= cutoff,
                ~alerted,
            )
            .order_by(Deal.stage_entered_at, Deal.id)
            .limit(BATCH)
        ).all()
    )


def _hours(moment: datetime, now: datetime) -> int:
    return int((now - moment).total_seconds() // 3600)


def run(now: datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    sent = {"owner": 0, "head": 0}
    try:
        extra = int(setting("sales.overdue_escalation_hours") or 0)
    except (TypeError, ValueError):
        extra = 24
    stages = db.session.execute(
        sa.select(Stage).where(
            Stage.target_hours.is_not(None),
            Stage.target_hours > 0,
            Stage.kind == "open",
            Stage.removed_at.is_(None),
        )
    ).scalars()
    for stage in list(stages):
        limit = timedelta(hours=stage.target_hours)
        for deal, change_id in _overdue(stage, "owner", now - limit):
            if change_id is None or not _claim(change_id, "owner", now):
                continue
            if deal.owner_id is not None:
                sent["owner"] += _tell(
                    "sales.stage_overdue", deal.owner_id, deal, stage, change_id, now, None
                )
        for deal, change_id in _overdue(stage, "head", now - limit - timedelta(hours=extra)):
            if change_id is None or not _claim(change_id, "head", now):
                continue
            head = team_head(deal.owner_id)
            if head is not None and head != deal.owner_id:
                sent["head"] += _tell(
                    "sales.stage_overdue_escalated", head, deal, stage, change_id, now, deal.owner
                )
    return sent


def _tell(
    event: str, user_id: int, deal: Deal, stage: Stage, change_id: int, now: datetime, owner: Any
) -> int:
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        return 0
    hours = _hours(deal.stage_entered_at, now)
    with force_locale(user.locale):
        if owner is None:
            subject = _("Deal stuck at %(stage)s: %(title)s", stage=stage.name, title=deal.title)
        else:
            subject = _(
                "Deal of %(owner)s stuck at %(stage)s: %(title)s",
                owner=owner.name if owner else "",
                stage=stage.name,
                title=deal.title,
            )
        body = _(
            "The deal has been at %(stage)s for %(hours)s hours; the target is %(target)s.",
            stage=stage.name,
            hours=hours,
            target=stage.target_hours,
        )
    return len(
        notify(
            event,
            [user_id],
            subject,
            body,
            url=deal_url(deal),
            record=("sales.deal", deal.id),
            key=f"{event}:{change_id}",
        )
    )
