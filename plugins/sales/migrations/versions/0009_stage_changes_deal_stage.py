"""sales stage changes: the per-deal index also holds the stage entered

Revision ID: 0009_stage_changes_deal_stage
Revises: 0008_stage_totals
Create Date: 2026-11-26

``ix_sales_stage_changes_deal`` becomes ``(deal_id, at, to_stage_id)``: the funnel reads
the entries of the deals that moved backwards (and, with an owner, team or "own" scope,
of the deals it may see) from this index alone instead of visiting every row for its
stage. Only the index is replaced; the table is not rebuilt (its triggers stay).
"""

from alembic import op

revision = "0009_stage_changes_deal_stage"
down_revision = "0008_stage_totals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_sales_stage_changes_deal", table_name="sales_stage_changes")
    op.create_index(
        "ix_sales_stage_changes_deal",
        "sales_stage_changes",
        ["deal_id", "at", "to_stage_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_sales_stage_changes_deal", table_name="sales_stage_changes")
    op.create_index(
        "ix_sales_stage_changes_deal", "sales_stage_changes", ["deal_id", "at"], unique=False
    )
