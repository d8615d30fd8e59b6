"""sales funnel: stage entries per day, owner and currency, and re-entries, kept by triggers

Revision ID: 0010_stage_entries
Revises: 0009_stage_changes_deal_stage
Create Date: 2026-11-26

The funnel counts the deals that entered each stage in a period, each deal once. It used
to count millions of stage changes for a year; now it adds up ``sales_stage_entries``
(entries per stage, UTC day, deal owner and currency: a few hundred thousand rows for a
year of a million deals) and subtracts the entries that repeat an entry of the same deal
into the same stage within the period. For those, every stage change holds in
``previous_at`` when its deal last entered the same stage before it (NULL for a first
entry); a partial index holds only the re-entries, so "entries in [start, end) whose
previous entry is at or after start" is read from a small index.

Triggers keep both in the same transaction as every write: a stage change inserted,
deleted or changed (``previous_at`` of the entries after it is recomputed too), a deal's
owner or currency changed (its entries move to the new key), a deal deleted (its entries
are subtracted before the cascade removes them; the stage changes' own delete trigger
finds no deal then and leaves the totals alone). Like 0008, a later migration that
rebuilds ``sales_deals`` or ``sales_stage_changes`` (alembic's batch mode on SQLite)
drops these triggers and must call ``create_triggers()`` again.

ABC of clients gets ``ix_sales_deals_won``: the won deals of a period (stage, closing
time) with client, amount, owner, pipeline and currency, so it visits only them.

``rebuild_statements()`` recomputes both from the stage changes and deals; bench/generate.py
runs them after loading with the triggers off.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_stage_entries"
down_revision = "0009_stage_changes_deal_stage"
branch_labels = None
depends_on = None


def day(column: str, dialect: str) -> str:
    """The UTC day of a stored timestamp, as ``sales_stage_entries.day`` holds it (SQLite
    keeps timestamps as 'YYYY-MM-DD HH:MM:SS...' text and dates as 'YYYY-MM-DD')."""
    if dialect == "postgresql":
        return f"CAST({column} AS date)"
    return f"substr({column}, 1, 10)"


def _previous(outer: str, dialect: str) -> str:
    """When the deal of the stage change ``outer`` last entered the same stage before it,
    in the order (at, id)."""
    earlier = (
        f"(p.at, p.id) < ({outer}.at, {outer}.id)"
        if dialect == "postgresql"
        else f"(p.at < {outer}.at OR (p.at = {outer}.at AND p.id < {outer}.id))"
    )
    return (
        f"(SELECT max(p.at) FROM sales_stage_changes p WHERE p.deal_id = {outer}.deal_id "
        f"AND p.to_stage_id = {outer}.to_stage_id AND {earlier})"
    )


def _recompute_previous(row: str, dialect: str) -> str:
    """``previous_at`` again for ``row``'s deal and stage, from ``row``'s entry on (only
    the rows whose value changes are written)."""
    if dialect == "postgresql":
        previous = _previous("c", dialect)
        return (
            f"UPDATE sales_stage_changes c SET previous_at = {previous} "
            f"WHERE c.deal_id = {row}.deal_id AND c.to_stage_id = {row}.to_stage_id "
            f"AND c.at >= {row}.at AND c.previous_at IS DISTINCT FROM {previous};"
        )
    previous = _previous("sales_stage_changes", dialect)  # SQLite's UPDATE takes no alias
    return (
        f"UPDATE sales_stage_changes SET previous_at = {previous} "
        f"WHERE deal_id = {row}.deal_id AND to_stage_id = {row}.to_stage_id "
        f"AND at >= {row}.at AND previous_at IS NOT {previous};"
    )


def _others(row: str) -> str:
    """Whether ``row``'s deal has another entry into the same stage."""
    return (
        "EXISTS (SELECT 1 FROM sales_stage_changes p WHERE p.deal_id = "
        f"{row}.deal_id AND p.to_stage_id = {row}.to_stage_id AND p.id <> {row}.id)"
    )


# --- SQLite ----------------------------------------------------------------------------

