"""sales plans and report indexes

Revision ID: 0004_plans
Revises: 0003_price_lists
Create Date: 2026-11-26 05:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_plans"
down_revision = "0003_price_lists"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sales_plans",
        sa.Column("period_month", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("dimension_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_sales_plans_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_plans")),
        sa.UniqueConstraint(
            "period_month", "kind", "dimension_id", "currency", name="uq_sales_plans_target"
        ),
    )
    with op.batch_alter_table("sales_plans", schema=None) as batch_op:
        batch_op.create_index("ix_sales_plans_kind_month", ["kind", "period_month"], unique=False)
    with op.batch_alter_table("sales_stage_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sales_stage_changes_moves",
            ["to_stage_id", "from_stage_id", "at", "deal_id"],
            unique=False,
        )
    with op.batch_alter_table("sales_deals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sales_deals_closed_report",
            [
                "closed_at",
                "stage_id",
                "owner_id",
                "client_id",
                "amount",
                "lost_reason_id",
                "created_at",
            ],
            unique=False,
        )
        batch_op.create_index(
            "ix_sales_deals_created_report",
            ["created_at", "owner_id", "stage_id", "source", "amount"],
            unique=False,
        )
        batch_op.create_index(
            "ix_sales_deals_forecast",
            ["stage_id", "expected_close_on", "owner_id", "amount"],
            unique=False,
        )
    with op.batch_alter_table("sales_deal_lines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sales_deal_lines_report",
            ["deal_id", "product_id", "total_amount"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("sales_deal_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_deal_lines_report")
    with op.batch_alter_table("sales_deals", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_deals_forecast")
        batch_op.drop_index("ix_sales_deals_created_report")
        batch_op.drop_index("ix_sales_deals_closed_report")
    with op.batch_alter_table("sales_stage_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_stage_changes_moves")
    with op.batch_alter_table("sales_plans", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_plans_kind_month")
    op.drop_table("sales_plans")
