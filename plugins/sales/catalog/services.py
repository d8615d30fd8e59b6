"""Products, product groups and price lists: checking, saving, deleting, and the price of a
product on a date.

One implementation behind the web forms, the API, the import and other parts of the plugin
(deal lines take their prices from ``price_for``). Input arrives as plain dicts (strings
from forms, typed values from the API); every bad field raises ``ValidationFailed`` naming
it, and nothing is changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from babel.numbers import list_currencies
from flask_babel import gettext as _

from core.db import db
from core.users.services import ValidationFailed
from plugins.sales.catalog.models import PriceList, PriceListItem
from plugins.sales.models import DealLine, Product, ProductGroup, sku_key

# ISO 4217 codes as CLDR knows them (current and historic), without the codes ISO sets
# aside for testing (XTS) and for "no currency" (XXX) — real codes, not placeholders.
CURRENCIES = frozenset(list_currencies()) - {"XXX", "XTS"}
KINDS = ("product", "service")
MAX_PRICE = Decimal("999999999999.99")  # Numeric(14, 2)
DEFAULT_CURRENCY = "EUR"
TRUE_WORDS = {"1", "yes", "y", "true", "on", "да", "ja", "da", "active", "x", "+"}
FALSE_WORDS = {"0", "no", "n", "false", "off", "нет", "nein", "nu", "inactive", "-", ""}


# --- parsing single values (shared with the import) ---------------------------------------


def parse_decimal(value: Any) -> Decimal:
    """A number as typed by people and spreadsheets: "1 234,50", "1234.5", 12.5. ValueError."""
    if isinstance(value, bool):
        raise ValueError("not a number")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | float):
        number = Decimal(str(value))
    else:
        text = str(value or "").strip().replace("\u00a0", "").replace(" ", "").replace("%", "")
        if "," in text and "." in text:
            text = text.replace(",", "") if text.rfind(".") > text.rfind(",") else text
            text = text.replace(".", "").replace(",", ".") if "," in text else text
        else:
            text = text.replace(",", ".")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError("not a number") from None
    if not number.is_finite():
        raise ValueError("not a number")
    return number


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().casefold()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError("not yes or no")


def check_price(value: Any, errors: dict, field: str = "price") -> Decimal | None:
    try:
        price = parse_decimal(value)
    except ValueError:
        errors[field] = [_("Enter a number, e.g. 1250.00.")]
        return None
    if price < 0:
        errors[field] = [_("The price cannot be negative.")]
    elif price > MAX_PRICE:
        errors[field] = [_("The price is too large.")]
    elif price != price.quantize(Decimal("0.01")):
        errors[field] = [_("At most two decimal places.")]
    else:
        return price.quantize(Decimal("0.01"))
    return None


def check_currency(value: Any, errors: dict, field: str = "currency") -> str | None:
    code = str(value or "").strip().upper()
    if code not in CURRENCIES:
        errors[field] = [_("Enter an ISO 4217 currency code, e.g. EUR, USD, MDL.")]
        return None
    return code


def check_vat(value: Any, errors: dict, field: str = "vat_rate") -> Decimal | None:
    try:
        rate = parse_decimal(value)
    except ValueError:
        errors[field] = [_("Enter a percentage between 0 and 100.")]
        return None
    if not Decimal(0) <= rate <= Decimal(100):
        errors[field] = [_("Enter a percentage between 0 and 100.")]
        return None
    if rate != rate.quantize(Decimal("0.01")):
        errors[field] = [_("At most two decimal places.")]
        return None
    return rate.quantize(Decimal("0.01"))


def _text(data: dict, name: str, limit: int, errors: dict, required: bool = False) -> str:
    value = data.get(name)
    text = "" if value is None else str(value).strip()
    if required and not text:
        errors[name] = [_("This field is required.")]
    elif len(text) > limit:
        errors[name] = [_("At most %(n)s characters.", n=limit)]
    return text


def _id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value < 2**63 else None
    text = str(value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


# --- products -----------------------------------------------------------------------------


def find_by_sku(sku: str | None, exclude_id: int | None = None) -> Product | None:
    key = sku_key(sku)
    if key is None:
        return None
    query = sa.select(Product).where(Product.sku_key == key)
    if exclude_id is not None:
        query = query.where(Product.id != exclude_id)
    return db.session.execute(query).scalar()


def clean_product(data: dict[str, Any], product: Product | None = None) -> dict[str, Any]:
    """Check the fields present in ``data`` (all required ones when creating)."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    creating = product is None
    if "name" in data or creating:
        out["name"] = _text(data, "name", 300, errors, required=True)
    if "sku" in data:
        sku = _text(data, "sku", 64, errors)
        if "sku" not in errors:
            taken = find_by_sku(sku, product.id if product else None)
            if taken is not None:
                errors["sku"] = [
                    _("The SKU %(sku)s is taken by %(name)s.", sku=taken.sku, name=taken.name)
                ]
            out["sku"] = sku or None
    if "kind" in data or creating:
        kind = str(data.get("kind") or "product").strip()
        if kind not in KINDS:
            errors["kind"] = [_("Choose one of: %(c)s.", c=", ".join(KINDS))]
        out["kind"] = kind
    if "group_id" in data:
        raw = data.get("group_id")
        if raw in (None, ""):
            out["group_id"] = None
        else:
            group_id = _id(raw)
            if group_id is None or db.session.get(ProductGroup, group_id) is None:
                errors["group_id"] = [_("Choose an existing product group.")]
            out["group_id"] = group_id
    if "unit" in data or creating:
        out["unit"] = _text(data, "unit", 20, errors) or "pcs"
    if "price" in data or creating:
        out["price"] = check_price(data.get("price", "0"), errors)
    if "currency" in data or creating:
        out["currency"] = check_currency(data.get("currency") or DEFAULT_CURRENCY, errors)
    if "vat_rate" in data or creating:
        out["vat_rate"] = check_vat(data.get("vat_rate", "0"), errors)
    if "active" in data:
        try:
            out["active"] = parse_bool(data["active"])
        except ValueError:
            errors["active"] = [_("Enter yes or no.")]
    if "description" in data:
        out["description"] = _text(data, "description", 20_000, errors)
    if errors:
        raise ValidationFailed(errors)
    return out