SQLITE_ADD = (
    "INSERT INTO sales_stage_entries (stage_id, day, owner_key, currency, entries) "
    f"SELECT NEW.to_stage_id, {day('NEW.at', 'sqlite')}, coalesce(d.owner_id, 0), d.currency, 1 "
    "FROM sales_deals d WHERE d.id = NEW.deal_id "
    "ON CONFLICT (stage_id, day, owner_key, currency) DO UPDATE SET entries = entries + 1;"
)
SQLITE_SUBTRACT = (
    "UPDATE sales_stage_entries SET entries = entries - 1 "
    f"WHERE stage_id = OLD.to_stage_id AND day = {day('OLD.at', 'sqlite')} "
    "AND (owner_key, currency) = "
    "(SELECT coalesce(d.owner_id, 0), d.currency FROM sales_deals d WHERE d.id = OLD.deal_id);"
)
SQLITE_DEAL_SUBTRACT = (
    "UPDATE sales_stage_entries SET entries = entries - (SELECT count(*) "
    "FROM sales_stage_changes c WHERE c.deal_id = OLD.id "
    "AND c.to_stage_id = sales_stage_entries.stage_id "
    f"AND {day('c.at', 'sqlite')} = sales_stage_entries.day) "
    "WHERE owner_key = coalesce(OLD.owner_id, 0) AND currency = OLD.currency "
    f"AND (stage_id, day) IN (SELECT to_stage_id, {day('at', 'sqlite')} "
    "FROM sales_stage_changes WHERE deal_id = OLD.id);"
)
SQLITE_DEAL_ADD = (
    "INSERT INTO sales_stage_entries (stage_id, day, owner_key, currency, entries) "
    f"SELECT to_stage_id, {day('at', 'sqlite')}, coalesce(NEW.owner_id, 0), NEW.currency, "
    f"count(*) FROM sales_stage_changes WHERE deal_id = NEW.id "
    f"GROUP BY to_stage_id, {day('at', 'sqlite')} "
    "ON CONFLICT (stage_id, day, owner_key, currency) DO UPDATE "
    "SET entries = entries + excluded.entries;"
)
WATCHED_CHANGES = "deal_id, to_stage_id, at"
SQLITE_TRIGGERS = {
    "sales_stage_changes_entries_insert": (
        "AFTER INSERT ON sales_stage_changes "
        f"BEGIN {SQLITE_ADD} END"
    ),
    "sales_stage_changes_previous_insert": (
        f"AFTER INSERT ON sales_stage_changes WHEN {_others('NEW')} "
        f"BEGIN {_recompute_previous('NEW', 'sqlite')} END"
    ),
    "sales_stage_changes_entries_delete": (
        "AFTER DELETE ON sales_stage_changes "
        "WHEN EXISTS (SELECT 1 FROM sales_deals WHERE id = OLD.deal_id) "
        f"BEGIN {SQLITE_SUBTRACT} {_recompute_previous('OLD', 'sqlite')} END"
    ),
    "sales_stage_changes_entries_update": (
        f"AFTER UPDATE OF {WATCHED_CHANGES} ON sales_stage_changes "
        f"BEGIN {SQLITE_SUBTRACT} {SQLITE_ADD} {_recompute_previous('OLD', 'sqlite')} "
        f"{_recompute_previous('NEW', 'sqlite')} END"
    ),
    "sales_deals_entries_update": (
        "AFTER UPDATE OF owner_id, currency ON sales_deals "
        "WHEN OLD.owner_id IS NOT NEW.owner_id OR OLD.currency IS NOT NEW.currency "
        f"BEGIN {SQLITE_DEAL_SUBTRACT} {SQLITE_DEAL_ADD} END"
    ),
    "sales_deals_entries_delete": f"BEFORE DELETE ON sales_deals BEGIN {SQLITE_DEAL_SUBTRACT} END",
}

# --- PostgreSQL ------------------------------------------------------------------------

POSTGRES_CHANGES_FUNCTION = f"""
CREATE OR REPLACE FUNCTION sales_stage_changes_entries() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        -- Nothing when the deal is gone: its delete trigger subtracted its entries.
        IF EXISTS (SELECT 1 FROM sales_deals WHERE id = OLD.deal_id) THEN
            UPDATE sales_stage_entries e SET entries = e.entries - 1
            FROM sales_deals d
            WHERE d.id = OLD.deal_id AND e.stage_id = OLD.to_stage_id
              AND e.day = {day("OLD.at", "postgresql")}
              AND e.owner_key = coalesce(d.owner_id, 0) AND e.currency = d.currency;
            {_recompute_previous("OLD", "postgresql")}
        END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO sales_stage_entries (stage_id, day, owner_key, currency, entries)
        SELECT NEW.to_stage_id, {day("NEW.at", "postgresql")}, coalesce(d.owner_id, 0),
               d.currency, 1
        FROM sales_deals d WHERE d.id = NEW.deal_id
        ON CONFLICT (stage_id, day, owner_key, currency) DO UPDATE
        SET entries = sales_stage_entries.entries + 1;
        IF {_others("NEW")} THEN
            {_recompute_previous("NEW", "postgresql")}
        END IF;
    END IF;
    RETURN NULL;
END
$$
"""
POSTGRES_DEALS_FUNCTION = f"""
CREATE OR REPLACE FUNCTION sales_deals_stage_entries() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.owner_id IS NOT DISTINCT FROM NEW.owner_id
       AND OLD.currency IS NOT DISTINCT FROM NEW.currency THEN
        RETURN NULL;
    END IF;
    UPDATE sales_stage_entries e SET entries = e.entries - c.n
    FROM (SELECT to_stage_id, {day("at", "postgresql")} AS day, count(*) AS n
          FROM sales_stage_changes WHERE deal_id = OLD.id
          GROUP BY to_stage_id, {day("at", "postgresql")}) c
    WHERE e.stage_id = c.to_stage_id AND e.day = c.day
      AND e.owner_key = coalesce(OLD.owner_id, 0) AND e.currency = OLD.currency;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    INSERT INTO sales_stage_entries (stage_id, day, owner_key, currency, entries)
    SELECT to_stage_id, {day("at", "postgresql")}, coalesce(NEW.owner_id, 0), NEW.currency,
           count(*)
    FROM sales_stage_changes WHERE deal_id = NEW.id
    GROUP BY to_stage_id, {day("at", "postgresql")}
    ON CONFLICT (stage_id, day, owner_key, currency) DO UPDATE
    SET entries = sales_stage_entries.entries + EXCLUDED.entries;
    RETURN NULL;
END
$$
"""
POSTGRES_TRIGGERS = {
    "sales_stage_changes_entries": (
        "sales_stage_changes",
        f"AFTER INSERT OR DELETE OR UPDATE OF {WATCHED_CHANGES} ON sales_stage_changes "
        "FOR EACH ROW EXECUTE FUNCTION sales_stage_changes_entries()",
    ),
    "sales_deals_entries_update": (
        "sales_deals",
        "AFTER UPDATE OF owner_id, currency ON sales_deals "
        "FOR EACH ROW EXECUTE FUNCTION sales_deals_stage_entries()",
    ),
    "sales_deals_entries_delete": (
        "sales_deals",
        "BEFORE DELETE ON sales_deals FOR EACH ROW EXECUTE FUNCTION sales_deals_stage_entries()",
    ),
}


