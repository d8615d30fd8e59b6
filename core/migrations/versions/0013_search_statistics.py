"""client search on PostgreSQL: a finer sample of the words for the planner

Revision ID: 0013_search_statistics
Revises: 0012_phones_emails_by_client
Create Date: 2026-11-26

A word search lists the newest clients whose words start with what was typed
(``document @@ 'terra':*``), 50 at a time. PostgreSQL picks its plan by how many clients
it expects to match: few, and it reads every match from the GIN index and sorts them;
many, and it walks the clients newest first and keeps the matches until it has 50. With
the default statistics (100) its sample of the words was too coarse for prefixes: at a
million clients it expected 529 matches for a word 24,849 clients have, read them all and
sorted them (100-130 ms a page, instead of 0.4 ms). A statistics target of 1,000 on the
search documents gives it the right count (24,767). SQLite's full-text search has no such
planner choice (core.clients.search's candidates); nothing to do there.
"""

from alembic import op

revision = "0013_search_statistics"
down_revision = "0012_phones_emails_by_client"
branch_labels = None
depends_on = None

TARGET = 1000


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE client_search ALTER COLUMN document SET STATISTICS {TARGET}")
        op.execute("ANALYZE client_search")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE client_search ALTER COLUMN document SET STATISTICS -1")
