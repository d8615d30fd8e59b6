"""sales deals: indexed title search, board sums from one index, a note per stage change

Revision ID: 0005_deals
Revises: 0004_plans
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_deals"
down_revision = "0004_plans"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sales_deals", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("title_key", sa.String(length=300), nullable=False, server_default="")
        )
        batch_op.create_index(
            "ix_sales_deals_title",
            ["title_key", "id"],
            unique=False,
            postgresql_ops={"title_key": "text_pattern_ops"},
        )
        batch_op.create_index(
            "ix_sales_deals_stage_sums",
            ["pipeline_id", "stage_id", "owner_id", "amount"],
            unique=False,
        )
    op.execute("UPDATE sales_deals SET title_key = lower(title)")
    with op.batch_alter_table("sales_stage_changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("sales_stage_changes", schema=None) as batch_op:
        batch_op.drop_column("note")
    with op.batch_alter_table("sales_deals", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_deals_stage_sums")
        batch_op.drop_index("ix_sales_deals_title")
        batch_op.drop_column("title_key")
