"""clients: an index of merged clients by the client they were merged into

Every client card and timeline reads the history of the clients merged into it
(``merged_into_id = ?``); without an index that read every client (about 0.2 s at a
million clients once the audit log is not empty).

Revision ID: 0011_clients_merged_into
Revises: 0010_tasks_assignee_active
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op


revision = "0011_clients_merged_into"
down_revision = "0010_tasks_assignee_active"
branch_labels = None
depends_on = None

MERGED = sa.text("merged_into_id IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_clients_merged_into",
        "clients",
        ["merged_into_id"],
        unique=False,
        sqlite_where=MERGED,
        postgresql_where=MERGED,
    )


def downgrade() -> None:
    op.drop_index("ix_clients_merged_into", table_name="clients")
