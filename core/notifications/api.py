"""JSON API: the caller's notifications, mark one or all read."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from core import notifications
from core.api import ApiBlueprint
from core.db import db
from core.notifications.models import Notification
from core.security import current_principal, login_required_only

blp = ApiBlueprint(
    "api_notifications",
    __name__,
    url_prefix="/api/v1/notifications",
    description="The caller's in-app notifications",
)


class NotificationQuerySchema(Schema):
    unread = fields.Boolean(load_default=False, metadata={"description": "Only unread ones."})
    cursor = fields.Integer(
        validate=validate.Range(min=1), metadata={"description": "``next_cursor`` of a page."}
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class NotificationSchema(Schema):
    id = fields.Integer()
    event = fields.String()
    subject = fields.String()
    body = fields.String()
    url = fields.String(allow_none=True)
    record_kind = fields.String(allow_none=True)
    record_id = fields.Integer(allow_none=True)
    read_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class NotificationPageSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema))
    next_cursor = fields.Integer(allow_none=True)
    unread_count = fields.Integer(metadata={"description": "Unread, counted up to 100."})


class ReadAllSchema(Schema):
    marked = fields.Integer()


@blp.route("")
class Notifications(MethodView):
    @login_required_only
    @blp.arguments(NotificationQuerySchema, location="query")
    @blp.response(200, NotificationPageSchema)
    def get(self, args):
        """The caller's notifications, newest first; pass ``next_cursor`` as ``cursor``."""
        user = current_principal()
        rows, cursor = notifications.page(
            user.id, unread_only=args["unread"], before=args.get("cursor"), limit=args["limit"]
        )
        return {
            "items": rows,
            "next_cursor": cursor,
            "unread_count": notifications.unread_count(user.id),
        }


@blp.route("/<int:notification_id>/read")
class NotificationRead(MethodView):
    @login_required_only
    @blp.response(200, NotificationSchema)
    def post(self, notification_id):
        """Mark one of the caller's notifications read (404 for anyone else's)."""
        user = current_principal()
        row = db.session.get(Notification, notification_id)
        if row is None or row.user_id != user.id:
            abort(404, message=f"Notification {notification_id} does not exist.")
        notifications.mark_read(user.id, notification_id)
        db.session.refresh(row)
        return row


@blp.route("/read-all")
class NotificationsReadAll(MethodView):
    @login_required_only
    @blp.response(200, ReadAllSchema)
    def post(self):
        """Mark every unread notification of the caller read; returns how many."""
        return {"marked": notifications.mark_read(current_principal().id)}
