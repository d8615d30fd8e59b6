"""sales invoices: kept when their client or deal goes (ON DELETE RESTRICT)

Revision ID: 0012_invoices_kept
Revises: 0011_board_owner_cards
Create Date: 2026-11-26

Invoices are accounting records: they are cancelled, never deleted. Their client and deal
were ``ON DELETE CASCADE``, so purging a client from the trash or deleting a deal deleted
its invoices with it. Now the database refuses both while invoices exist (the services
say why before it comes to that), also while the sales plugin is switched off.

PostgreSQL: the two constraints are dropped and made again. SQLite cannot alter a
constraint; instead of rebuilding the table (Alembic's batch mode, which also writes its
constraints in no fixed order), the stored definition's two ``ON DELETE`` clauses are
rewritten in place, as SQLite documents for changes that leave the stored rows as they
are (https://www.sqlite.org/lang_altertable.html, "writable_schema"), and the schema
version is raised so that every connection reads the new definition.
"""

import re

from alembic import op

revision = "0012_invoices_kept"
down_revision = "0011_board_owner_cards"
branch_labels = None
depends_on = None

FOREIGN_KEYS = (
    ("fk_sales_invoices_client_id_clients", "clients", "client_id"),
    ("fk_sales_invoices_deal_id_sales_deals", "sales_deals", "deal_id"),
)


def _point(old: str, new: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        for name, table, column in FOREIGN_KEYS:
            op.drop_constraint(name, "sales_invoices", type_="foreignkey")
            op.create_foreign_key(
                name, "sales_invoices", table, [column], ["id"], ondelete=new
            )
        return
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'sales_invoices'"
    ).scalar_one()
    for name, _table, _column in FOREIGN_KEYS:
        clause = re.compile(rf"(CONSTRAINT {name} FOREIGN KEY\([^)]*\) REFERENCES [^,]*?)"
                            rf" ON DELETE {old}\b")
        sql, found = clause.subn(rf"\1 ON DELETE {new}", sql)
        if found != 1:
            raise RuntimeError(f"sales_invoices: {name} ON DELETE {old} not found")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'sales_invoices'",
        (sql,),
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    _point("CASCADE", "RESTRICT")


def downgrade() -> None:
    _point("RESTRICT", "CASCADE")
