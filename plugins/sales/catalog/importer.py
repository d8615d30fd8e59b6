"""Importing products from CSV or XLSX, read by the client import's reader (any usual
encoding and delimiter, or the first sheet of a workbook).

Columns are mapped to name, SKU, group, unit, price, currency, VAT, active, kind and
description (guessed from the header in English, Russian, German and Romanian). A row
updates the product with its SKU (case ignored) or, without a SKU, the product without one
of the same name; otherwise it creates one, so importing a file again makes no doubles and
rows that change nothing are left alone. Groups are found by name and created when missing.

A row with a bad cell is not written and is reported with its line, column, value and
reason (downloadable as CSV); the good rows are written all the same. The run is
synchronous: it reads, checks and plans every row in Python, then writes through SQLAlchemy
Core in batches (INSERT ... RETURNING, executemany UPDATE), with the audit rows.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.audit.models import AuditLog
from core.clients.imports import reader
from core.clients.normalise import name_key
from core.db import db, utcnow
from core.spreadsheets import csv_text
from core.users.services import ValidationFailed
from plugins.sales.catalog import services
from plugins.sales.catalog.models import ProductImport
from plugins.sales.models import Product, ProductGroup, sku_key

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
BATCH = 1000


@dataclass(frozen=True)
class Target:
    code: str
    label: Any
    synonyms: tuple[str, ...] = ()


TARGETS: tuple[Target, ...] = (
    Target(
        "name",
        _l("Name"),
        (
            "name",
            "product",
            "product name",
            "title",
            "название",
            "наименование",
            "товар",
            "bezeichnung",
            "name des produkts",
            "produkt",
            "artikel",
            "denumire",
            "produs",
            "nume",
        ),
    ),
    Target(
        "sku",
        _l("SKU"),
        (
            "sku",
            "article",
            "article number",
            "code",
            "item code",
            "артикул",
            "код",
            "artikelnummer",
            "art.-nr.",
            "art-nr",
            "cod",
            "cod articol",
        ),
    ),
    Target(
        "group",
        _l("Group"),
        (
            "group",
            "category",
            "product group",
            "группа",
            "категория",
            "gruppe",
            "kategorie",
            "warengruppe",
            "grupa",
            "grupă",
            "categorie",
        ),
    ),
    Target(
        "unit",
        _l("Unit"),
        ("unit", "uom", "ед. изм.", "единица", "ед.", "einheit", "unitate", "um", "u.m."),
    ),
    Target(
        "price",
        _l("Price"),
        ("price", "unit price", "цена", "стоимость", "preis", "einzelpreis", "preț", "pret"),
    ),
    Target(
        "currency",
        _l("Currency"),
        ("currency", "валюта", "währung", "wahrung", "valuta", "monedă", "moneda"),
    ),
    Target(
        "vat_rate",
        _l("VAT rate, %"),
        (
            "vat",
            "vat rate",
            "vat_rate",
            "vat %",
            "tax",
            "ндс",
            "ставка ндс",
            "mwst",
            "mwst.",
            "ust",
            "tva",
            "cota tva",
        ),
    ),
    Target("active", _l("Active"), ("active", "активен", "активный", "aktiv", "activ")),
    Target(
        "kind", _l("Kind (product or service)"), ("kind", "type", "тип", "вид", "typ", "art", "tip")
    ),
    Target(
        "description", _l("Description"), ("description", "описание", "beschreibung", "descriere")
    ),
)
CODES = {t.code for t in TARGETS}
KIND_WORDS = {
    "product": "product",
    "goods": "product",
    "товар": "product",
    "produkt": "product",
    "ware": "product",
    "produs": "product",
    "service": "service",
    "услуга": "service",
    "dienstleistung": "service",
    "leistung": "service",
    "serviciu": "service",
}


def targets() -> list[tuple[str, str]]:
    return [(t.code, str(t.label)) for t in TARGETS]


def _fold(text: str) -> str:
    return " ".join(name_key(text).replace("_", " ").split())


def guess(header: list[str]) -> list[str | None]:
    """The field of each column, by its title; a field is given to one column only."""
    known = {}
    for target in TARGETS:
        for word in (target.code, *target.synonyms):
            known.setdefault(_fold(word), target.code)
    taken: set[str] = set()
    out: list[str | None] = []
    for title in header:
        code = known.get(_fold(title or ""))
        if code in taken:
            code = None
        if code:
            taken.add(code)
        out.append(code)
    return out


def check_mapping(mapping: Any, columns: int) -> list[str | None]:
    if not isinstance(mapping, list) or len(mapping) > columns:
        raise ValidationFailed({"mapping": [_("Give the field of each column, in order.")]})
    mapping = list(mapping) + [None] * (columns - len(mapping))
    seen: set[str] = set()
    for code in mapping:
        if code is None or code == "":
            continue
        if code not in CODES:
            raise ValidationFailed({"mapping": [_("Unknown field %(f)s.", f=str(code)[:40])]})
        if code in seen:
            raise ValidationFailed(
                {"mapping": [_("The field %(f)s is chosen for two columns.", f=code)]}
            )
        seen.add(code)
    if "name" not in seen and "sku" not in seen:
        raise ValidationFailed({"mapping": [_("Map at least the name or the SKU column.")]})
    return [code or None for code in mapping]


# --- upload -------------------------------------------------------------------------------


def upload(
    data: bytes,
    filename: str,
    user_id: int | None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> ProductImport:
    if len(data) > MAX_BYTES:
        raise ValidationFailed(
            {"file": [_("The file is larger than %(n)s MB.", n=MAX_BYTES // 1048576)]}, 413
        )
    if delimiter and delimiter not in reader.DELIMITERS:
        raise ValidationFailed({"delimiter": [_("Choose a comma, semicolon, tab or bar.")]})
    try:
        info = reader.inspect(data, filename or "", encoding or None, delimiter or None)
    except reader.FileRefused as exc:
        raise ValidationFailed({"file": [str(exc)]}) from None
    if info.total_rows > MAX_ROWS:
        raise ValidationFailed(
            {"file": [_("The file has more than %(n)s rows; split it.", n=MAX_ROWS)]}
        )
    job = ProductImport(
        filename=(filename or "")[:255],
        file_kind=info.kind,
        encoding=info.encoding,
        delimiter=info.delimiter,
        header=info.header,
        mapping=guess(info.header),
        content=data,
        total_rows=info.total_rows,
        created_by_id=user_id,
        problems=[],
    )
    db.session.add(job)
    db.session.commit()
    return job


def sample(job: ProductImport, count: int = reader.SAMPLE_ROWS) -> list[tuple[int, list[str]]]:
    out = []
    for number, cells in reader.rows(job.content, job.file_kind, job.encoding, job.delimiter):
        out.append((number, cells))
        if len(out) >= count:
            break
    return out


# --- the run ------------------------------------------------------------------------------


@dataclass
class Plan:
    line: int
    values: dict[str, Any]
    group_name: str | None = None
    existing: dict[str, Any] | None = None
    changes: dict[str, list] = field(default_factory=dict)


COMPARED = (
    "name",
    "sku",
    "kind",
    "group_id",
    "unit",
    "price",
    "currency",
    "vat_rate",
    "active",
    "description",
)


def _parse_row(
    cells: list[str], mapping: list[str | None], header: list[str], line: int, problems: list
) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    bad = False
    for index, code in enumerate(mapping):
        if code is None:
            continue
        raw = cells[index].strip() if index < len(cells) else ""
        column = header[index] if index < len(header) and header[index] else f"#{index + 1}"
        errors: dict[str, list[str]] = {}
        if raw == "":
            continue  # an empty cell keeps what the product has (or the default)
        if code == "name":
            if len(raw) > 300:
                errors[code] = [_("At most %(n)s characters.", n=300)]
            values["name"] = raw
        elif code == "sku":
            if len(raw) > 64:
                errors[code] = [_("At most %(n)s characters.", n=64)]
            values["sku"] = raw
        elif code == "group":
            if len(raw) > 200:
                errors[code] = [_("At most %(n)s characters.", n=200)]
            values["group"] = raw
        elif code == "unit":
            if len(raw) > 20:
                errors[code] = [_("At most %(n)s characters.", n=20)]
            values["unit"] = raw
        elif code == "price":
            values["price"] = services.check_price(raw, errors, code)
        elif code == "currency":
            values["currency"] = services.check_currency(raw, errors, code)
        elif code == "vat_rate":
            values["vat_rate"] = services.check_vat(raw, errors, code)
        elif code == "active":
            try:
                values["active"] = services.parse_bool(raw)
            except ValueError:
                errors[code] = [_("Enter yes or no.")]
        elif code == "kind":
            kind = KIND_WORDS.get(raw.casefold())
            if kind is None:
                errors[code] = [_("Enter product or service.")]
            values["kind"] = kind
        elif code == "description":
            values["description"] = raw[:20_000]
        for messages in errors.values():
            problems.append([line, column, raw[:200], " ".join(messages)])
            bad = True
    return None if bad else values


def _existing() -> tuple[dict[str, dict], dict[str, dict]]:
    """Every product's compared fields, by SKU key and (for those without SKU) name key."""
    by_sku: dict[str, dict] = {}
    by_name: dict[str, dict] = {}
    columns = [Product.id, Product.version, Product.sku_key, Product.name_key] + [
        getattr(Product, c) for c in COMPARED
    ]
    for row in db.session.execute(sa.select(*columns)).mappings():
        record = dict(row)
        if record["sku_key"]:
            by_sku[record["sku_key"]] = record
        else:
            by_name.setdefault(record["name_key"], record)
    return by_sku, by_name