def create_product(data: dict[str, Any]) -> Product:
    values = clean_product(data)
    product = Product(**values)
    db.session.add(product)
    db.session.commit()
    return product


def update_product(product: Product, data: dict[str, Any]) -> Product:
    values = clean_product(data, product)
    for key, value in values.items():
        setattr(product, key, value)
    db.session.commit()
    return product


def used_by_deals(product_id: int) -> bool:
    return (
        db.session.execute(
            sa.select(DealLine.id).where(DealLine.product_id == product_id).limit(1)
        ).first()
        is not None
    )


def delete_product(product: Product) -> str:
    """Delete a product no deal line refers to; deactivate one that is used (deals keep
    their lines). Returns "deleted" or "deactivated"."""
    if used_by_deals(product.id):
        product.active = False
        db.session.commit()
        return "deactivated"
    db.session.delete(product)
    db.session.commit()
    return "deleted"


# --- groups -------------------------------------------------------------------------------


def group_paths() -> dict[int, str]:
    """Every group's full path ("Windows / PVC"), by id: one query for the whole tree."""
    rows = db.session.execute(
        sa.select(ProductGroup.id, ProductGroup.name, ProductGroup.parent_id)
    ).all()
    parents = {r.id: r.parent_id for r in rows}
    names = {r.id: r.name for r in rows}
    out: dict[int, str] = {}
    for group_id in names:
        parts, seen, current = [], set(), group_id
        while current is not None and current not in seen:
            seen.add(current)
            parts.append(names[current])
            current = parents.get(current)
        out[group_id] = " / ".join(reversed(parts))
    return out


