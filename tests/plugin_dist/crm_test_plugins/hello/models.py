"""Tables of the hello plugin, prefixed with its name."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.audit.models import Audited
from core.db import BusinessMixin, db, utcnow


class Greeting(Audited, BusinessMixin, db.Model):
    __tablename__ = "hello_greeting"

    text: Mapped[str] = mapped_column(sa.String(200))
    owner_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id"), nullable=True, index=True
    )


class Delivery(db.Model):
    """Evidence that a hook, job or channel of this plugin ran."""

    __tablename__ = "hello_delivery"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(64), index=True)
    payload: Mapped[str] = mapped_column(sa.String(500), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
