"""sales invoices: kept when their client or deal goes (ON DELETE RESTRICT)

Revision ID: 0012_invoices_kept
Revises: 0011_board_owner_cards
Create Date: 2026-11-26

Invoices are accounting records: they are cancelled, never deleted. Their client and deal
were ``ON DELETE CASCADE``, so purging a client from the trash or deleting a deal deleted
its invoices with it. Now the database refuses both while invoices exist (the services
say why before it comes to that), also while the sales plugin is switched off. On SQLite
the table is rebuilt (batch mode); its rows, indexes and constraints stay as they are.
"""

from alembic import op

revision = "0012_invoices_kept"
down_revision = "0011_board_owner_cards"
branch_labels = None
depends_on = None

FOREIGN_KEYS = (
    ("fk_sales_invoices_client_id_clients", "clients", "client_id"),
    ("fk_sales_invoices_deal_id_sales_deals", "sales_deals", "deal_id"),
)


def _point(ondelete: str) -> None:
    with op.batch_alter_table("sales_invoices", schema=None) as batch_op:
        for name, table, column in FOREIGN_KEYS:
            batch_op.drop_constraint(name, type_="foreignkey")
            batch_op.create_foreign_key(name, table, [column], ["id"], ondelete=ondelete)


def upgrade() -> None:
    _point("RESTRICT")


def downgrade() -> None:
    _point("CASCADE")
