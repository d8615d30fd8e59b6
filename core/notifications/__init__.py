"""Telling users about events: in-app notifications (the bell), e-mail and plugin channels.

``notify`` records one row per user (the in-app notification, and the proof that the event
was sent: ``key`` is unique per user, so several workers racing to send the same event
send it once), then queues one delivery job per further channel the user wants for that
event. Each delivery is its own background job, so a failing channel (an SMTP server that
is down) is retried with backoff without holding up the others or losing the message.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.exc import IntegrityError

from core.db import db, utcnow
from core.jobs import enqueue
from core.plugin_system.types import NotificationChannel, NotificationEvent

log = logging.getLogger(__name__)

IN_APP = "in_app"


def channels(app: Flask | None = None) -> dict[str, NotificationChannel]:
    """The channels of core and every active plugin, by name."""
    app = app or current_app
    registry = app.extensions["crm_plugins"]
    return {c.name: c for _, c in registry.collect("notification_channels", app=app)}


def events(app: Flask | None = None) -> dict[str, NotificationEvent]:
    """The event types of core and every active plugin, by code."""
    app = app or current_app
    registry = app.extensions["crm_plugins"]
    return {e.code: e for _, e in registry.collect("notification_events", app=app)}


def preferences(user_ids: list[int], event: NotificationEvent) -> dict[int, set[str]]:
    """The channels each user wants ``event`` through: their choices over its defaults."""
    from core.notifications.models import NotificationPreference

    wanted = {user_id: set(event.default_channels) for user_id in user_ids}
    for user_id, channel, enabled in db.session.execute(
        sa.select(
            NotificationPreference.user_id,
            NotificationPreference.channel,
            NotificationPreference.enabled,
        ).where(
            NotificationPreference.user_id.in_(user_ids),
            NotificationPreference.event == event.code,
        )
    ):
        (wanted[user_id].add if enabled else wanted[user_id].discard)(channel)
    return wanted


def preference_table(user_id: int) -> dict[tuple[str, str], bool]:
    """``{(event, channel): on}`` for every event and channel, as the profile page shows."""
    from core.notifications.models import NotificationPreference

    table = {
        (event.code, name): name in event.default_channels
        for event in events().values()
        for name in channels()
    }
    for code, channel, enabled in db.session.execute(
        sa.select(
            NotificationPreference.event,
            NotificationPreference.channel,
            NotificationPreference.enabled,
        ).where(NotificationPreference.user_id == user_id)
    ):
        if (code, channel) in table:
            table[(code, channel)] = enabled
    return table


def save_preferences(user_id: int, chosen: Iterable[tuple[str, str]]) -> None:
    """Store the user's ticks: every known (event, channel) pair, on when it is in ``chosen``."""
    from core.notifications.models import NotificationPreference

    chosen = set(chosen)
    db.session.execute(
        sa.delete(NotificationPreference).where(NotificationPreference.user_id == user_id)
    )
    db.session.add_all(
        NotificationPreference(
            user_id=user_id, event=code, channel=channel, enabled=(code, channel) in chosen
        )
        for code, channel in preference_table(user_id)
    )
    db.session.commit()


def notify(
    event: str,
    user_ids: Iterable[int],
    subject: str,
    body: str,
    url: str | None = None,
    record: tuple[str, int] | None = None,
    key: str | None = None,
) -> list[int]:
    """Tell ``user_ids`` about ``event``; return the users it was sent to now.

    With ``key``, a user who already got this key (from this or another worker) is skipped.
    Commits. Unknown events (a disabled plugin's) are dropped with a log line.
    """
    from core.notifications.models import Notification

    declared = events().get(event)
    if declared is None:
        log.warning("notification %s dropped: no active plugin declares the event", event)
        return []
    users = list(dict.fromkeys(user_ids))
    if not users:
        return []
    wanted = preferences(users, declared)
    available = channels()
    db.session.commit()  # the caller's pending work is not ours to roll back
    sent: list[int] = []
    for user_id in users:
        row = Notification(
            user_id=user_id,
            event=event,
            subject=subject[:300],
            body=body,
            url=url,
            record_kind=record[0] if record else None,
            record_id=record[1] if record else None,
            key=key or f"{event}:{uuid.uuid4().hex}",
            in_app=IN_APP in wanted[user_id],
            created_at=utcnow(),
        )
        db.session.add(row)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()  # sent already, by this or another worker
            continue
        sent.append(user_id)
        for name in sorted(wanted[user_id] - {IN_APP}):
            if name not in available:
                continue
            try:
                enqueue(
                    "core.deliver_notification",
                    channel=name,
                    user_id=user_id,
                    subject=subject,
                    body=body,
                    url=url,
                )
            except Exception:
                # The queue itself is down (Redis unreachable): the in-app row stands and the
                # change that caused it is committed; say loudly what did not go out.
                log.exception("could not queue %s via %s for user %s", event, name, user_id)
    return sent


