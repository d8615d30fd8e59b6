"""Notifications go out through the channels of active plugins, each delivery a retried job."""

from __future__ import annotations

import sqlalchemy as sa
from crm_test_plugins.hello.models import Delivery

from core import notifications
from core.db import db
from core.users.models import User
from tests.conftest import ADMIN_EMAIL, disable, enable


def _admin_id(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(User.id).filter_by(email=ADMIN_EMAIL)).scalar_one()


def _delivered(app) -> list[str]:
    with app.app_context():
        return (
            db.session.execute(
                sa.select(Delivery.payload).filter_by(kind="notification").order_by(Delivery.id)
            )
            .scalars()
            .all()
        )


def test_a_plugin_channel_delivers_while_its_plugin_is_enabled(app):
    user_id = _admin_id(app)
    with app.app_context():
        assert "hello_log" not in notifications.channels()
    enable(app, "hello")
    with app.app_context():
        assert notifications.send(
            user_id, "Task due", "Call Ivan", channel_names=["hello_log"]
        ) == ["hello_log"]
    assert _delivered(app) == [f"{ADMIN_EMAIL}: Task due"]
    disable(app, "hello")
    with app.app_context():
        assert notifications.send(user_id, "Hidden", "x", channel_names=["hello_log"]) == []
    enable(app, "hello")
    assert _delivered(app) == [f"{ADMIN_EMAIL}: Task due"]


def test_a_failing_delivery_is_retried_and_not_lost(app):
    enable(app, "hello")
    with app.app_context():
        notifications.send(_admin_id(app), "flaky channel", "body", channel_names=["hello_log"])
    assert _delivered(app) == [f"{ADMIN_EMAIL}: flaky channel"]
