"""sales invoices: numbered invoices of deals with their payment state

Revision ID: 0006_invoices
Revises: 0005_deals
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_invoices"
down_revision = "0005_deals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sales_invoices",
        sa.Column("deal_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("net_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("vat_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("total_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("paid_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_sales_invoices_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_sales_invoices_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["sales_deals.id"],
            name=op.f("fk_sales_invoices_deal_id_sales_deals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_sales_invoices_document_id_documents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_invoices")),
        sa.UniqueConstraint("number", name=op.f("uq_sales_invoices_number")),
    )
    with op.batch_alter_table("sales_invoices", schema=None) as batch_op:
        batch_op.create_index("ix_sales_invoices_client", ["client_id", "id"], unique=False)
        batch_op.create_index("ix_sales_invoices_deal", ["deal_id", "id"], unique=False)
        batch_op.create_index("ix_sales_invoices_issued", ["issued_on", "id"], unique=False)
        batch_op.create_index("ix_sales_invoices_status", ["status", "issued_on"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sales_invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_invoices_status")
        batch_op.drop_index("ix_sales_invoices_issued")
        batch_op.drop_index("ix_sales_invoices_deal")
        batch_op.drop_index("ix_sales_invoices_client")
    op.drop_table("sales_invoices")
