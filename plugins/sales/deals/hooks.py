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
)
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
    ("deal_stage"), newest first, within the user's deal scope."""
    if not user.has_permission("sales.view"):
        return []
    out: list[TimelineItem] = []
    if kinds is None or "deal" in kinds:
        query = services.scoped(
            sa.select(Deal.id, Deal.title, Deal.created_at, Deal.amount, Deal.currency, User.name)
            .outerjoin(User, User.id == Deal.created_by_id)
            .where(Deal.client_id == client.id)
            .order_by(Deal.created_at.desc(), Deal.id.desc())
            .limit(limit),
            user,
        )
        if before is not None:
            query = query.where(before.older(Deal.created_at, Deal.id, "deal"))
        for deal_id, title, at, amount, currency, actor in db.session.execute(query):
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
    if kinds is None or "deal_stage" in kinds:
        to_stage, from_stage = _TO_STAGE, _FROM_STAGE
        query = services.scoped(
            sa.select(StageChange, Deal.title, from_stage.name, to_stage.name, User.name)
            .join(Deal, Deal.id == StageChange.deal_id)
            .join(to_stage, to_stage.id == StageChange.to_stage_id)
            .join(from_stage, from_stage.id == StageChange.from_stage_id)
            .outerjoin(User, User.id == StageChange.by_id)
            .where(Deal.client_id == client.id)
            .order_by(StageChange.at.desc(), StageChange.id.desc())
            .limit(limit),
            user,
        )
        if before is not None:
            query = query.where(before.older(StageChange.at, StageChange.id, "deal_stage"))
        for change, title, old, new, actor in db.session.execute(query):
            out.append(
                TimelineItem(
                    kind="deal_stage",
                    at=change.at,
                    id=change.id,
                    title=_("%(title)s: %(old)s → %(new)s", title=title, old=old, new=new),
                    body=change.note,
                    url=url_for("sales_deals.card", deal_id=change.deal_id),
                    label=_("Deal stage"),
                    icon="➜",
                    weight=111,
                    actor=actor or "",
                )
            )
    return out


def plugin_enabled(name: str) -> None:
    if name == "sales":
        from plugins.sales.deals.pipelines import ensure_default_pipeline

        ensure_default_pipeline()
