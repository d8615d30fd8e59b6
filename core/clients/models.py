"""Clients (companies and people), their phones, e-mails, addresses, tags, contact persons,
relations, the admin-defined option lists and custom fields, and saved filters."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.audit.models import Audited
from core.db import BusinessMixin, db, utcnow

KINDS = ("company", "person")
RELATION_KINDS = ("subsidiary_of", "partner", "competitor", "supplier")
LIVE = sa.text("deleted_at IS NULL")
TRASHED = sa.text("deleted_at IS NOT NULL")

client_tags = sa.Table(
    "client_tags",
    db.metadata,
    sa.Column("client_id", sa.ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag_id", sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    sa.Index("ix_client_tags_tag", "tag_id", "client_id"),
)


class Tag(db.Model):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(60), unique=True)


class Client(Audited, BusinessMixin, db.Model):
    __tablename__ = "clients"
    __table_args__ = (
        # The clients merged into one (its card and timeline show their history); only
        # merged clients are indexed.
        sa.Index(
            "ix_clients_merged_into",
            "merged_into_id",
            sqlite_where=sa.text("merged_into_id IS NOT NULL"),
            postgresql_where=sa.text("merged_into_id IS NOT NULL"),
        ),
        # Keyset pages over live clients: every sort order has an index ending in id.
        sa.Index(
            "ix_clients_live_name", "name_key", "id", sqlite_where=LIVE, postgresql_where=LIVE
        ),
        sa.Index(
            "ix_clients_live_owner_name",
            "owner_id",
            "name_key",
            "id",
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        ),
        sa.Index(
            "ix_clients_live_status_name",
            "status",
            "name_key",
            "id",
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        ),
        sa.Index(
            "ix_clients_live_created", "created_at", "id", sqlite_where=LIVE, postgresql_where=LIVE
        ),
        sa.Index(
            "ix_clients_live_updated", "updated_at", "id", sqlite_where=LIVE, postgresql_where=LIVE
        ),
        sa.Index(
            "ix_clients_live_next_contact",
            "next_contact_on",
            "id",
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        ),
        sa.Index("ix_clients_tax_id_key", "tax_id_key"),
        # Only the trash: an index over every deleted_at would look selective for
        # "deleted_at IS NULL" to a planner without statistics, which then scans it.
        sa.Index("ix_clients_trash", "deleted_at", sqlite_where=TRASHED, postgresql_where=TRASHED),
    )

    kind: Mapped[str] = mapped_column(sa.String(16), default="company")
    name: Mapped[str] = mapped_column(sa.String(300))
    name_key: Mapped[str] = mapped_column(sa.String(300))
    legal_name: Mapped[str | None] = mapped_column(sa.String(300), nullable=True)
    tax_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    tax_id_key: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    industry: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)
    status: Mapped[str] = mapped_column(sa.String(40), default="lead")
    category: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)
    source: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    owner_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    next_contact_on: Mapped[date | None] = mapped_column(nullable=True)
    website: Mapped[str | None] = mapped_column(sa.String(300), nullable=True)
    custom: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    deleted_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    # Set on a client merged into another: it stays in the trash, pointing at the survivor.
    merged_into_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="SET NULL"), nullable=True
    )

    owner = relationship("User", foreign_keys=[owner_id])
    # Phones and e-mails are written by core.clients.services (the company's own and its
    # contact persons' share a table, so a search by phone finds the company either way).
    phones: Mapped[list[Phone]] = relationship(
        viewonly=True,
        order_by="Phone.id",
        primaryjoin="and_(Phone.client_id == Client.id, Phone.contact_person_id.is_(None))",
    )
    emails: Mapped[list[Email]] = relationship(
        viewonly=True,
        order_by="Email.id",
        primaryjoin="and_(Email.client_id == Client.id, Email.contact_person_id.is_(None))",
    )
    addresses: Mapped[list[Address]] = relationship(
        back_populates="client", cascade="all, delete-orphan", order_by="Address.id"
    )
    tags: Mapped[list[Tag]] = relationship(secondary=client_tags, order_by="Tag.name")
    # passive_deletes: purging a client lets the database cascade to its contact persons.
    contacts: Mapped[list[ContactPerson]] = relationship(
        back_populates="client",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ContactPerson.last_name",
        foreign_keys="ContactPerson.client_id",
    )

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Phone(db.Model):
    """A phone of a client, or of one of its contact persons (``contact_person_id`` set)."""

    __tablename__ = "client_phones"
    __table_args__ = (
        # A client's own phones in id order with their numbers, without reading the table:
        # what the list, the card and the CSV export read (its index, the client_id one).
        sa.Index("ix_client_phones_by_client", "client_id", "contact_person_id", "id", "e164"),
        sa.Index("ix_client_phones_e164", "e164"),
        sa.Index("ix_client_phones_digits_rev", "digits_rev"),
        # Most phones belong to the company itself: index only the contact persons' ones.
        sa.Index(
            "ix_client_phones_contact_person_id",
            "contact_person_id",
            sqlite_where=sa.text("contact_person_id IS NOT NULL"),
            postgresql_where=sa.text("contact_person_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    contact_person_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contact_persons.id", ondelete="CASCADE"), nullable=True
    )
    kind: Mapped[str] = mapped_column(sa.String(20), default="work")
    e164: Mapped[str] = mapped_column(sa.String(20))
    digits_rev: Mapped[str] = mapped_column(sa.String(20))


class Email(db.Model):
    __tablename__ = "client_emails"
    __table_args__ = (
        # As the phones' (ix_client_phones_by_client).
        sa.Index("ix_client_emails_by_client", "client_id", "contact_person_id", "id", "email"),
        sa.Index(
            "ix_client_emails_contact_person_id",
            "contact_person_id",
            sqlite_where=sa.text("contact_person_id IS NOT NULL"),
            postgresql_where=sa.text("contact_person_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    contact_person_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contact_persons.id", ondelete="CASCADE"), nullable=True
    )
    kind: Mapped[str] = mapped_column(sa.String(20), default="work")
    email: Mapped[str] = mapped_column(sa.String(254), index=True)


class Address(db.Model):
    __tablename__ = "client_addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(20), default="legal")
    country: Mapped[str] = mapped_column(sa.String(80), default="")
    region: Mapped[str] = mapped_column(sa.String(120), default="")
    city: Mapped[str] = mapped_column(sa.String(120), default="")
    postcode: Mapped[str] = mapped_column(sa.String(20), default="")
    street: Mapped[str] = mapped_column(sa.String(300), default="")

    client: Mapped[Client] = relationship(back_populates="addresses")

    def one_line(self) -> str:
        parts = [self.street, self.city, self.region, self.postcode, self.country]
        return ", ".join(p for p in parts if p)


class ContactPerson(Audited, BusinessMixin, db.Model):
    __tablename__ = "contact_persons"

    client_id: Mapped[int] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    first_name: Mapped[str] = mapped_column(sa.String(100), default="")
    middle_name: Mapped[str] = mapped_column(sa.String(100), default="")
    last_name: Mapped[str] = mapped_column(sa.String(100), default="")
    position: Mapped[str] = mapped_column(sa.String(200), default="")
    birthday: Mapped[date | None] = mapped_column(nullable=True)
    notes: Mapped[str] = mapped_column(sa.Text, default="")

    client: Mapped[Client] = relationship(back_populates="contacts", foreign_keys=[client_id])
    phones: Mapped[list[Phone]] = relationship(viewonly=True, order_by="Phone.id")
    emails: Mapped[list[Email]] = relationship(viewonly=True, order_by="Email.id")

    @property
    def full_name(self) -> str:
        return full_name(self.first_name, self.middle_name, self.last_name)


def full_name(first: str | None, middle: str | None, last: str | None) -> str:
    """A person's name as shown: the parts there are, in that order."""
    return " ".join(p for p in (first, middle, last) if p)