def send(
    user_id: int,
    subject: str,
    body: str,
    url: str | None = None,
    channel_names: list[str] | None = None,
) -> list[str]:
    """Queue one delivery per channel (all active ones unless named); return their names.

    A message outside any event type (no preferences apply); prefer ``notify``."""
    available = channels()
    names = [n for n in (channel_names or list(available)) if n in available]
    for name in names:
        enqueue(
            "core.deliver_notification",
            channel=name,
            user_id=user_id,
            subject=subject,
            body=body,
            url=url,
        )
    return names


def deliver(channel: str, user_id: int, subject: str, body: str, url: str | None = None) -> bool:
    """The job: hand one message to one channel; an exception makes the queue retry it."""
    from core.users.models import User

    found = channels().get(channel)
    user = db.session.get(User, user_id)
    if found is None or user is None or not user.active:
        log.info("notification to user %s via %s dropped: channel or user gone", user_id, channel)
        return False
    found.send(user, subject, body, url)
    return True


# --- core's channels --------------------------------------------------------------------


def send_in_app(user: Any, subject: str, body: str, url: str | None = None) -> None:
    """A message sent with ``send`` (no event): a row in the user's notifications."""
    from core.notifications.models import Notification

    db.session.add(
        Notification(
            user_id=user.id,
            event="message",
            subject=subject[:300],
            body=body,
            url=url,
            key=f"message:{uuid.uuid4().hex}",
        )
    )
    db.session.commit()


def send_email(user: Any, subject: str, body: str, url: str | None = None) -> None:
    """E-mail to the user's address; ``MailError`` makes the delivery job retry."""
    from flask import has_request_context, request

    from core.mail import send_mail

    text = body
    if url:
        base = current_app.config.get("CRM_BASE_URL") or (
            request.host_url.rstrip("/") if has_request_context() else ""
        )
        text = f"{body}\n\n{base}{url}" if url.startswith("/") else f"{body}\n\n{url}"
    send_mail(user.email, subject, text)


# --- reading ----------------------------------------------------------------------------


def _unread(user_id: int) -> sa.Select:
    from core.notifications.models import Notification

    capped = (
        sa.select(Notification.id)
        .where(
            Notification.user_id == user_id,
            Notification.read_at.is_(None),
            Notification.in_app.is_(True),
        )
        .limit(100)
        .subquery()
    )
    return sa.select(sa.func.count().label("unread")).select_from(capped)


def unread_count(user_id: int) -> int:
    """The bell: unread in-app notifications, through the partial index (capped at 100)."""
    return db.session.execute(_unread(user_id)).scalar_one()


def unread_read(user_id: int) -> Any:
    """The bell's count as a ``core.reads.Read`` (a page reads it with its own reads and
    sets ``g.crm_bell``, so the layout needs no statement of its own for it)."""
    from core.reads import Read

    return Read(_unread(user_id))


def page(
    user_id: int, unread_only: bool = False, before: int | None = None, limit: int = 50
) -> tuple[list[Any], int | None]:
    """The user's in-app notifications, newest first; returns them and the next cursor."""
    from core.notifications.models import Notification

    query = sa.select(Notification).where(
        Notification.user_id == user_id, Notification.in_app.is_(True)
    )
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if before is not None:
        query = query.where(Notification.id < before)
    rows = (
        db.session.execute(query.order_by(Notification.id.desc()).limit(limit + 1)).scalars().all()
    )
    cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], cursor


def mark_read(user_id: int, notification_id: int | None = None) -> int:
    """Mark one (or, without an id, every) unread notification of the user as read."""
    from core.notifications.models import Notification

    query = sa.update(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    if notification_id is not None:
        query = query.where(Notification.id == notification_id)
    result = db.session.execute(query.values(read_at=utcnow()))
    db.session.commit()
    return result.rowcount
