"""Creating, changing and moving deals; their lines and totals; who sees which deal.

One implementation behind the board, the card, the API, web forms and stage automation.
Input arrives as plain dicts; a bad field raises ``ValidationFailed`` naming it and
nothing is changed. Every entry into a stage (creation included) is recorded as a
``StageChange`` and announced through ``events.stage_entered`` after the commit.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from core import records, security
from core.clients.models import Client, ContactPerson
from core.clients.normalise import name_key
from core.db import db, utcnow
from core.users.models import User
from core.users.services import ValidationFailed
from plugins.sales import events
from plugins.sales.models import Deal, DealLine, LostReason, Pipeline, Product, Stage, StageChange

SCOPE_AREA = "sales.deals"
CENT = Decimal("0.01")
HUNDRED = Decimal(100)
MAX_MONEY = Decimal("999999999999.99")
MAX_QUANTITY = Decimal("99999999999.999")
MAX_LINES = 200


class StaleDeal(ValidationFailed):
    """The deal changed since the caller read it (their ``version`` is old)."""

    def __init__(self, deal: Deal) -> None:
        super().__init__(
            {
                "version": [
                    _(
                        "Someone changed this deal meanwhile (version %(v)s); reload it and "
                        "apply your change again.",
                        v=deal.version,
                    )
                ]
            },
            status=409,
        )


# --- who sees what ----------------------------------------------------------------------


def scoped(query: sa.Select, user: Any) -> sa.Select:
    """Limit ``query`` (over Deal) to the deals ``user`` may see: the "sales.deals" area,
    by the deal's owner (own, team or all). Every list, board, search, export, panel and
    API route goes through here."""
    return security.scoped(query, user, SCOPE_AREA, Deal.owner_id)


def visible(deal_id: int, user: Any) -> Deal | None:
    return db.session.execute(scoped(sa.select(Deal).where(Deal.id == deal_id), user)).scalar()


def resolve_deals(ids: list[int], user: Any) -> dict[int, tuple[str, str]]:
    """``RecordType.resolve`` for "sales.deal": the deals among ``ids`` ``user`` may see
    (none without ``sales.view``)."""
    from flask import url_for

    if not user.has_permission("sales.view"):
        return {}

    query = scoped(sa.select(Deal.id, Deal.title).where(Deal.id.in_(ids)), user)
    return {
        deal_id: (title, url_for("sales_deals.card", deal_id=deal_id))
        for deal_id, title in db.session.execute(query)
    }


def title_starts(text: str) -> Any:
    """A condition: the deal's title starts with ``text`` (case- and accent-insensitive),
    answered from the ``title_key`` index (a range on SQLite's binary order, LIKE with the
    index's pattern operators on PostgreSQL, whose collations ignore U+10FFFF)."""
    key = name_key(text)
    if db.engine.dialect.name == "sqlite":
        return sa.and_(Deal.title_key >= key, Deal.title_key < key + "\U0010ffff")
    return Deal.title_key.startswith(key, autoescape=True)


# --- numbers -----------------------------------------------------------------------------


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_totals(
    quantity: Decimal, price: Decimal, discount_percent: Decimal, vat_rate: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """(net, VAT, total) of a line: net = quantity x price less the discount, VAT on the
    rounded net; each rounded to cents, half up."""
    net = cents(quantity * price * (HUNDRED - discount_percent) / HUNDRED)
    vat = cents(net * vat_rate / HUNDRED)
    return net, vat, net + vat


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, str):
        value = value.strip().replace(",", ".").replace(" ", "")
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    return number if number.is_finite() else None


@cache
def currencies() -> frozenset[str]:
    """ISO 4217 codes: the catalog's list, so a deal takes what a product takes."""
    from plugins.sales.catalog.services import CURRENCIES

    return CURRENCIES


def default_currency() -> str:
    from core.settings.services import get

    try:
        value = get("sales.currency")
    except Exception:  # noqa: BLE001 - an unreadable setting falls back to the default
        value = None
    return value if value in currencies() else "EUR"


def _id(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        return None
    return value


# --- checking input ----------------------------------------------------------------------

TEXT_FIELDS = {"title": 300, "source": 40, "campaign": 200, "notes": 20_000}
EDITABLE = (
    "title",
    "client_id",
    "contact_person_id",
    "owner_id",
    "amount",
    "currency",
    "expected_close_on",
    "source",
    "campaign",
    "utm",
    "notes",
    "lines",
)


def _clean(data: dict[str, Any], deal: Deal | None, actor: Any) -> dict[str, Any]:
    """Check every field of ``data``; return values ready to set. Raises ValidationFailed."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    creating = deal is None
    for field, limit in TEXT_FIELDS.items():
        if field not in data and not (creating and field == "title"):
            continue
        raw = data.get(field)
        if raw is not None and not isinstance(raw, str):
            errors[field] = [_("Enter text.")]
            continue
        text = (raw or "").strip()
        if field == "title" and not text:
            errors[field] = [_("Enter a title.")]
        elif len(text) > limit:
            errors[field] = [_("At most %(n)s characters.", n=limit)]
        out[field] = text if (text or field in ("title", "notes")) else None
    client_id = deal.client_id if deal is not None else None
    if "client_id" in data or creating:
        client = _client(data.get("client_id"), actor)
        if client is None:
            errors["client_id"] = [_("Choose a client you can see.")]
        else:
            client_id = out["client_id"] = client.id
    if (
        "contact_person_id" not in data
        and deal is not None
        and out.get("client_id")
        not in (
            None,
            deal.client_id,
        )
    ):
        out["contact_person_id"] = None  # the old client's contact goes with the old client
    if "contact_person_id" in data:
        raw = data.get("contact_person_id")
        if raw in (None, ""):
            out["contact_person_id"] = None
        else:
            contact = db.session.get(ContactPerson, _id(raw)) if _id(raw) else None
            if contact is None or contact.client_id != client_id:
                errors["contact_person_id"] = [_("Choose a contact person of this client.")]
            else:
                out["contact_person_id"] = contact.id
    if "owner_id" in data or creating:
        raw = data.get("owner_id", getattr(actor, "id", None) if creating else None)
        if raw in (None, "") and creating and actor is None:
            out["owner_id"] = None
        else:
            owner = db.session.get(User, _id(raw)) if _id(raw) else None
            if owner is None or not owner.active:
                errors["owner_id"] = [_("Choose an active user.")]
            else:
                out["owner_id"] = owner.id
    if "currency" in data or creating:
        raw = data.get("currency") or (default_currency() if creating else None)
        code = raw.strip().upper() if isinstance(raw, str) else None
        if code not in currencies():
            errors["currency"] = [_("Enter an ISO 4217 currency code, such as EUR or MDL.")]
        out["currency"] = code
    if "amount" in data:
        amount = _decimal(data["amount"]) if data["amount"] not in (None, "") else Decimal(0)
        if amount is None:
            errors["amount"] = [_("Enter a number.")]
        elif amount < 0 or amount > MAX_MONEY:
            errors["amount"] = [_("Enter an amount from 0 to 999,999,999,999.99.")]
        else:
            out["amount"] = cents(amount)
    if "expected_close_on" in data:
        raw = data["expected_close_on"]
        if raw in (None, ""):
            out["expected_close_on"] = None
        elif isinstance(raw, date):
            out["expected_close_on"] = raw
        else:
            try:
                out["expected_close_on"] = date.fromisoformat(str(raw).strip())
            except ValueError:
                errors["expected_close_on"] = [_("Enter a date as YYYY-MM-DD.")]
    if "utm" in data:
        utm = data["utm"] or {}
        if not isinstance(utm, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 40 and len(v) <= 200
            for k, v in utm.items()
        ):
            errors["utm"] = [_("Give UTM tags as names and texts (utm_source: ...).")]
        else:
            out["utm"] = dict(utm)
    if "lines" in data:
        out["lines"] = _clean_lines(data["lines"], errors)
    if errors:
        raise ValidationFailed(errors)
    return out


def _client(raw: Any, actor: Any) -> Client | None:
    client_id = _id(raw)
    if client_id is None:
        return None
    query = sa.select(Client).where(Client.id == client_id, Client.deleted_at.is_(None))
    if actor is not None:
        query = security.scoped(query, actor, "clients", Client.owner_id)
    return db.session.execute(query).scalar()


def _clean_lines(raw: Any, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or len(raw) > MAX_LINES:
        errors["lines"] = [_("Give at most %(n)s lines.", n=MAX_LINES)]
        return []
    product_ids = {_id(line.get("product_id")) for line in raw if isinstance(line, dict)}
    product_ids.discard(None)
    products = (
        {
            p.id: p
            for p in db.session.execute(
                sa.select(Product).where(Product.id.in_(product_ids))
            ).scalars()
        }
        if product_ids
        else {}
    )
    out = []
    for index, line in enumerate(raw):
        prefix = f"lines.{index}."
        if not isinstance(line, dict):
            errors[f"lines.{index}"] = [_("Give a line as fields.")]
            continue
        product = None
        if line.get("product_id") not in (None, ""):
            product = products.get(_id(line.get("product_id")))
            if product is None:
                errors[prefix + "product_id"] = [_("Choose a product of the catalog.")]
                continue
        name = line.get("name")
        name = name.strip() if isinstance(name, str) else ""
        name = name or (product.name if product else "")
        if not name:
            errors[prefix + "name"] = [_("Enter a name or choose a product.")]
        elif len(name) > 300:
            errors[prefix + "name"] = [_("At most %(n)s characters.", n=300)]
        unit = line.get("unit")
        unit = (unit.strip() if isinstance(unit, str) else "") or (product.unit if product else "")
        if len(unit) > 20:
            errors[prefix + "unit"] = [_("At most %(n)s characters.", n=20)]
        values = {}
        defaults = {
            "quantity": Decimal(1),
            "price": product.price if product else None,
            "discount_percent": Decimal(0),
            "vat_rate": product.vat_rate if product else Decimal(0),
        }
        for field, default in defaults.items():
            raw_value = line.get(field)
            value = default if raw_value in (None, "") else _decimal(raw_value)
            if value is None:
                errors[prefix + field] = [_("Enter a number.")]
            elif field == "quantity" and not 0 < value <= MAX_QUANTITY:
                errors[prefix + field] = [_("Enter a quantity above zero.")]
            elif field == "price" and not 0 <= value <= MAX_MONEY:
                errors[prefix + field] = [_("Enter a price of zero or more.")]
            elif field in ("discount_percent", "vat_rate") and not 0 <= value <= HUNDRED:
                errors[prefix + field] = [_("Enter a percent from 0 to 100.")]
            values[field] = value
        if any(key.startswith(prefix) for key in errors):
            continue
        values["quantity"] = values["quantity"].quantize(Decimal("0.001"), ROUND_HALF_UP)
        values["price"] = cents(values["price"])
        for field in ("discount_percent", "vat_rate"):
            values[field] = cents(values[field])
        net, vat, total = line_totals(**values)
        out.append(
            {
                "product_id": product.id if product else None,
                "position": index,
                "name": name,
                "unit": unit or "pcs",
                **values,
                "net_amount": net,
                "vat_amount": vat,
                "total_amount": total,
            }
        )
    return out


def _apply(deal: Deal, values: dict[str, Any]) -> None:
    lines = values.pop("lines", None)
    for key, value in values.items():
        if getattr(deal, key) != value:
            setattr(deal, key, value)
    if "title" in values:
        deal.title_key = name_key(deal.title)
    if lines is not None:
        deal.lines = [DealLine(**line) for line in lines]
    if deal.lines:
        total = sum((line.total_amount for line in deal.lines), Decimal(0))
        if deal.amount != total:
            deal.amount = total


def totals(deal: Deal) -> dict[str, Decimal]:
    """Net, VAT and total of a deal's lines."""
    return {
        "net": sum((line.net_amount for line in deal.lines), Decimal(0)),
        "vat": sum((line.vat_amount for line in deal.lines), Decimal(0)),
        "total": sum((line.total_amount for line in deal.lines), Decimal(0)),
    }


# --- stages ------------------------------------------------------------------------------


def lost_reason_or_error(reason_id: Any) -> LostReason:
    reason = db.session.get(LostReason, _id(reason_id)) if _id(reason_id) else None
    if reason is None or not reason.active:
        raise ValidationFailed({"lost_reason_id": [_("Choose why the deal is lost.")]})
    return reason


def enter_stage(
    deal: Deal, stage: Stage, actor: Any, reason: LostReason | None, note: str
) -> StageChange:
    """Put ``deal`` into ``stage`` and record it (not committed; the caller commits and
    then calls ``events.stage_entered``)."""
    now = utcnow()
    from_stage_id = deal.stage_id if deal.id is not None else None
    old_kind = deal.stage.kind if from_stage_id is not None else None
    deal.pipeline_id = stage.pipeline_id
    deal.stage_id = stage.id
    deal.stage = stage
    deal.stage_entered_at = now
    if stage.kind == "open":
        deal.closed_at = None
    elif old_kind != stage.kind:
        deal.closed_at = now
    if stage.kind == "lost":
        deal.lost_reason_id = reason.id if reason else None
        deal.lost_note = note
    elif deal.lost_reason_id is not None:
        deal.lost_reason_id = None
        deal.lost_note = ""
    if deal.id is None:
        db.session.add(deal)
    db.session.flush()
    change = StageChange(
        deal_id=deal.id,
        pipeline_id=stage.pipeline_id,
        from_stage_id=from_stage_id,
        to_stage_id=stage.id,
        at=now,
        by_id=getattr(actor, "id", None),
        note=note,
    )
    db.session.add(change)
    return change


def _stage_for(pipeline_id: Any, stage_id: Any) -> tuple[Stage | None, dict[str, list[str]]]:
    """The stage a new deal starts in: ``stage_id`` of ``pipeline_id``, or the pipeline's
    first stage; the first active pipeline when none is named."""
    from plugins.sales.deals.pipelines import live_stages, pipelines

    pipeline = None
    if pipeline_id not in (None, ""):
        pipeline = db.session.get(Pipeline, _id(pipeline_id)) if _id(pipeline_id) else None
        if pipeline is None or not pipeline.active:
            return None, {"pipeline_id": [_("Choose an active pipeline.")]}
    elif stage_id in (None, ""):
        active = pipelines(active_only=True)
        pipeline = active[0] if active else None
        if pipeline is None:
            return None, {"pipeline_id": [_("Create a pipeline first.")]}
    if stage_id not in (None, ""):
        stage = db.session.get(Stage, _id(stage_id)) if _id(stage_id) else None
        if (
            stage is None
            or stage.removed_at is not None
            or (pipeline is not None and stage.pipeline_id != pipeline.id)
            or not stage.pipeline.active
        ):
            return None, {"stage_id": [_("Choose a stage of the deal's pipeline.")]}
        return stage, {}
    stages = live_stages(pipeline.id)
    if not stages:
        return None, {"pipeline_id": [_("This pipeline has no stages.")]}
    return stages[0], {}


def create_deal(data: dict[str, Any], actor: Any) -> Deal:
    """A new deal in ``data["stage_id"]`` (or the first stage of ``data["pipeline_id"]``,
    or of the first pipeline), owned by ``data["owner_id"]`` or ``actor``. ``actor`` may be
    None for deals made by the system (web forms): then no client scope applies."""
    errors: dict[str, list[str]] = {}
    try:
        values = _clean({k: v for k, v in data.items() if k in EDITABLE}, None, actor)
    except ValidationFailed as exc:
        errors.update(exc.errors)
        values = {}
    stage, stage_errors = _stage_for(data.get("pipeline_id"), data.get("stage_id"))
    errors.update(stage_errors)
    reason = None
    if stage is not None and stage.kind == "lost":
        try:
            reason = lost_reason_or_error(data.get("lost_reason_id"))
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    deal = Deal(amount=Decimal(0), utm={}, notes="", lost_note="", lines=[])
    _apply(deal, values)
    change = enter_stage(deal, stage, actor, reason, "")
    db.session.commit()
    _tell_owner(deal, None, actor)
    events.stage_entered(deal, change, actor)
    return deal


def update_deal(deal: Deal, data: dict[str, Any], actor: Any) -> Deal:
    """Change the fields of ``data`` (not the stage: see ``move_deal``). With ``version``
    in ``data``, a deal changed since that version is refused (409)."""
    if "version" in data and data["version"] != deal.version:
        raise StaleDeal(deal)
    values = _clean({k: v for k, v in data.items() if k in EDITABLE}, deal, actor)
    old_owner = deal.owner_id
    _apply(deal, values)
    db.session.commit()
    if deal.owner_id != old_owner:
        _tell_owner(deal, old_owner, actor)
    return deal


def move_deal(
    deal: Deal,
    stage_id: Any,
    actor: Any,
    lost_reason_id: Any = None,
    note: str = "",
    version: int | None = None,
) -> StageChange | None:
    """Move ``deal`` to another stage of its pipeline and record who and when. A lost stage
    needs a lost reason; won and lost stages set ``closed_at``, open ones clear it. Returns
    the stage change, or None when the deal is in that stage already."""
    if version is not None and version != deal.version:
        raise StaleDeal(deal)
    stage = db.session.get(Stage, _id(stage_id)) if _id(stage_id) else None
    if stage is None or stage.removed_at is not None or stage.pipeline_id != deal.pipeline_id:
        raise ValidationFailed({"stage_id": [_("Choose a stage of the deal's pipeline.")]})
    note = (note or "").strip() if isinstance(note, str) else ""
    if len(note) > 2000:
        raise ValidationFailed({"note": [_("At most %(n)s characters.", n=2000)]})
    if stage.id == deal.stage_id:
        return None
    reason = lost_reason_or_error(lost_reason_id) if stage.kind == "lost" else None
    change = enter_stage(deal, stage, actor, reason, note)
    db.session.commit()
    events.stage_entered(deal, change, actor)
    return change


def delete_deal(deal: Deal) -> None:
    """Delete a deal for good, with its lines, stage history, comments and files (its tasks
    go to its client); refused (409) while it has invoices: they are kept for the accounts
    (the deal can be moved to a lost stage instead)."""
    from plugins.sales.invoices.models import Invoice

    invoices = db.session.execute(
        sa.select(sa.func.count()).where(Invoice.deal_id == deal.id)
    ).scalar_one()
    if invoices:
        raise ValidationFailed(
            {
                "deal": [
                    _(
                        "The deal has invoices (%(count)s), which are kept for the accounts: "
                        "it cannot be deleted. Move it to a lost stage instead.",
                        count=invoices,
                    )
                ]
            },
            status=409,
        )
    files = records.forget("sales.deal", deal.id, move_tasks_to=("client", deal.client_id))
    db.session.delete(deal)
    db.session.commit()
    for path in files:
        path.unlink(missing_ok=True)


def _tell_owner(deal: Deal, old_owner: int | None, actor: Any) -> None:
    """Tell the new owner when someone else hands them a deal."""
    from flask import has_request_context, url_for

    from core.notifications import notify

    if deal.owner_id is None or deal.owner_id == getattr(actor, "id", None):
        return
    notify(
        "sales.deal_assigned",
        [deal.owner_id],
        _("Deal assigned to you: %(title)s", title=deal.title),
        deal.title,
        url=url_for("sales_deals.card", deal_id=deal.id) if has_request_context() else None,
        record=("sales.deal", deal.id),
    )


_BY = sa.orm.aliased(User, name="by_user")


def history(deal: Deal) -> list[dict[str, Any]]:
    """Every entry of ``deal`` into a stage, newest first, with stage and user names."""
    by = _BY
    rows = db.session.execute(
        sa.select(StageChange, by.name)
        .outerjoin(by, by.id == StageChange.by_id)
        .where(StageChange.deal_id == deal.id)
        .order_by(StageChange.at.desc(), StageChange.id.desc())
    ).all()
    from plugins.sales.deals.pipelines import history_stage_names

    names = history_stage_names(
        {c.to_stage_id for c, _n in rows} | {c.from_stage_id for c, _n in rows if c.from_stage_id}
    )
    return [
        {
            "id": change.id,
            "at": change.at,
            "by_id": change.by_id,
            "by": by_name or "",
            "from_stage_id": change.from_stage_id,
            "from_stage": names.get(change.from_stage_id, ""),
            "to_stage_id": change.to_stage_id,
            "to_stage": names.get(change.to_stage_id, ""),
            "note": change.note,
        }
        for change, by_name in rows
    ]