def run(job: ProductImport, mapping: Any, user_id: int | None, dry_run: bool = False) -> dict:
    """Import the file of ``job`` with ``mapping``; returns the figures. Writes the figures
    and problems on the job (unless ``dry_run``, which changes nothing)."""
    mapping = check_mapping(mapping, len(job.header))
    started = time.perf_counter()
    problems: list[list] = []
    by_sku, by_name = _existing()
    # A group is named by its name or by its path ("Windows / PVC", as the export writes).
    groups = {path.casefold(): gid for gid, path in services.group_paths().items()}
    for gid, name in db.session.execute(sa.select(ProductGroup.id, ProductGroup.name)):
        groups.setdefault(name.casefold(), gid)
    seen_sku: dict[str, int] = {}
    seen_name: dict[str, int] = {}
    creates: list[Plan] = []
    updates: list[Plan] = []
    unchanged = total = 0
    default_currency = services.DEFAULT_CURRENCY
    try:
        for line, cells in reader.rows(job.content, job.file_kind, job.encoding, job.delimiter):
            total += 1
            values = _parse_row(cells, mapping, job.header, line, problems)
            if values is None:
                continue
            key = sku_key(values.get("sku"))
            nkey = name_key(values.get("name", ""))
            if key is not None:
                if key in seen_sku:
                    problems.append(
                        [
                            line,
                            "sku",
                            values["sku"][:200],
                            _("The same SKU is on line %(n)s.", n=seen_sku[key]),
                        ]
                    )
                    continue
                seen_sku[key] = line
                existing = by_sku.get(key)
            else:
                if not nkey:
                    problems.append([line, "name", "", _("Give a name or a SKU.")])
                    continue
                if nkey in seen_name:
                    problems.append(
                        [
                            line,
                            "name",
                            values["name"][:200],
                            _("The same name without SKU is on line %(n)s.", n=seen_name[nkey]),
                        ]
                    )
                    continue
                seen_name[nkey] = line
                existing = by_name.get(nkey)
            group_name = values.pop("group", None)
            plan = Plan(line, values, group_name, existing)
            if existing is None:
                if not values.get("name"):
                    problems.append([line, "name", "", _("A new product needs a name.")])
                    continue
                creates.append(plan)
            else:
                updates.append(plan)
    except reader.FileRefused as exc:
        raise ValidationFailed({"file": [str(exc)]}) from None

    # Groups named by rows and not there yet.
    wanted = {p.group_name.strip(): None for p in creates + updates if p.group_name}
    missing = [n for n in wanted if n.casefold() not in groups]
    now = utcnow()
    conn = db.session.connection()
    audits: list[dict] = []
    if missing and not dry_run:
        seen_new: set[str] = set()
        for group_name in missing:
            if group_name.casefold() in seen_new:
                continue
            seen_new.add(group_name.casefold())
            group_id = conn.execute(
                sa.insert(ProductGroup.__table__)
                .values(
                    name=group_name,
                    created_at=now,
                    updated_at=now,
                    version=1,
                    created_by_id=user_id,
                )
                .returning(ProductGroup.__table__.c.id)
            ).scalar_one()
            groups[group_name.casefold()] = group_id
            audits.append(
                _audit(
                    now,
                    user_id,
                    "sales_product_groups",
                    group_id,
                    "create",
                    {"name": [None, group_name]},
                )
            )
    elif missing:
        for index, group_name in enumerate(missing):
            groups.setdefault(group_name.casefold(), -1 - index)

    insert_rows: list[dict] = []
    for plan in creates:
        values = plan.values
        row = {
            "name": values["name"],
            "sku": values.get("sku"),
            "kind": values.get("kind", "product"),
            "group_id": groups.get(plan.group_name.strip().casefold()) if plan.group_name else None,
            "unit": values.get("unit", "pcs"),
            "price": values.get("price", Decimal("0.00")),
            "currency": values.get("currency", default_currency),
            "vat_rate": values.get("vat_rate", Decimal("0.00")),
            "active": values.get("active", True),
            "description": values.get("description", ""),
        }
        insert_rows.append(row)
    update_rows: list[dict] = []
    update_audits: list[tuple[int, dict]] = []
    for plan in updates:
        values = dict(plan.values)
        if plan.group_name:
            values["group_id"] = groups.get(plan.group_name.strip().casefold())
        old = plan.existing
        changes = {
            k: [_plain(old[k]), _plain(v)]
            for k, v in values.items()
            if k in COMPARED and _differs(old[k], v)
        }
        if not changes:
            unchanged += 1
            continue
        new = {k: old[k] for k in COMPARED}
        new.update({k: v for k, v in values.items() if k in COMPARED})
        new.update(
            b_id=old["id"],
            b_version=old["version"],
            version=old["version"] + 1,
            updated_at=now,
            name_key=name_key(new["name"])[:300],
            sku_key=sku_key(new["sku"]),
        )
        update_rows.append(new)
        update_audits.append((old["id"], changes))

    if not dry_run:
        table = Product.__table__
        for start in range(0, len(insert_rows), BATCH):
            batch = insert_rows[start : start + BATCH]
            for row in batch:
                row.update(
                    name_key=name_key(row["name"])[:300],
                    sku_key=sku_key(row["sku"]),
                    created_at=now,
                    updated_at=now,
                    version=1,
                    created_by_id=user_id,
                )
            ids = (
                conn.execute(
                    sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), batch
                )
                .scalars()
                .all()
            )
            for product_id, row in zip(ids, batch, strict=True):
                changes = {k: [None, _plain(row[k])] for k in COMPARED if row[k] is not None}
                audits.append(_audit(now, user_id, "sales_products", product_id, "create", changes))
        if update_rows:
            # The SET clause comes from the rows' other keys (SQLAlchemy's executemany).
            statement = (
                sa.update(table)
                .where(table.c.id == sa.bindparam("b_id"))
                .where(table.c.version == sa.bindparam("b_version"))
            )
            for start in range(0, len(update_rows), BATCH):
                conn.execute(statement, update_rows[start : start + BATCH])
            for product_id, changes in update_audits:
                audits.append(_audit(now, user_id, "sales_products", product_id, "update", changes))
        for start in range(0, len(audits), BATCH):
            conn.execute(sa.insert(AuditLog.__table__), audits[start : start + BATCH])

    figures = {
        "total_rows": total,
        "created_count": len(insert_rows),
        "updated_count": len(update_rows),
        "unchanged_count": unchanged,
        "failed_count": len({p[0] for p in problems}),
        "seconds": round(time.perf_counter() - started, 3),
    }
    problems.sort(key=lambda p: p[0])
    if dry_run:
        db.session.rollback()
        return {**figures, "problems": problems}
    job.mapping = mapping
    job.status = "done"
    job.problems = problems
    for key, value in figures.items():
        setattr(job, key, value)
    db.session.commit()
    return {**figures, "problems": problems}