def create_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_CHANGES_FUNCTION)
        op.execute(POSTGRES_DEALS_FUNCTION)
        for name, (_table, body) in POSTGRES_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
        return
    for name, body in SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, (table, _body) in POSTGRES_TRIGGERS.items():
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS sales_stage_changes_entries()")
        op.execute("DROP FUNCTION IF EXISTS sales_deals_stage_entries()")
        return
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")


def rebuild_statements(dialect: str) -> list[str]:
    """Statements that compute ``previous_at`` and ``sales_stage_entries`` from the stage
    changes and deals (the triggers off or not yet created)."""
    return [
        "UPDATE sales_stage_changes SET previous_at = NULL WHERE previous_at IS NOT NULL",
        # Only the re-entries get a value: a few percent of the rows.
        "UPDATE sales_stage_changes SET previous_at = r.previous FROM ("
        "SELECT id, previous FROM (SELECT id, lag(at) OVER (PARTITION BY deal_id, to_stage_id "
        "ORDER BY at, id) AS previous FROM sales_stage_changes) AS ordered "
        "WHERE previous IS NOT NULL) AS r WHERE sales_stage_changes.id = r.id",
        "DELETE FROM sales_stage_entries",
        "INSERT INTO sales_stage_entries (stage_id, day, owner_key, currency, entries) "
        f"SELECT c.to_stage_id, {day('c.at', dialect)}, coalesce(d.owner_id, 0), d.currency, "
        "count(*) FROM sales_stage_changes c JOIN sales_deals d ON d.id = c.deal_id "
        f"GROUP BY c.to_stage_id, {day('c.at', dialect)}, coalesce(d.owner_id, 0), d.currency",
    ]


# ABC of clients reads the won deals of a period from this index alone: the won stage,
# the closing time, then what the sum and the filters need.
WON_COLUMNS = ["stage_id", "closed_at", "client_id", "amount", "owner_id", "pipeline_id", "currency"]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column("sales_stage_changes", sa.Column("previous_at", sa.DateTime(), nullable=True))
    op.create_table(
        "sales_stage_entries",
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("owner_key", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["sales_stages.id"],
            name=op.f("fk_sales_stage_entries_stage_id_sales_stages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "stage_id", "day", "owner_key", "currency", name=op.f("pk_sales_stage_entries")
        ),
        sqlite_with_rowid=False,
    )
    for statement in rebuild_statements(dialect):
        op.execute(statement)
    op.create_index(
        "ix_sales_stage_changes_reentries",
        "sales_stage_changes",
        ["to_stage_id", "at", "previous_at", "deal_id"],
        unique=False,
        sqlite_where=sa.text("previous_at IS NOT NULL"),
        postgresql_where=sa.text("previous_at IS NOT NULL"),
    )
    op.create_index("ix_sales_deals_won", "sales_deals", WON_COLUMNS, unique=False)
    create_triggers()


def downgrade() -> None:
    drop_triggers()
    op.drop_index("ix_sales_deals_won", table_name="sales_deals")
    op.drop_index("ix_sales_stage_changes_reentries", table_name="sales_stage_changes")
    op.drop_table("sales_stage_entries")
    with op.batch_alter_table("sales_stage_changes", schema=None) as batch_op:
        batch_op.drop_column("previous_at")