def descendants(group_id: int) -> set[int]:
    """The group and every group below it."""
    rows = db.session.execute(sa.select(ProductGroup.id, ProductGroup.parent_id)).all()
    children: dict[int | None, list[int]] = {}
    for gid, parent in rows:
        children.setdefault(parent, []).append(gid)
    found, stack = {group_id}, [group_id]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def clean_group(data: dict[str, Any], group: ProductGroup | None = None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    if "name" in data or group is None:
        name = _text(data, "name", 200, errors, required=True)
        if name and "name" not in errors:
            query = sa.select(ProductGroup.id).where(
                sa.func.lower(ProductGroup.name) == name.lower()
            )
            if group is not None:
                query = query.where(ProductGroup.id != group.id)
            if db.session.execute(query).first() is not None:
                errors["name"] = [_("A group with this name exists.")]
        out["name"] = name
    if "parent_id" in data:
        raw = data.get("parent_id")
        if raw in (None, ""):
            out["parent_id"] = None
        else:
            parent_id = _id(raw)
            if parent_id is None or db.session.get(ProductGroup, parent_id) is None:
                errors["parent_id"] = [_("Choose an existing product group.")]
            elif group is not None and parent_id in descendants(group.id):
                errors["parent_id"] = [
                    _("A group cannot be placed inside itself or one of its subgroups.")
                ]
            out["parent_id"] = parent_id
    if errors:
        raise ValidationFailed(errors)
    return out


def create_group(data: dict[str, Any]) -> ProductGroup:
    group = ProductGroup(**clean_group(data))
    db.session.add(group)
    db.session.commit()
    return group


def update_group(group: ProductGroup, data: dict[str, Any]) -> ProductGroup:
    for key, value in clean_group(data, group).items():
        setattr(group, key, value)
    db.session.commit()
    return group


def delete_group(group: ProductGroup) -> None:
    """Delete a group; its subgroups move up to its parent, its products keep no group."""
    db.session.execute(
        sa.update(ProductGroup)
        .where(ProductGroup.parent_id == group.id)
        .values(parent_id=group.parent_id, version=ProductGroup.version + 1)
    )
    db.session.execute(
        sa.update(Product)
        .where(Product.group_id == group.id)
        .values(group_id=None, version=Product.version + 1)
    )
    db.session.delete(group)
    db.session.commit()


# --- price lists --------------------------------------------------------------------------


def _date(value: Any, field: str, errors: dict) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        errors[field] = [_("Enter a date as YYYY-MM-DD.")]
        return None


def clean_price_list(data: dict[str, Any], price_list: PriceList | None = None) -> dict:
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    if "name" in data or price_list is None:
        name = _text(data, "name", 200, errors, required=True)
        if name and "name" not in errors:
            query = sa.select(PriceList.id).where(sa.func.lower(PriceList.name) == name.lower())
            if price_list is not None:
                query = query.where(PriceList.id != price_list.id)
            if db.session.execute(query).first() is not None:
                errors["name"] = [_("A price list with this name exists.")]
        out["name"] = name
    if "currency" in data or price_list is None:
        out["currency"] = check_currency(data.get("currency") or DEFAULT_CURRENCY, errors)
    if "active" in data:
        try:
            out["active"] = parse_bool(data["active"])
        except ValueError:
            errors["active"] = [_("Enter yes or no.")]
    for name in ("valid_from", "valid_to"):
        if name in data:
            out[name] = _date(data[name], name, errors)
    start = out.get("valid_from", price_list.valid_from if price_list else None)
    end = out.get("valid_to", price_list.valid_to if price_list else None)
    if start and end and end < start and "valid_to" not in errors:
        errors["valid_to"] = [_("The end date is before the start date.")]
    if errors:
        raise ValidationFailed(errors)
    return out


def create_price_list(data: dict[str, Any]) -> PriceList:
    price_list = PriceList(**clean_price_list(data))
    db.session.add(price_list)
    db.session.commit()
    return price_list


def update_price_list(price_list: PriceList, data: dict[str, Any]) -> PriceList:
    for key, value in clean_price_list(data, price_list).items():
        setattr(price_list, key, value)
    db.session.commit()
    return price_list


def delete_price_list(price_list: PriceList) -> None:
    db.session.execute(sa.delete(PriceListItem).where(PriceListItem.price_list_id == price_list.id))
    db.session.delete(price_list)
    db.session.commit()


def set_item(price_list: PriceList, data: dict[str, Any]) -> PriceListItem:
    """Set a product's price in the list (creates the item or changes its price)."""
    errors: dict[str, list[str]] = {}
    product_id = _id(data.get("product_id"))
    if product_id is None or db.session.get(Product, product_id) is None:
        errors["product_id"] = [_("Choose an existing product.")]
    price = check_price(data.get("price"), errors)
    if errors:
        raise ValidationFailed(errors)
    item = db.session.execute(
        sa.select(PriceListItem).where(
            PriceListItem.price_list_id == price_list.id, PriceListItem.product_id == product_id
        )
    ).scalar()
    if item is None:
        item = PriceListItem(price_list_id=price_list.id, product_id=product_id, price=price)
        db.session.add(item)
    else:
        item.price = price
    db.session.commit()
    return item


def update_item(item: PriceListItem, data: dict[str, Any]) -> PriceListItem:
    errors: dict[str, list[str]] = {}
    price = check_price(data.get("price"), errors)
    if errors:
        raise ValidationFailed(errors)
    item.price = price
    db.session.commit()
    return item


def delete_item(item: PriceListItem) -> None:
    db.session.delete(item)
    db.session.commit()


@dataclass(frozen=True)
class Price:
    """A product's price as a deal line takes it: amount, currency, and the price list it
    came from (None: the product's own price)."""

    amount: Decimal
    currency: str
    price_list_id: int | None = None


def valid_on(price_list: PriceList, on: date) -> bool:
    return (
        price_list.active
        and (price_list.valid_from is None or price_list.valid_from <= on)
        and (price_list.valid_to is None or on <= price_list.valid_to)
    )


def price_for(
    product: Product | int, price_list: PriceList | int | None = None, on: date | None = None
) -> Price:
    """The price of ``product`` on ``on`` (today when not given).

    With a price list that is active and valid on that date and that holds the product,
    its price in the list's currency; otherwise the product's own price and currency.
    ``product`` and ``price_list`` may be given as objects or ids.
    """
    if not isinstance(product, Product):
        found = db.session.get(Product, product)
        if found is None:
            raise LookupError(f"no product {product}")
        product = found
    on = on or date.today()
    if price_list is not None and not isinstance(price_list, PriceList):
        price_list = db.session.get(PriceList, price_list)
    if price_list is not None and valid_on(price_list, on):
        amount = db.session.execute(
            sa.select(PriceListItem.price).where(
                PriceListItem.price_list_id == price_list.id,
                PriceListItem.product_id == product.id,
            )
        ).scalar()
        if amount is not None:
            return Price(Decimal(amount), price_list.currency, price_list.id)
    return Price(Decimal(product.price), product.currency, None)
