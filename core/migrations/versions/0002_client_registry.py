"""client registry

Revision ID: 0002_clients
Revises: 0001_core
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

# The values an installation starts with; admins add their own later.
DEFAULT_OPTIONS = {
    "status": [
        ("lead", "Lead"),
        ("prospect", "Prospect"),
        ("customer", "Customer"),
        ("former", "Former"),
    ],
    "source": [
        ("website", "Website"),
        ("call", "Call"),
        ("mailing", "Mailing"),
        ("exhibition", "Exhibition"),
        ("referral", "Referral"),
    ],
}


revision = "0002_clients"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_options",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list", sa.String(length=20), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_options")),
        sa.UniqueConstraint("list", "code", name=op.f("uq_client_options_list")),
    )
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_tags_name")),
    )
    op.create_table(
        "clients",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("name_key", sa.String(length=300), nullable=False),
        sa.Column("legal_name", sa.String(length=300), nullable=True),
        sa.Column("tax_id", sa.String(length=40), nullable=True),
        sa.Column("tax_id_key", sa.String(length=40), nullable=True),
        sa.Column("industry", sa.String(length=120), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=120), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("next_contact_on", sa.Date(), nullable=True),
        sa.Column("website", sa.String(length=300), nullable=True),
        sa.Column("custom", sa.JSON(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column("deleted_by_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_clients_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by_id"],
            ["users.id"],
            name=op.f("fk_clients_deleted_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_clients_owner_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
    )
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.create_index("ix_clients_deleted", ["deleted_at"], unique=False)
        batch_op.create_index(
            "ix_clients_live_created",
            ["created_at", "id"],
            unique=False,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_index(
            "ix_clients_live_name",
            ["name_key", "id"],
            unique=False,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_index(
            "ix_clients_live_next_contact",
            ["next_contact_on", "id"],
            unique=False,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_index(
            "ix_clients_live_owner_name",
            ["owner_id", "name_key", "id"],
            unique=False,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_index(
            "ix_clients_live_status_name",
            ["status", "name_key", "id"],
            unique=False,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_index(
            "ix_clients_live_updated",
            ["updated_at", "id"],
            unique=False,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_index("ix_clients_tax_id_key", ["tax_id_key"], unique=False)

    op.create_table(
        "custom_fields",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_custom_fields_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_fields")),
        sa.UniqueConstraint("key", name=op.f("uq_custom_fields_key")),
    )
    op.create_table(
        "saved_filters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_saved_filters_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_filters")),
        sa.UniqueConstraint("user_id", "name", name=op.f("uq_saved_filters_user_id")),
    )
    with op.batch_alter_table("saved_filters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_saved_filters_user_id"), ["user_id"], unique=False)

    op.create_table(
        "client_addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=80), nullable=False),
        sa.Column("region", sa.String(length=120), nullable=False),
        sa.Column("city", sa.String(length=120), nullable=False),
        sa.Column("postcode", sa.String(length=20), nullable=False),
        sa.Column("street", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_addresses_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_addresses")),
    )
    with op.batch_alter_table("client_addresses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_client_addresses_client_id"), ["client_id"], unique=False
        )

    op.create_table(
        "client_relations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("other_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_relations_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["other_id"],
            ["clients.id"],
            name=op.f("fk_client_relations_other_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_relations")),
        sa.UniqueConstraint(
            "client_id", "other_id", "kind", name=op.f("uq_client_relations_client_id")
        ),
    )
    with op.batch_alter_table("client_relations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_client_relations_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_client_relations_other_id"), ["other_id"], unique=False
        )

    op.create_table(
        "client_tags",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_tags_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_client_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("client_id", "tag_id", name=op.f("pk_client_tags")),
    )
    with op.batch_alter_table("client_tags", schema=None) as batch_op:
        batch_op.create_index("ix_client_tags_tag", ["tag_id", "client_id"], unique=False)

    op.create_table(
        "contact_persons",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("middle_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.String(length=200), nullable=False),
        sa.Column("birthday", sa.Date(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_contact_persons_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_contact_persons_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_persons")),
    )
    with op.batch_alter_table("contact_persons", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_persons_client_id"), ["client_id"], unique=False
        )

    op.create_table(
        "client_emails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("contact_person_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_emails_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_person_id"],
            ["contact_persons.id"],
            name=op.f("fk_client_emails_contact_person_id_contact_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_emails")),
    )
    with op.batch_alter_table("client_emails", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_client_emails_client_id"), ["client_id"], unique=False)
        batch_op.create_index(
            "ix_client_emails_contact_person_id",
            ["contact_person_id"],
            unique=False,
            sqlite_where=sa.text("contact_person_id IS NOT NULL"),
            postgresql_where=sa.text("contact_person_id IS NOT NULL"),
        )
        batch_op.create_index(batch_op.f("ix_client_emails_email"), ["email"], unique=False)

    op.create_table(
        "client_phones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("contact_person_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("e164", sa.String(length=20), nullable=False),
        sa.Column("digits_rev", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_phones_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_person_id"],
            ["contact_persons.id"],
            name=op.f("fk_client_phones_contact_person_id_contact_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_phones")),
    )
    with op.batch_alter_table("client_phones", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_client_phones_client_id"), ["client_id"], unique=False)
        batch_op.create_index(
            "ix_client_phones_contact_person_id",
            ["contact_person_id"],
            unique=False,
            sqlite_where=sa.text("contact_person_id IS NOT NULL"),
            postgresql_where=sa.text("contact_person_id IS NOT NULL"),
        )
        batch_op.create_index("ix_client_phones_digits_rev", ["digits_rev"], unique=False)
        batch_op.create_index("ix_client_phones_e164", ["e164"], unique=False)

    op.create_table(
        "contact_person_moves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_person_id", sa.Integer(), nullable=False),
        sa.Column("from_client_id", sa.Integer(), nullable=True),
        sa.Column("to_client_id", sa.Integer(), nullable=True),
        sa.Column("old_position", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["by_id"],
            ["users.id"],
            name=op.f("fk_contact_person_moves_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["contact_person_id"],
            ["contact_persons.id"],
            name=op.f("fk_contact_person_moves_contact_person_id_contact_persons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["from_client_id"],
            ["clients.id"],
            name=op.f("fk_contact_person_moves_from_client_id_clients"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["to_client_id"],
            ["clients.id"],
            name=op.f("fk_contact_person_moves_to_client_id_clients"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_person_moves")),
    )
    with op.batch_alter_table("contact_person_moves", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_person_moves_contact_person_id"),
            ["contact_person_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_contact_person_moves_from_client_id"), ["from_client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contact_person_moves_to_client_id"), ["to_client_id"], unique=False
        )

    # Full-text search: FTS5 on SQLite, a tsvector table on PostgreSQL (core.clients.search).
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TABLE client_search (client_id INTEGER PRIMARY KEY "
            "REFERENCES clients(id) ON DELETE CASCADE, document tsvector NOT NULL)"
        )
        op.execute("CREATE INDEX ix_client_search_document ON client_search USING gin (document)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE clients_fts USING fts5(doc, "
            "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
        )
    options = sa.table(
        "client_options",
        sa.column("list", sa.String),
        sa.column("code", sa.String),
        sa.column("label", sa.String),
        sa.column("position", sa.Integer),
        sa.column("active", sa.Boolean),
    )
    op.bulk_insert(
        options,
        [
            {"list": name, "code": code, "label": label, "position": i, "active": True}
            for name, values in DEFAULT_OPTIONS.items()
            for i, (code, label) in enumerate(values)
        ],
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS client_search")
    op.execute("DROP TABLE IF EXISTS clients_fts")
    with op.batch_alter_table("contact_person_moves", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_person_moves_to_client_id"))
        batch_op.drop_index(batch_op.f("ix_contact_person_moves_from_client_id"))
        batch_op.drop_index(batch_op.f("ix_contact_person_moves_contact_person_id"))

    op.drop_table("contact_person_moves")
    with op.batch_alter_table("client_phones", schema=None) as batch_op:
        batch_op.drop_index("ix_client_phones_e164")
        batch_op.drop_index("ix_client_phones_digits_rev")
        batch_op.drop_index("ix_client_phones_contact_person_id")
        batch_op.drop_index(batch_op.f("ix_client_phones_client_id"))

    op.drop_table("client_phones")
    with op.batch_alter_table("client_emails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_emails_email"))
        batch_op.drop_index("ix_client_emails_contact_person_id")
        batch_op.drop_index(batch_op.f("ix_client_emails_client_id"))

    op.drop_table("client_emails")
    with op.batch_alter_table("contact_persons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_persons_client_id"))

    op.drop_table("contact_persons")
    with op.batch_alter_table("client_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_client_tags_tag")

    op.drop_table("client_tags")
    with op.batch_alter_table("client_relations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_relations_other_id"))
        batch_op.drop_index(batch_op.f("ix_client_relations_client_id"))

    op.drop_table("client_relations")
    with op.batch_alter_table("client_addresses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_addresses_client_id"))

    op.drop_table("client_addresses")
    with op.batch_alter_table("saved_filters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_saved_filters_user_id"))

    op.drop_table("saved_filters")
    op.drop_table("custom_fields")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_index("ix_clients_tax_id_key")
        batch_op.drop_index(
            "ix_clients_live_updated",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(
            "ix_clients_live_status_name",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(
            "ix_clients_live_owner_name",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(
            "ix_clients_live_next_contact",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(
            "ix_clients_live_name",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(
            "ix_clients_live_created",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index("ix_clients_deleted")

    op.drop_table("clients")
    op.drop_table("tags")
    op.drop_table("client_options")
