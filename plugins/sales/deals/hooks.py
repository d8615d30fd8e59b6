"""What the deals part of the sales plugin contributes through core's hooks; the plugin
object (plugins/sales/plugin.py) gathers these."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.clients.normalise import name_key
from core.db import db
from core.plugin_system.types import (
    CardPanel,
    MenuItem,
    NotificationEvent,
    Permission,
    RecordType,
    SearchResult,
    SettingDefinition,
    TimelineItem,
    TimelineSource,
)
from core.reads import Read
from core.users.models import User
from plugins.sales.deals import services
from plugins.sales.models import Deal, Stage, StageChange


def permissions() -> list[Permission]:
    return [
        Permission("sales.deals.edit", _l("Create, edit and move deals")),
        Permission("sales.deals.delete", _l("Delete deals")),
        Permission("sales.deals.export", _l("Export deal lists to CSV and XLSX")),
        Permission("sales.admin", _l("Edit pipelines, stages and lost reasons")),
    ]


def blueprints() -> list[Any]:
    from plugins.sales.deals.admin import bp as admin_bp
    from plugins.sales.deals.views import bp

    return [bp, admin_bp]


def api_blueprints() -> list[Any]:
    from plugins.sales.deals.api import blp

    return [blp]


def menu_items() -> list[MenuItem]:
    return [
        MenuItem(_l("Deals"), "sales_deals.board", "sales.view", weight=110),
        MenuItem(_l("Deal list"), "sales_deals.index", "sales.view", weight=111),
        MenuItem(_l("Pipelines"), "sales_pipelines.index", "sales.admin", 110, "admin"),
        MenuItem(_l("Lost reasons"), "sales_pipelines.lost_reasons", "sales.admin", 111, "admin"),
    ]


def settings() -> list[SettingDefinition]:
    return [
        SettingDefinition(
            "sales.currency",
            _l("Currency of new deals"),
            default="EUR",
            help=_l("An ISO 4217 code, such as EUR, USD or MDL."),
            max_length=3,
        )
    ]


def notification_events() -> list[NotificationEvent]:
    return [
        NotificationEvent("sales.deal_assigned", _l("A deal is assigned to me"), ("in_app",)),
    ]


def client_card_panels() -> list[CardPanel]:
    from plugins.sales.deals.views import render_client_deals_panel

    return [CardPanel("sales.deals", _l("Deals"), render_client_deals_panel, "sales.view", 100)]


def record_types() -> list[RecordType]:
    return [RecordType("sales.deal", _l("Deal"), services.resolve_deals)]


def search(user: Any, query: str, limit: int) -> list[SearchResult]:
    """Deals the user may see whose title starts with ``query`` (an indexed prefix)."""
    if not user.has_permission("sales.view"):
        return []
    key = name_key(query)
    if not key:
        return []
    rows = db.session.execute(
        services.scoped(
            sa.select(Deal.id, Deal.title, Deal.amount, Deal.currency, Stage.name)
            .join(Stage, Stage.id == Deal.stage_id)
            .where(services.title_starts(key))
            .order_by(Deal.title_key, Deal.id)
            .limit(limit),
            user,
        )
    ).all()
    return [
        SearchResult(
            kind="deal",
            title=title,
            url=url_for("sales_deals.card", deal_id=deal_id),
            subtitle=f"{stage} · {amount:,.2f} {currency}",
            weight=20,
            group=_("Deals"),
        )
        for deal_id, title, amount, currency, stage in rows
    ]


# Made once: an alias built per call costs its column proxies and a new cache key each time.
_TO_STAGE = sa.orm.aliased(Stage, name="to_stage")
_FROM_STAGE = sa.orm.aliased(Stage, name="from_stage")


def timeline_items(client: Any, user: Any, kinds: Any, before: Any, limit: int) -> list:
    """The client's deals (kind "deal", when created) and their later stage changes
    ("deal_stage"), newest first, within the user's deal scope: read with the rest of the
    timeline, in one statement."""
    if not user.has_permission("sales.view"):
        return []
    reads = {}
    if kinds is None or "deal" in kinds:
        query = services.scoped(
            sa.select(
                Deal.id,
                Deal.title,
                Deal.created_at,
                Deal.amount,
                Deal.currency,
                User.name.label("actor"),
            )
            .outerjoin(User, User.id == Deal.created_by_id)
            .where(Deal.client_id == client.id),
            user,
        )
        if before is not None:
            query = query.where(before.older(Deal.created_at, Deal.id, "deal"))
        newest = (Deal.created_at.desc(), Deal.id.desc())
        reads["deals"] = Read(query, order_by=newest, limit=limit, ordered=False)
    if kinds is None or "deal_stage" in kinds:
        to_stage, from_stage = _TO_STAGE, _FROM_STAGE
        query = services.scoped(
            sa.select(
                StageChange.id,
                StageChange.deal_id,
                StageChange.at,
                StageChange.note,
                Deal.title,
                from_stage.name.label("old"),
                to_stage.name.label("new"),
                User.name.label("actor"),
            )
            .join(Deal, Deal.id == StageChange.deal_id)
            .join(to_stage, to_stage.id == StageChange.to_stage_id)
            .join(from_stage, from_stage.id == StageChange.from_stage_id)
            .outerjoin(User, User.id == StageChange.by_id)
            .where(Deal.client_id == client.id),
            user,
        )
        if before is not None:
            query = query.where(before.older(StageChange.at, StageChange.id, "deal_stage"))
        newest = (StageChange.at.desc(), StageChange.id.desc())
        reads["stage_changes"] = Read(query, order_by=newest, limit=limit, ordered=False)
    return [TimelineSource(reads, _timeline)] if reads else []


def _timeline(rows: Any) -> list[TimelineItem]:
    out: list[TimelineItem] = []
    for deal_id, title, at, amount, currency, actor in rows.get("deals", ()):
        out.append(
            TimelineItem(
                kind="deal",
                at=at,
                id=deal_id,
                title=_("Deal created: %(title)s", title=title),
                body=f"{amount:,.2f} {currency}",
                url=url_for("sales_deals.card", deal_id=deal_id),
                label=_("Deal"),
                icon="💼",
                weight=110,
                actor=actor or "",
            )
        )
    for change in rows.get("stage_changes", ()):
        out.append(
            TimelineItem(
                kind="deal_stage",
                at=change.at,
                id=change.id,
                title=_(
                    "%(title)s: %(old)s → %(new)s",
                    title=change.title,
                    old=change.old,
                    new=change.new,
                ),
                body=change.note,
                url=url_for("sales_deals.card", deal_id=change.deal_id),
                label=_("Deal stage"),
                icon="➜",
                weight=111,
                actor=change.actor or "",
            )
        )
    return out


def plugin_enabled(name: str) -> None:
    if name == "sales":
        from plugins.sales.deals.pipelines import ensure_default_pipeline

        ensure_default_pipeline()
