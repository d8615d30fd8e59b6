"""Recording, changing and deleting interactions; one implementation for the UI and the API.

Input arrives shaped by ``core.interactions.schemas``; this module checks what needs the
database (the contact person belongs to the client, the user exists) and converts the
time the user typed, in their own timezone, to UTC. Bad input raises ``ValidationFailed``
naming every bad field and changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.clients.models import Client, ContactPerson
from core.db import db, utcnow
from core.interactions.models import DIRECTIONS, KINDS, Interaction
from core.users.models import User
from core.users.services import ValidationFailed

FIELDS = (
    "kind",
    "direction",
    "channel",
    "subject",
    "text",
    "outcome",
    "duration_minutes",
    "contact_person_id",
    "user_id",
)


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def to_utc(value: datetime, timezone: str | None) -> datetime:
    """A time as stored (naive UTC): an aware one is converted, a naive one is read as a
    time on the wall clock of ``timezone`` (the user's)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(timezone))
    return value.astimezone(UTC).replace(tzinfo=None)


def to_local(value: datetime, timezone: str | None) -> datetime:
    """A stored (naive UTC) time on the wall clock of ``timezone``, naive."""
    return value.replace(tzinfo=UTC).astimezone(zone(timezone)).replace(tzinfo=None)


def parse_when(value: Any, timezone: str | None) -> datetime:
    """``value`` (a datetime, or text as ``YYYY-MM-DD HH:MM``) as naive UTC; ValueError if
    it is neither."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip())
    if not isinstance(value, datetime):
        raise ValueError(value)
    return to_utc(value, timezone)


def _check(client: Client, data: dict[str, Any], interaction: Interaction | None) -> dict:
    errors: dict[str, list[str]] = {}
    kind = data.get("kind", interaction.kind if interaction else None)
    if kind not in KINDS:
        errors["kind"] = [f"Choose one of: {', '.join(KINDS)}."]
    direction = data.get("direction")
    if direction is not None and direction not in DIRECTIONS:
        errors["direction"] = ["Choose in, out or none."]
    duration = data.get("duration_minutes")
    if duration is not None and not 0 <= duration <= 10_080:
        errors["duration_minutes"] = ["Enter minutes from 0 to 10080 (a week)."]
    contact_id = data.get("contact_person_id")
    if contact_id is not None:
        contact = db.session.get(ContactPerson, contact_id)
        if contact is None or contact.client_id != client.id:
            errors["contact_person_id"] = ["Choose a contact person of this client."]
    user_id = data.get("user_id")
    if user_id is not None:
        user = db.session.get(User, user_id)
        if user is None or not user.active:
            errors["user_id"] = ["No such active user."]
    return errors


def _apply(interaction: Interaction, data: dict[str, Any], timezone: str | None) -> None:
    for field in FIELDS:
        if field in data:
            value = data[field]
            setattr(interaction, field, value.strip() if isinstance(value, str) else value)
    if interaction.kind == "note":
        interaction.direction = None  # a note is no exchange with anyone
    if data.get("occurred_at") is not None:
        interaction.occurred_at = to_utc(data["occurred_at"], timezone)


def create_interaction(client: Client, data: dict[str, Any], actor: Any) -> Interaction:
    """Record an interaction on ``client`` by ``actor`` (who did it, unless ``user_id``
    says otherwise); ``occurred_at`` is read in the actor's timezone and defaults to now."""
    errors = _check(client, data, None)
    if errors:
        raise ValidationFailed(errors)
    interaction = Interaction(
        client_id=client.id,
        user_id=actor.id,
        channel="",
        subject="",
        text="",
        outcome="",
        occurred_at=utcnow(),
    )
    _apply(interaction, data, actor.timezone)
    db.session.add(interaction)
    db.session.commit()
    return interaction


def update_interaction(interaction: Interaction, data: dict[str, Any], actor: Any) -> Interaction:
    """Apply a partial change; the caller has already compared ``version``."""
    client = db.session.get(Client, interaction.client_id)
    errors = _check(client, data, interaction)
    if errors:
        raise ValidationFailed(errors)
    _apply(interaction, data, actor.timezone)
    db.session.commit()
    return interaction


def delete_interaction(interaction: Interaction) -> None:
    db.session.delete(interaction)
    db.session.commit()
