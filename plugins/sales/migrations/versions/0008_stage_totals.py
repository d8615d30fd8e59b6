"""sales board: deals and amounts per stage, owner, currency and source, kept by triggers

Revision ID: 0008_stage_totals
Revises: 0007_automation
Create Date: 2026-11-26

The board's column counts and sums read ``sales_stage_totals`` (a few rows per stage)
instead of every deal of the pipeline. Triggers on ``sales_deals`` keep it in the same
transaction as every insert, delete and change of stage, owner, currency or amount, so no
code path can forget it. A later migration that rebuilds ``sales_deals`` (alembic's batch
mode on SQLite copies the table) drops the triggers: it must call ``create_triggers()``
again (tests/plugins/sales/test_stage_totals.py fails otherwise).
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_stage_totals"
down_revision = "0007_automation"
branch_labels = None
depends_on = None

SQLITE_CENTS = "CAST(round({row}.amount * 100) AS INTEGER)"
SQLITE_ADD = (
    "INSERT INTO sales_stage_totals (stage_id, owner_key, currency, source_key, deals, "
    "amount_cents) VALUES (NEW.stage_id, coalesce(NEW.owner_id, 0), NEW.currency, "
    "coalesce(NEW.source, ''), 1, "
    + SQLITE_CENTS.format(row="NEW")
    + ") ON CONFLICT (stage_id, owner_key, currency, source_key) DO UPDATE SET deals = deals + 1, "
    "amount_cents = amount_cents + excluded.amount_cents;"
)
SQLITE_SUBTRACT = (
    "UPDATE sales_stage_totals SET deals = deals - 1, amount_cents = amount_cents - "
    + SQLITE_CENTS.format(row="OLD")
    + " WHERE stage_id = OLD.stage_id AND owner_key = coalesce(OLD.owner_id, 0) "
    "AND currency = OLD.currency AND source_key = coalesce(OLD.source, '');"
)
POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION sales_deals_stage_totals() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE sales_stage_totals
        SET deals = deals - 1, amount_cents = amount_cents - round(OLD.amount * 100)::bigint
        WHERE stage_id = OLD.stage_id AND owner_key = coalesce(OLD.owner_id, 0)
          AND currency = OLD.currency AND source_key = coalesce(OLD.source, '');
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO sales_stage_totals
            (stage_id, owner_key, currency, source_key, deals, amount_cents)
        VALUES (NEW.stage_id, coalesce(NEW.owner_id, 0), NEW.currency,
                coalesce(NEW.source, ''), 1, round(NEW.amount * 100)::bigint)
        ON CONFLICT (stage_id, owner_key, currency, source_key) DO UPDATE
        SET deals = sales_stage_totals.deals + 1,
            amount_cents = sales_stage_totals.amount_cents + EXCLUDED.amount_cents;
    END IF;
    RETURN NULL;
END
$$
"""
WATCHED = "stage_id, owner_id, currency, source, amount"


def create_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        op.execute(
            f"CREATE TRIGGER sales_deals_stage_totals AFTER INSERT OR DELETE OR UPDATE OF "
            f"{WATCHED} ON sales_deals FOR EACH ROW EXECUTE FUNCTION sales_deals_stage_totals()"
        )
        return
    op.execute(
        "CREATE TRIGGER sales_deals_totals_insert AFTER INSERT ON sales_deals "
        f"BEGIN {SQLITE_ADD} END"
    )
    op.execute(
        "CREATE TRIGGER sales_deals_totals_delete AFTER DELETE ON sales_deals "
        f"BEGIN {SQLITE_SUBTRACT} END"
    )
    op.execute(
        f"CREATE TRIGGER sales_deals_totals_update AFTER UPDATE OF {WATCHED} ON sales_deals "
        f"BEGIN {SQLITE_SUBTRACT} {SQLITE_ADD} END"
    )


def drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS sales_deals_stage_totals ON sales_deals")
        op.execute("DROP FUNCTION IF EXISTS sales_deals_stage_totals()")
        return
    for name in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS sales_deals_totals_{name}")


REBUILD = (
    "INSERT INTO sales_stage_totals (stage_id, owner_key, currency, source_key, deals, "
    "amount_cents) SELECT stage_id, coalesce(owner_id, 0), currency, coalesce(source, ''), "
    "count(*), sum(CAST(round(amount * 100) AS BIGINT)) FROM sales_deals "
    "GROUP BY stage_id, coalesce(owner_id, 0), currency, coalesce(source, '')"
)


def upgrade() -> None:
    op.create_table(
        "sales_stage_totals",
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("owner_key", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("source_key", sa.String(length=40), nullable=False),
        sa.Column("deals", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["sales_stages.id"],
            name=op.f("fk_sales_stage_totals_stage_id_sales_stages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "stage_id",
            "owner_key",
            "currency",
            "source_key",
            name=op.f("pk_sales_stage_totals"),
        ),
    )
    op.execute(REBUILD)
    create_triggers()


def downgrade() -> None:
    drop_triggers()
    op.drop_table("sales_stage_totals")
