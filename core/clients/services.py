"""Creating, changing, trashing, restoring and purging clients and their contact persons.

One implementation behind the web forms, the API, imports and tests. Input arrives as plain
dicts already shaped by ``core.clients.schemas``; this module checks what needs the database
or the installation's settings (options, owners, custom fields, phone region, tax id format)
and raises ``ValidationFailed`` naming every bad field, changing nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from core.audit.models import AuditLog, current_actor_id, field_changes
from core.cache import cached
from core.clients import normalise, search
from core.clients.custom_fields import active_fields, validate_custom
from core.clients.models import (
    KINDS,
    RELATION_KINDS,
    Address,
    Client,
    ClientOption,
    ClientRelation,
    ContactMove,
    ContactPerson,
    Email,
    Phone,
    Tag,
)
from core.clients.taxids import validate_tax_id
from core.db import db, utcnow
from core.settings.services import get as setting
from core.users.models import User
from core.users.services import ValidationFailed

log = logging.getLogger(__name__)

SIMPLE_FIELDS = (
    "kind",
    "name",
    "legal_name",
    "tax_id",
    "industry",
    "status",
    "category",
    "source",
    "owner_id",
    "notes",
    "next_contact_on",
    "website",
)


@dataclass(frozen=True)
class Option:
    """An active value of an option list (status, source), as lists and forms show it."""

    code: str
    label: str
    position: int


def options(list_name: str) -> tuple[Option, ...]:
    """The active options of a list, in order; kept in the worker cache (core.cache)."""

    def load() -> tuple[Option, ...]:
        return tuple(
            Option(code, label, position)
            for code, label, position in db.session.execute(
                sa.select(ClientOption.code, ClientOption.label, ClientOption.position)
                .filter_by(list=list_name, active=True)
                .order_by(ClientOption.position, ClientOption.label)
            )
        )

    return cached(("client_options", list_name), load)


def phone_region() -> str:
    return (setting("core.phone_region") or "").upper()


def _shape(data: dict[str, Any]) -> dict[str, Any]:
    """Accept plain strings for phones and e-mails, as the API's shorthand does."""
    data = dict(data)
    for key, inner in (("phones", "number"), ("emails", "email")):
        if key in data:
            data[key] = [{inner: v} if isinstance(v, str) else v for v in data[key] or []]
    return data


