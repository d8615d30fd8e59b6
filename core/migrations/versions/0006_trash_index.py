"""trash index

Revision ID: 0006_trash_index
Revises: 0005_dupscan
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op


revision = "0006_trash_index"
down_revision = "0005_dupscan"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # An index over every client's deleted_at made SQLite (without statistics) read all live
    # clients through it for "deleted_at IS NULL"; the trash needs only the deleted ones.
    op.drop_index("ix_clients_deleted", table_name="clients")
    trashed = sa.text("deleted_at IS NOT NULL")
    op.create_index(
        "ix_clients_trash", "clients", ["deleted_at"], sqlite_where=trashed, postgresql_where=trashed
    )


def downgrade() -> None:
    op.drop_index("ix_clients_trash", table_name="clients")
    op.create_index("ix_clients_deleted", "clients", ["deleted_at"])
