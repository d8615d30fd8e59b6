"""sales plugin: the base revision its tables build on

Revision ID: 0001_sales_base
Revises:
Create Date: 2026-11-26
"""

revision = "0001_sales_base"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
