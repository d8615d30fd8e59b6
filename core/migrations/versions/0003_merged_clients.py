"""merged clients

Revision ID: 0003_merged
Revises: 0002_clients
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op


revision = "0003_merged"
down_revision = "0002_clients"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # A plain ADD COLUMN: no table rebuild, which matters at a million clients.
        op.execute(
            "ALTER TABLE clients ADD COLUMN merged_into_id INTEGER "
            "CONSTRAINT fk_clients_merged_into_id_clients REFERENCES clients (id) "
            "ON DELETE SET NULL"
        )
        return
    op.add_column("clients", sa.Column("merged_into_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        "fk_clients_merged_into_id_clients",
        "clients",
        "clients",
        ["merged_into_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_constraint("fk_clients_merged_into_id_clients", type_="foreignkey")
        batch_op.drop_column("merged_into_id")