def _check_phones_and_emails(data: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    region = phone_region()
    for i, entry in enumerate(data.get("phones") or []):
        try:
            normalise.phone(entry["number"], region)
        except ValueError as exc:
            errors[f"phones.{i}"] = [f"{exc} ({entry['number']!r})"]
    for i, entry in enumerate(data.get("emails") or []):
        try:
            normalise.email(entry["email"])
        except ValueError as exc:
            errors[f"emails.{i}"] = [f"{exc} ({entry['email']!r})"]
    return errors


def _check(data: dict[str, Any], client: Client | None) -> dict[str, list[str]]:
    """Every problem with ``data`` for a new (``client`` None) or existing client."""
    errors: dict[str, list[str]] = {}
    creating = client is None
    kind = data.get("kind", client.kind if client else "company")
    if kind not in KINDS:
        errors["kind"] = [f"Choose one of: {', '.join(KINDS)}."]
    if "name" in data or creating:
        if not (data.get("name") or "").strip():
            errors["name"] = ["Enter a name."]
    if isinstance(data.get("next_contact_on"), str):
        try:
            data["next_contact_on"] = date.fromisoformat(data["next_contact_on"].strip())
        except ValueError:
            errors["next_contact_on"] = ["Enter a date as YYYY-MM-DD."]
    for list_name in ("status", "source"):
        value = data.get(list_name)
        if value is not None and value not in {o.code for o in options(list_name)}:
            codes = ", ".join(o.code for o in options(list_name))
            errors[list_name] = [f"Unknown {list_name} {value!r}; choose one of: {codes}."]
    owner_id = data.get("owner_id")
    if owner_id is not None:
        owner = db.session.get(User, owner_id)
        if owner is None or not owner.active:
            errors["owner_id"] = ["No such active user."]
    if data.get("tax_id"):
        problem = validate_tax_id(data["tax_id"], setting("core.tax_id_country") or "")
        if problem:
            errors["tax_id"] = [problem]
    errors.update(_check_phones_and_emails(data))
    if "custom" in data or creating:
        merged = dict(client.custom or {}) if client else {}
        merged.update(data.get("custom") or {})
        errors.update(validate_custom(merged, data.get("custom") or {}))
    return errors


def _tags(names: list[str]) -> list[Tag]:
    wanted = list(dict.fromkeys(n.strip()[:60] for n in names if n and n.strip()))
    existing = {
        t.name.casefold(): t
        for t in db.session.execute(sa.select(Tag).where(Tag.name.in_(wanted))).scalars()
    }
    tags = []
    for name in wanted:
        tag = existing.get(name.casefold())
        if tag is None:
            # Inserted at once, so the audit of the client's tags sees its id.
            tag_id = db.session.execute(sa.insert(Tag).values(name=name).returning(Tag.id))
            tag = db.session.get(Tag, tag_id.scalar_one())
            existing[name.casefold()] = tag
        tags.append(tag)
    return tags


def _replace_entries(model, client_id: int, contact_id: int | None, rows: list[dict]) -> None:
    """Replace the phones or e-mails of a client (or of one of its contact persons)."""
    owner = model.contact_person_id
    db.session.execute(
        sa.delete(model).where(
            model.client_id == client_id,
            owner.is_(None) if contact_id is None else owner == contact_id,
        )
    )
    for row in rows:
        db.session.add(model(client_id=client_id, contact_person_id=contact_id, **row))


def _replace_phones(client_id: int, entries: list[dict], contact_id: int | None = None) -> None:
    region = phone_region()
    numbers = {}  # E.164 -> kind; the first spelling of a number wins
    for entry in entries:
        numbers.setdefault(normalise.phone(entry["number"], region), entry.get("kind") or "work")
    _replace_entries(
        Phone,
        client_id,
        contact_id,
        [
            {"e164": e164, "kind": kind, "digits_rev": normalise.reversed_digits(e164)}
            for e164, kind in numbers.items()
        ],
    )


def _replace_emails(client_id: int, entries: list[dict], contact_id: int | None = None) -> None:
    addresses = {}
    for entry in entries:
        addresses.setdefault(normalise.email(entry["email"]), entry.get("kind") or "work")
    _replace_entries(
        Email,
        client_id,
        contact_id,
        [{"email": email, "kind": kind} for email, kind in addresses.items()],
    )


def _apply(client: Client, data: dict[str, Any]) -> None:
    """Set the fields in ``data``; nothing is flushed, so the audit sees every change."""
    with db.session.no_autoflush:
        for field in SIMPLE_FIELDS:
            if field in data:
                value = data[field]
                if isinstance(value, str):
                    value = value.strip()
                    if field not in ("name", "notes") and value == "":
                        value = None
                setattr(client, field, value)
        if "name" in data:
            client.name_key = normalise.name_key(client.name)
        if "tax_id" in data:
            client.tax_id_key = normalise.tax_id(client.tax_id) if client.tax_id else None
        if "custom" in data:
            merged = dict(client.custom or {})
            merged.update(data["custom"])
            fields = {f.key: f for f in active_fields()}
            client.custom = {
                k: v for k, v in merged.items() if k in fields and v not in (None, "", [])
            }
        if "tags" in data:
            client.tags = _tags(data["tags"])
        if "addresses" in data:
            client.addresses = [
                Address(**{k: (v or "").strip() for k, v in a.items()}) for a in data["addresses"]
            ]


def create_client(data: dict[str, Any]) -> Client:
    data = _shape({"status": default_status(), **data})
    errors = _check(data, None)
    if errors:
        raise ValidationFailed(errors)
    client = Client(custom={}, notes="")
    _apply(client, data)
    db.session.add(client)
    db.session.flush()
    _replace_phones(client.id, data.get("phones") or [])
    _replace_emails(client.id, data.get("emails") or [])
    db.session.flush()
    search.reindex([client.id])
    db.session.commit()
    _emit("client_created", client=client)
    return client


def update_client(client: Client, data: dict[str, Any]) -> Client:
    """Apply a partial change; the caller has already compared ``version``."""
    data = _shape(data)
    errors = _check(data, client)
    if errors:
        raise ValidationFailed(errors)
    before = _children(client.id)
    _apply(client, data)
    changes = field_changes(client, "update")
    if "phones" in data:
        _replace_phones(client.id, data["phones"])
    if "emails" in data:
        _replace_emails(client.id, data["emails"])
    db.session.flush()
    after = _children(client.id)
    child_changes = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    if not changes and not child_changes:
        db.session.rollback()  # nothing changed: no new version, no history, no event
        return client
    if child_changes:
        if not changes:
            # Phones, e-mails and addresses live in their own rows; their change is the
            # client's (with field changes too, the client's row is already updated).
            client.updated_at = utcnow()
        db.session.execute(
            sa.insert(AuditLog),
            [
                {
                    "at": utcnow(),
                    "user_id": current_actor_id(),
                    "entity": "clients",
                    "entity_id": client.id,
                    "action": "update",
                    "changes": child_changes,
                }
            ],
        )
    db.session.flush()
    search.reindex([client.id])
    db.session.commit()
    _emit("client_updated", client=client, changes={**changes, **child_changes})
    return client


def _children(client_id: int) -> dict[str, list[str]]:
    return {
        "phones": db.session.execute(
            sa.select(Phone.e164)
            .where(Phone.client_id == client_id, Phone.contact_person_id.is_(None))
            .order_by(Phone.id)
        )
        .scalars()
        .all(),
        "emails": db.session.execute(
            sa.select(Email.email)
            .where(Email.client_id == client_id, Email.contact_person_id.is_(None))
            .order_by(Email.id)
        )
        .scalars()
        .all(),
        "addresses": [
            a.one_line()
            for a in db.session.execute(
                sa.select(Address).where(Address.client_id == client_id).order_by(Address.id)
            ).scalars()
        ],
    }


def default_status() -> str:
    first = options("status")
    return first[0].code if first else "lead"


def trash(client: Client, actor_id: int | None) -> None:
    client.deleted_at = utcnow()
    client.deleted_by_id = actor_id
    db.session.commit()
    _emit("client_deleted", client=client)


def restore(client: Client) -> None:
    if client.merged_into_id is not None:
        raise ValidationFailed(
            {
                "client": [
                    f"This client was merged into client #{client.merged_into_id}; open that one."
                ]
            },
            409,
        )
    client.deleted_at = None
    client.deleted_by_id = None
    db.session.commit()
    _emit("client_restored", client=client)


def purge(client: Client) -> None:
    """Delete a trashed client for good, with its phones, e-mails, addresses and contacts."""
    if client.deleted_at is None:
        raise ValidationFailed({"client": ["Move the client to the trash first."]}, 409)
    client_id = client.id
    blockers = _purge_blockers(client_id)
    if blockers:
        raise ValidationFailed({"client": blockers}, 409)
    search.remove([client_id])
    db.session.delete(client)
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        # A record the database keeps for the client (ON DELETE RESTRICT), e.g. of a plugin
        # switched off since, which could therefore not say so above.
        db.session.rollback()
        raise ValidationFailed(
            {
                "client": [
                    _(
                        "Other records (of a plugin switched off, perhaps) still belong "
                        "to this client: it cannot be deleted for good."
                    )
                ]
            },
            409,
        ) from None
    _emit("client_purged", client_id=client_id)


def _purge_blockers(client_id: int) -> list[str]:
    """What the active plugins say keeps the client from being deleted for good; a check
    that fails counts as a reason (see the ``client_purge_blockers`` hook)."""
    from core.plugin_system.registry import HookFailed

    app = current_app._get_current_object()
    registry = app.extensions["crm_plugins"]
    try:
        answers = registry.call_each_or_fail("client_purge_blockers", app=app, client_id=client_id)
    except HookFailed as exc:
        log.error("purge of client %s refused: %s", client_id, exc, exc_info=exc)
        title = registry.title(exc.plugin_name)
        return [
            _(
                "%(plugin)s could not check its records of this client; the details are "
                "in the server log.",
                plugin=title,
            )
        ]
    return [message for _name, messages in answers for message in messages or ()]


# --- contact persons ---------------------------------------------------------------------


def _check_contact(data: dict[str, Any], creating: bool) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    names = [data.get(k) or "" for k in ("first_name", "middle_name", "last_name")]
    if creating and not any(n.strip() for n in names):
        errors["last_name"] = ["Enter at least a first or last name."]
    birthday = data.get("birthday")
    if isinstance(birthday, date) and birthday > date.today():
        errors["birthday"] = ["A birthday cannot be in the future."]
    errors.update(_check_phones_and_emails(data))
    return errors


CONTACT_FIELDS = ("first_name", "middle_name", "last_name", "position", "birthday", "notes")


def save_contact(
    client: Client, data: dict[str, Any], contact: ContactPerson | None = None
) -> ContactPerson:
    data = _shape(data)
    errors = _check_contact(data, contact is None)
    if errors:
        raise ValidationFailed(errors)
    if contact is None:
        contact = ContactPerson(client_id=client.id, notes="")
        db.session.add(contact)
    for field in CONTACT_FIELDS:
        if field in data:
            value = data[field]
            setattr(contact, field, value.strip() if isinstance(value, str) else value)
    db.session.flush()
    if "phones" in data:
        _replace_phones(client.id, data["phones"], contact.id)
    if "emails" in data:
        _replace_emails(client.id, data["emails"], contact.id)
    db.session.flush()
    search.reindex([client.id])
    db.session.commit()
    return contact


def move_contact(
    contact: ContactPerson, to_client: Client, position: str | None, actor_id: int | None
) -> ContactPerson:
    """Move a person to another company, keeping where they were (and as what)."""
    if to_client.id == contact.client_id:
        raise ValidationFailed({"to_client_id": ["The person already works there."]})
    if to_client.kind != "company" or to_client.deleted_at is not None:
        raise ValidationFailed({"to_client_id": ["Choose a company that is not in the trash."]})
    old_client_id = contact.client_id
    db.session.add(
        ContactMove(
            contact_person_id=contact.id,
            from_client_id=old_client_id,
            to_client_id=to_client.id,
            old_position=contact.position,
            by_id=actor_id,
        )
    )
    contact.client_id = to_client.id
    if position is not None:
        contact.position = position.strip()
    for model in (Phone, Email):
        db.session.execute(
            sa.update(model)
            .where(model.contact_person_id == contact.id)
            .values(client_id=to_client.id)
        )
    db.session.flush()
    search.reindex([old_client_id, to_client.id])
    db.session.commit()
    return contact


def delete_contact(contact: ContactPerson) -> None:
    client_id = contact.client_id
    db.session.delete(contact)
    db.session.flush()
    search.reindex([client_id])
    db.session.commit()


# --- relations -----------------------------------------------------------------------------


def add_relation(client: Client, other: Client, kind: str) -> ClientRelation:
    errors: dict[str, list[str]] = {}
    if kind not in RELATION_KINDS:
        errors["kind"] = [f"Choose one of: {', '.join(RELATION_KINDS)}."]
    if other.id == client.id:
        errors["other_id"] = ["A client cannot be related to itself."]
    exists = db.session.execute(
        sa.select(ClientRelation.id).filter_by(client_id=client.id, other_id=other.id, kind=kind)
    ).first()
    if exists:
        errors["other_id"] = ["This relation exists already."]
    if errors:
        raise ValidationFailed(errors)
    relation = ClientRelation(client_id=client.id, other_id=other.id, kind=kind)
    db.session.add(relation)
    db.session.commit()
    return relation


def _emit(hook: str, **kwargs: Any) -> None:
    app = current_app._get_current_object()
    app.extensions["crm_plugins"].notify(hook, app=app, **kwargs)