def _audit(now, user_id, entity: str, entity_id: int, action: str, changes: dict) -> dict:
    return {
        "at": now,
        "user_id": user_id,
        "entity": entity,
        "entity_id": entity_id,
        "action": action,
        "changes": changes,
    }


def _differs(old: Any, new: Any) -> bool:
    if isinstance(old, Decimal) or isinstance(new, Decimal):
        try:
            return Decimal(old) != Decimal(new)
        except (TypeError, ValueError, ArithmeticError):
            return True
    return old != new


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def parse_mapping_text(text: str | None, job: ProductImport) -> list[str | None]:
    if not text:
        return list(job.mapping or guess(job.header))
    try:
        return json.loads(text)
    except ValueError:
        raise ValidationFailed({"mapping": [_("Send the mapping as a JSON list.")]}) from None


# --- the problem report -------------------------------------------------------------------


def report_lines(job: ProductImport) -> list[list[str]]:
    """line, column, value, reason, then the row's own cells: fix and import again."""
    by_line: dict[int, list[list]] = {}
    for problem in job.problems or []:
        by_line.setdefault(problem[0], []).append(problem)
    out = [["line", "column", "value", "reason", *job.header]]
    if not by_line:
        return out
    for number, cells in reader.rows(job.content, job.file_kind, job.encoding, job.delimiter):
        for line, column, value, reason in by_line.get(number, ()):
            out.append([str(line), column, value, reason, *cells])
    return out


def report_csv(job: ProductImport) -> str:
    return csv_text(report_lines(job))