class ContactMove(db.Model):
    """A contact person moving from one company to another: the history is kept."""

    __tablename__ = "contact_person_moves"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_person_id: Mapped[int] = mapped_column(
        sa.ForeignKey("contact_persons.id", ondelete="CASCADE"), index=True
    )
    from_client_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="SET NULL"), nullable=True, index=True
    )
    to_client_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="SET NULL"), nullable=True, index=True
    )
    old_position: Mapped[str] = mapped_column(sa.String(200), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )


class ClientRelation(db.Model):
    """``client`` is ``kind`` of ``other`` (subsidiary_of, partner, competitor, supplier)."""

    __tablename__ = "client_relations"
    __table_args__ = (sa.UniqueConstraint("client_id", "other_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    other_id: Mapped[int] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    client: Mapped[Client] = relationship(foreign_keys=[client_id])
    other: Mapped[Client] = relationship(foreign_keys=[other_id])


class ClientOption(db.Model):
    """Admin-defined values of the client's status, source and industry lists."""

    __tablename__ = "client_options"
    __table_args__ = (sa.UniqueConstraint("list", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list: Mapped[str] = mapped_column(sa.String(20))  # status, source, industry
    code: Mapped[str] = mapped_column(sa.String(40))
    label: Mapped[str] = mapped_column(sa.String(120))
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)


class CustomField(Audited, BusinessMixin, db.Model):
    """A field an admin adds to every client: its value lives in ``Client.custom[key]``."""

    __tablename__ = "custom_fields"

    key: Mapped[str] = mapped_column(sa.String(40), unique=True)
    label: Mapped[str] = mapped_column(sa.String(120))
    kind: Mapped[str] = mapped_column(sa.String(20))  # text number date choice multi bool
    choices: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    required: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)


class SavedFilter(db.Model):
    __tablename__ = "saved_filters"
    __table_args__ = (sa.UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
