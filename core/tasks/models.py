"""Tasks, task templates and each user's task settings (reminder default, calendar feed)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.audit.models import Audited
from core.db import BusinessMixin, db
from core.users.models import User

PRIORITIES = ("low", "normal", "high")
STATUSES = ("open", "in_progress", "done", "cancelled")
ACTIVE_STATUSES = ("open", "in_progress")
DUE_UNITS = ("minutes", "hours", "working_days")
ACTIVE = sa.text("status IN ('open', 'in_progress')")


class Task(Audited, BusinessMixin, db.Model):
    __tablename__ = "tasks"
    __table_args__ = (
        sa.Index("ix_tasks_assignee_due", "assignee_id", "due_at", "id"),
        sa.Index("ix_tasks_creator_due", "created_by_id", "due_at", "id"),
        sa.Index("ix_tasks_record", "record_kind", "record_id"),
        # The reminder job looks only at tasks still to do.
        sa.Index("ix_tasks_active_due", "due_at", sqlite_where=ACTIVE, postgresql_where=ACTIVE),
        # My tasks and Team tasks: an assignee's tasks still to do, without reading the
        # thousands they have done (queries must say ``ACTIVE`` literally to use it).
        sa.Index(
            "ix_tasks_assignee_active",
            "assignee_id",
            "due_at",
            "id",
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        ),
    )

    title: Mapped[str] = mapped_column(sa.String(300))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    assignee_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"))
    due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    priority: Mapped[str] = mapped_column(sa.String(10), default="normal")
    status: Mapped[str] = mapped_column(sa.String(20), default="open")
    result: Mapped[str] = mapped_column(sa.Text, default="")
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    record_kind: Mapped[str | None] = mapped_column(sa.String(80), nullable=True)
    record_id: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    remind_before_minutes: Mapped[int | None] = mapped_column(nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(nullable=True)
    overdue_notified_at: Mapped[datetime | None] = mapped_column(nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # What made the task, when it was not a person: "core.next_contact", a template's code.
    origin: Mapped[str | None] = mapped_column(sa.String(80), nullable=True)

    assignee: Mapped[User] = relationship(foreign_keys=[assignee_id])
    creator: Mapped[User | None] = relationship(foreign_keys="Task.created_by_id")

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class TaskTemplate(Audited, BusinessMixin, db.Model):
    """What plugins create tasks from ("Call the client within 15 minutes")."""

    __tablename__ = "task_templates"

    code: Mapped[str] = mapped_column(sa.String(80), unique=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    due_amount: Mapped[int] = mapped_column(default=0)
    due_unit: Mapped[str] = mapped_column(sa.String(20), default="hours")
    priority: Mapped[str] = mapped_column(sa.String(10), default="normal")


class TaskUserSettings(db.Model):
    """Per user: the default reminder lead time and the secret of the calendar feed."""

    __tablename__ = "task_user_settings"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    remind_before_minutes: Mapped[int] = mapped_column(default=30)
    ical_token: Mapped[str | None] = mapped_column(sa.String(64), unique=True, nullable=True)
