"""a migration that fails

Revision ID: 0001_bad_migration
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_bad_migration"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("bad_migration_thing", sa.Column("id", sa.Integer(), primary_key=True))
    op.execute("SELECT * FROM bad_migration_table_that_does_not_exist")


def downgrade() -> None:
    op.drop_table("bad_migration_thing")
