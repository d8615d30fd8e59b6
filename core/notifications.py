"""Delivering a message to a user through the notification channels plugins contribute.

Each delivery is its own background job, so a failing channel (an SMTP server that is down)
is retried with backoff without holding up the others or losing the message.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app

from core.db import db
from core.jobs import enqueue
from core.plugin_system.types import NotificationChannel

log = logging.getLogger(__name__)


def channels(app: Flask | None = None) -> dict[str, NotificationChannel]:
    """The channels of core and every active plugin, by name."""
    app = app or current_app
    registry = app.extensions["crm_plugins"]
    return {c.name: c for _, c in registry.collect("notification_channels", app=app)}


def send(
    user_id: int,
    subject: str,
    body: str,
    url: str | None = None,
    channel_names: list[str] | None = None,
) -> list[str]:
    """Queue one delivery per channel (all active ones unless named); return their names."""
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
