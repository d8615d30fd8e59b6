"""tasks: a partial index of each assignee's tasks still to do (My tasks, Team tasks)

Revision ID: 0010_tasks_assignee_active
Revises: 0009_documents
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op


revision = "0010_tasks_assignee_active"
down_revision = "0009_documents"
branch_labels = None
depends_on = None

ACTIVE = sa.text("status IN ('open', 'in_progress')")


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tasks_assignee_active",
            ["assignee_id", "due_at", "id"],
            unique=False,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_tasks_assignee_active", sqlite_where=ACTIVE, postgresql_where=ACTIVE
        )
