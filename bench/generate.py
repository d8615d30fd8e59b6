"""Fill a CRM database with realistic generated data, fast and deterministically.

    python bench/generate.py --database sqlite:///bench/data/crm.sqlite3 --clients 1000000

Creates the schema with the migrations (as `crm init` does), then writes users in teams,
clients (companies and people with Latin and Cyrillic names), phones, e-mails, tags,
contact persons and the full-text index, then the clients' interactions (calls, meetings,
e-mails, notes...) and tasks linked to them. Unless ``--deals-per-client 0``, the sales
plugin is enabled as an admin enables it (its migrations, its default pipeline "Sales" and
lost reasons) and gets a second pipeline, 500 products in 20 groups and
``round(rate x clients)`` deals over the last year with their stage changes and lines
(see ``Deals``); the bench roles get the sales permissions and a "sales.deals" scope equal
to their clients scope. The rows are generated in a second process and written through
the DBAPI in batches of 50,000 clients: executemany on SQLite (no journal, no fsync,
secondary indexes and the sales triggers dropped and rebuilt after the load, what they
keep (the board's stage totals, the funnel's stage entries and re-entries) computed once,
the full-text index merged once, WAL restored at the end), COPY on PostgreSQL (the sales
triggers disabled during the load). A SQLite file is written under
``<name>.partial`` and renamed when complete. The schema is exactly what the migrations
create. The same --seed gives the same data (interactions, tasks and deals draw from
their own random streams, so adding them left the clients' rows as they were). Prints
rows per second.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import pickle
import random
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BATCH = 50_000

LATIN_WORDS = [
    "Nord",
    "Vest",
    "Alfa",
    "Prim",
    "Terra",
    "Lux",
    "Agro",
    "Tehno",
    "Euro",
    "Casa",
    "Delta",
    "Orion",
    "Vita",
    "Auto",
    "Stil",
    "Mega",
    "Optim",
    "Bau",
    "Holz",
    "Fenster",
    "Glas",
    "Metall",
    "Trans",
    "Logistik",
    "Invest",
    "Construct",
    "Grup",
    "Service",
]
CYRILLIC_WORDS = [
    "Ромашка",
    "Север",
    "Восток",
    "Альфа",
    "Прима",
    "Терра",
    "Люкс",
    "Агро",
    "Техно",
    "Строй",
    "Окна",
    "Двери",
    "Монолит",
    "Гарант",
    "Вектор",
    "Сфера",
    "Орбита",
    "Лидер",
    "Профи",
    "Меридиан",
    "Каскад",
    "Эталон",
    "Новатор",
    "Форт",
]
LATIN_FORMS = ["SRL", "SA", "GmbH", "AG", "LLC", "Ltd", "KG", "II"]
CYRILLIC_FORMS = ["ООО", "АО", "ИП", "ПАО"]
FIRST = [
    "Ivan",
    "Maria",
    "Andrei",
    "Elena",
    "Mihai",
    "Ana",
    "Stefan",
    "Julia",
    "Thomas",
    "Anna",
    "Иван",
    "Мария",
    "Алексей",
    "Ольга",
    "Дмитрий",
    "Наталья",
    "Сергей",
    "Екатерина",
]
MIDDLE = ["", "", "", "Petrovich", "Ivanovna", "Петрович", "Ивановна", "Сергеевич", "Алексеевна"]
LAST = [
    "Popescu",
    "Rusu",
    "Ionescu",
    "Ceban",
    "Müller",
    "Schmidt",
    "Weber",
    "Becker",
    "Иванов",
    "Смирнова",
    "Кузнецов",
    "Попова",
    "Соколов",
    "Лебедева",
    "Новиков",
]
TRANSLIT = str.maketrans(
    {
        "а": "a",
        "б": "b",
        "в": "v",
        "г": "g",
        "д": "d",
        "е": "e",
        "ё": "e",
        "ж": "zh",
        "з": "z",
        "и": "i",
        "й": "y",
        "к": "k",
        "л": "l",
        "м": "m",
        "н": "n",
        "о": "o",
        "п": "p",
        "р": "r",
        "с": "s",
        "т": "t",
        "у": "u",
        "ф": "f",
        "х": "h",
        "ц": "ts",
        "ч": "ch",
        "ш": "sh",
        "щ": "sch",
        "ъ": "",
        "ы": "y",
        "ь": "",
        "э": "e",
        "ю": "yu",
        "я": "ya",
        "ü": "u",
        "ö": "o",
        "ä": "a",
        "ß": "ss",
        "ș": "s",
        "ț": "t",
        "ă": "a",
        "â": "a",
        "î": "i",
    }
)
COUNTRIES = [("+373", 8, "22"), ("+40", 9, "21"), ("+7", 10, "495"), ("+49", 10, "30")]
STATUSES = ["lead", "prospect", "customer", "former"]
SOURCES = ["website", "call", "mailing", "exhibition", "referral", None]
INDUSTRIES = ["Construction", "Retail", "Manufacturing", "Logistics", "IT", "Agriculture", None]
TAGS = [
    "vip",
    "windows",
    "doors",
    "blinds",
    "wholesale",
    "newsletter",
    "partner",
    "debtor",
    "north",
    "south",
    "east",
    "west",
]


def slug(text: str) -> str:
    out = text.lower().translate(TRANSLIT)
    return "".join(c for c in out if c.isalnum()) or "x"


def name_key(text: str) -> str:
    from core.clients.normalise import name_key as key

    return key(text)


class Dice:
    """Uniform picks from one seeded ``random.Random``, cheaper than its ``choice`` and
    ``randrange`` (which this generator calls tens of millions of times)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.random = self.rng.random

    def pick(self, seq):
        return seq[int(self.random() * len(seq))]

    def below(self, n: int) -> int:
        return int(self.random() * n)

    def sample(self, seq, k: int) -> list:
        return self.rng.sample(seq, k)


def company_name(dice: Dice) -> str:
    pick = dice.pick
    if dice.random() < 0.45:
        return f"{pick(CYRILLIC_FORMS)} «{pick(CYRILLIC_WORDS)} {pick(CYRILLIC_WORDS)}»"
    return f"{pick(LATIN_WORDS)}{pick(LATIN_WORDS).lower()} {pick(LATIN_FORMS)}"


def person_name(dice: Dice) -> tuple[str, str, str]:
    return dice.pick(FIRST), dice.pick(MIDDLE), dice.pick(LAST)


def phone(dice: Dice) -> str:
    code, length, area = dice.pick(COUNTRIES)
    low = 10 ** (length - len(area) - 1)
    return f"{code}{area}{low + dice.below(9 * low)}"


def setup_schema(url: str, instance: Path, sales: bool = False):
    """Migrate and create the admin role, as `crm init` does; with ``sales``, enable the
    sales plugin as an admin does (its migrations, its default pipeline and lost reasons)."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("CRM_INSTANCE_PATH", str(instance))
    from core import create_app
    from core.cli import ensure_admin_role, upgrade_core
    from core.db import db
    from core.plugin_system import services as plugin_services

    app = create_app({"CRM_PASSWORD_HASH_COST": "low"})
    with app.app_context():
        upgrade_core(app)
        plugin_services.sync_discovered(app)
        ensure_admin_role()
        if sales:
            plugin_services.enable("sales", app)
        db.session.remove()
        db.engine.dispose()
    return app


def timed(label: str, rows: int, started: float) -> None:
    seconds = time.perf_counter() - started
    rate = rows / seconds if seconds else float("inf")
    print(f"{label:14} {rows:>10,} rows in {seconds:7.1f} s = {rate:>10,.0f} rows/s", flush=True)


# --- the rows ---------------------------------------------------------------------------

# Column order of the tuples the generator yields; the writers insert exactly these.
COLUMNS = {
    "clients": (
        "id",
        "kind",
        "name",
        "name_key",
        "tax_id",
        "tax_id_key",
        "industry",
        "status",
        "source",
        "owner_id",
        "notes",
        "custom",
        "next_contact_on",
        "created_at",
        "updated_at",
        "version",
    ),
    "contact_persons": (
        "id",
        "client_id",
        "first_name",
        "middle_name",
        "last_name",
        "position",
        "notes",
        "created_at",
        "updated_at",
        "version",
    ),
    "client_phones": ("client_id", "contact_person_id", "kind", "e164", "digits_rev"),
    "client_emails": ("client_id", "contact_person_id", "kind", "email"),
    "client_tags": ("client_id", "tag_id"),
    "interactions": (
        "id",
        "client_id",
        "contact_person_id",
        "kind",
        "direction",
        "channel",
        "subject",
        "text",
        "outcome",
        "duration_minutes",
        "occurred_at",
        "user_id",
        "created_at",
        "updated_at",
        "version",
        "created_by_id",
    ),
    "tasks": (
        "id",
        "title",
        "description",
        "assignee_id",
        "due_at",
        "priority",
        "status",
        "result",
        "completed_at",
        "record_kind",
        "record_id",
        "reminded_at",
        "overdue_notified_at",
        "created_at",
        "updated_at",
        "version",
        "created_by_id",
    ),
    "sales_deals": (
        "id",
        "title",
        "title_key",
        "client_id",
        "contact_person_id",
        "pipeline_id",
        "stage_id",
        "owner_id",
        "amount",
        "currency",
        "expected_close_on",
        "source",
        "campaign",
        "utm",
        "lost_reason_id",
        "lost_note",
        "closed_at",
        "stage_entered_at",
        "notes",
        "created_at",
        "updated_at",
        "version",
        "created_by_id",
    ),
    "sales_stage_changes": (
        "id",
        "deal_id",
        "pipeline_id",
        "from_stage_id",
        "to_stage_id",
        "at",
        "by_id",
        "note",
    ),
    "sales_deal_lines": (
        "id",
        "deal_id",
        "product_id",
        "position",
        "name",
        "unit",
        "quantity",
        "price",
        "discount_percent",
        "vat_rate",
        "net_amount",
        "vat_amount",
        "total_amount",
    ),
    "audit_log": ("id", "at", "user_id", "entity", "entity_id", "action", "changes"),
}
# Parents before children (foreign keys); the full-text rows go last.
TABLES = (
    "clients",
    "contact_persons",
    "client_phones",
    "client_emails",
    "client_tags",
    "interactions",
    "tasks",
    "sales_deals",
    "sales_stage_changes",
    "sales_deal_lines",
    "audit_log",
)
SALES_TABLES = ("sales_deals", "sales_stage_changes", "sales_deal_lines")
POSITIONS = ("Director", "Buyer", "Accountant", "Engineer")
CLIENT_DOMAINS = ("mail.md", "gmail.com", "yandex.ru", "web.de")
CONTACT_DOMAINS = ("mail.md", "gmail.com", "mail.ru")


def stamp(moment: datetime) -> str:
    """A DATETIME as SQLAlchemy stores it on SQLite (PostgreSQL parses the same text)."""
    return moment.isoformat(" ", "microseconds")


def client_batches(
    dice: Dice,
    clients: int,
    contacts_per_company: float,
    user_ids: list[int],
    tag_names: dict[int, str],
    now: datetime,
    batch: int = BATCH,
    activity: Activity | None = None,
    deals: Deals | None = None,
    history: History | None = None,
) -> Iterator[dict[str, list[tuple]]]:
    """The clients and everything hanging off them, ``batch`` clients at a time, as tuples
    in ``COLUMNS`` order plus ``fts``: (client id, the document the app's reindex writes).

    Names come from small vocabularies, so their keys and slugs are computed once each.
    With ``activity``, each batch also holds the clients' interactions and tasks (drawn
    from the activity's own random streams, after the clients'); with ``deals``, their
    deals, stage changes and deal lines (from another stream of their own); with
    ``history``, the clients' audit log (from a stream of its own too).
    """
    key = functools.cache(name_key)
    slug_of = functools.cache(slug)
    rand, pick, below = dice.random, dice.pick, dice.below
    tag_ids = list(tag_names)
    whole, part = int(contacts_per_company), contacts_per_company % 1
    six_years = 6 * 365 * 24 * 60
    today = date(2026, 11, 1)
    next_id = 1
    next_contact_id = 1
    for batch_start in range(0, clients, batch):
        size = min(batch, clients - batch_start)
        rows, contacts, phones, emails, tags, fts = [], [], [], [], [], []
        for cid in range(next_id, next_id + size):
            is_company = rand() < 0.7
            if is_company:
                name = company_name(dice)
            else:
                first, middle, last = person_name(dice)
                name = f"{first} {middle} {last}" if middle else f"{first} {last}"
            created = now - timedelta(minutes=below(six_years))
            created_text = stamp(created)
            tax = str(10**9 + below(9 * 10**9)) if is_company and rand() < 0.8 else None
            due = today + timedelta(days=below(180) - 60) if rand() < 0.3 else None
            rows.append(
                (
                    cid,
                    "company" if is_company else "person",
                    name,
                    key(name),
                    tax,
                    tax,
                    pick(INDUSTRIES),
                    pick(STATUSES),
                    pick(SOURCES),
                    pick(user_ids),
                    "",
                    "{}",
                    due.isoformat() if due else None,
                    created_text,
                    stamp(created + timedelta(days=below(30))),
                    1,
                )
            )
            doc = [key(name)]
            if tax:
                doc.append(tax)
            for _ in range(2 if rand() < 0.25 else 1):
                number = phone(dice)
                phones.append((cid, None, "work", number, number[:0:-1]))
                doc.append(number[1:])
            email = f"{slug_of(name)[:20]}{cid}@{pick(CLIENT_DOMAINS)}"
            emails.append((cid, None, "work", email))
            doc.append(email.replace("@", " ").replace(".", " "))
            doc.append(email)
            roll = rand()
            for tag_id in dice.sample(tag_ids, 0 if roll < 0.5 else 1 if roll < 0.75 else 2):
                tags.append((cid, tag_id))
                doc.append(tag_names[tag_id])
            if is_company:
                for _ in range(whole + (rand() < part)):
                    first, middle, last = person_name(dice)
                    doc.append(key(f"{first} {middle} {last}" if middle else f"{first} {last}"))
                    if rand() < 0.5:
                        number = phone(dice)
                        phones.append((cid, next_contact_id, "mobile", number, number[:0:-1]))
                        doc.append(number[1:])
                    if rand() < 0.5:
                        address = (
                            f"{slug_of(first)}.{slug_of(last)}{next_contact_id}"
                            f"@{pick(CONTACT_DOMAINS)}"
                        )
                        emails.append((cid, next_contact_id, "work", address))
                        doc.append(address.replace("@", " ").replace(".", " "))
                        doc.append(address)
                    contacts.append(
                        (
                            next_contact_id,
                            cid,
                            first,
                            middle,
                            last,
                            pick(POSITIONS),
                            "",
                            created_text,
                            created_text,
                            1,
                        )
                    )
                    next_contact_id += 1
            # Every part is already a name key (e-mails and digits are lower-case ASCII).
            fts.append((cid, " ".join(doc)))
        next_id += size
        interactions, tasks = activity.rows(rows, contacts, user_ids) if activity else ([], [])
        sales = deals.rows(rows, contacts_by_client(contacts), user_ids) if deals else ([], [], [])
        yield {
            "clients": rows,
            "contact_persons": contacts,
            "client_phones": phones,
            "client_emails": emails,
            "client_tags": tags,
            "interactions": interactions,
            "tasks": tasks,
            "sales_deals": sales[0],
            "sales_stage_changes": sales[1],
            "sales_deal_lines": sales[2],
            "audit_log": history.rows(rows, user_ids) if history else [],
            "fts": fts,
        }


# --- the clients' history ---------------------------------------------------------------

# The client columns an audit "create" row lists, as the app's audit writes them (every
# column with a value except the id and the timestamps), and their index in a client row.
AUDIT_CREATE_FIELDS = (
    ("kind", 1),
    ("name", 2),
    ("name_key", 3),
    ("tax_id", 4),
    ("tax_id_key", 5),
    ("industry", 6),
    ("status", 7),
    ("source", 8),
    ("owner_id", 9),
    ("notes", 10),
    ("next_contact_on", 12),
)
# What later edits change, by share: the status most, then the next contact date, the
# owner (a client handed over), the industry.
AUDIT_UPDATE_FIELDS = (
    ("status", 0.4),
    ("next_contact_on", 0.3),
    ("owner_id", 0.2),
    ("industry", 0.1),
)
AUDIT_FIELD_INDEX = dict(AUDIT_CREATE_FIELDS)


class History:
    """The audit log the app would have written for each client: its "create" entry, by
    the owner in 80 % of cases, then uniform on 0..2*rate edits at later times (status,
    next contact date, owner, industry), each naming the old and the new value, so that
    the last edit of a field ends at the client's present value. From a random stream of
    its own, so no other table changes. The card's timeline and the history API read
    these rows; without them the benchmark would time the timeline over an empty log.
    """

    def __init__(self, seed: int, per_client: float, now: datetime) -> None:
        self.dice = Dice(seed * 1_000_003 + 5)
        self.span = 2 * per_client + 1
        self.now = now
        self.next_id = 1
        self.fields = _shares(AUDIT_UPDATE_FIELDS)

    def _other(self, field: str, value, user_ids: list[int], at: datetime):
        """A value the field had before an edit at ``at``: different from ``value``."""
        pick, below = self.dice.pick, self.dice.below
        for _ in range(8):
            if field == "status":
                old = pick(STATUSES)
            elif field == "owner_id":
                old = pick(user_ids)
            elif field == "industry":
                old = pick(INDUSTRIES)
            else:
                old = (at.date() + timedelta(days=below(90) - 30)).isoformat()
            if old != value:
                return old
        return None

    def rows(self, clients: list[tuple], user_ids: list[int]) -> list[tuple]:
        dice = self.dice
        rand, pick = dice.random, dice.pick
        now = self.now
        out = []
        next_id = self.next_id
        for client in clients:
            cid, owner = client[0], client[9]  # the present owner edits
            created = datetime.fromisoformat(client[13])
            minutes = max(1, int((now - created).total_seconds() // 60))
            edits = sorted(
                (created + timedelta(minutes=1 + dice.below(minutes)), pick(self.fields))
                for _ in range(int(rand() * self.span))
            )
            # Walk the edits newest first, so each field's chain ends at its present value.
            present = {field: client[AUDIT_FIELD_INDEX[field]] for field, _ in AUDIT_UPDATE_FIELDS}
            updates = []
            for at, field in reversed(edits):
                old = self._other(field, present[field], user_ids, at)
                updates.append((at, field, old, present[field]))
                present[field] = old
            values = {field: client[index] for field, index in AUDIT_CREATE_FIELDS} | present
            created_changes = {
                field: [None, value]
                for field, _ in AUDIT_CREATE_FIELDS
                if (value := values[field]) is not None
            }
            created_changes["custom"] = [None, {}]
            out.append(
                (
                    next_id,
                    stamp(created),
                    values["owner_id"] if rand() < 0.8 else pick(user_ids),
                    "clients",
                    cid,
                    "create",
                    json.dumps(created_changes),
                )
            )
            next_id += 1
            for at, field, old, new in reversed(updates):
                out.append(
                    (
                        next_id,
                        stamp(at),
                        owner if rand() < 0.7 else pick(user_ids),
                        "clients",
                        cid,
                        "update",
                        json.dumps({field: [old, new]}),
                    )
                )
                next_id += 1
        self.next_id = next_id
        return out


# --- interactions and tasks -------------------------------------------------------------

# (kind, share): calls and e-mails most, letters and visits rarely.
INTERACTION_KINDS = (
    ("call", 0.40),
    ("email", 0.22),
    ("meeting", 0.10),
    ("note", 0.11),
    ("message", 0.09),
    ("visit", 0.05),
    ("letter", 0.03),
)
CHANNELS = {
    "call": ("phone", "mobile", "Zoom", ""),
    "email": ("e-mail", ""),
    "meeting": ("office", "client's office", "Zoom", "Teams", ""),
    "note": ("",),
    "message": ("WhatsApp", "Telegram", "Viber", "SMS"),
    "visit": ("site", "warehouse", ""),
    "letter": ("post", "courier"),
}
SUBJECTS = (
    "Price request",
    "Offer follow-up",
    "Delivery date",
    "Invoice question",
    "Contract renewal",
    "Complaint about installation",
    "Measurement appointment",
    "Discount for wholesale",
    "New catalogue",
    "Payment reminder",
    "Запрос цены",
    "Обсуждение договора",
    "Сроки поставки",
    "Вопрос по счёту",
    "Замер окон",
    "Рекламация",
    "Скидка на объём",
    "Напоминание об оплате",
    "Презентация продукции",
    "",
)
TEXTS = (
    "",
    "",
    "Asked for the updated price list and delivery terms.",
    "Agreed to send a revised offer by Friday.",
    "Client is comparing us with two other suppliers.",
    "Клиент просит перезвонить после обеда.",
    "Договорились о встрече на следующей неделе.",
    "Отправили коммерческое предложение, ждём ответа.",
)
OUTCOMES = (
    "",
    "",
    "",
    "offer sent",
    "call back later",
    "order placed",
    "no answer",
    "ждёт КП",
    "перезвонить",
    "заказ оформлен",
)
TASK_TITLES = (
    "Call back",
    "Send the offer",
    "Prepare the contract",
    "Check the payment",
    "Arrange a measurement",
    "Send the catalogue",
    "Follow up on the complaint",
    "Перезвонить клиенту",
    "Отправить КП",
    "Подготовить договор",
    "Проверить оплату",
    "Согласовать замер",
    "Выставить счёт",
)
TASK_RESULTS = ("", "", "done as agreed", "client confirmed", "готово", "клиент подтвердил")
PRIORITY_SHARES = (("normal", 0.7), ("high", 0.15), ("low", 0.15))
# What the bench roles may do in the sales plugin when it is on (their "sales.deals" scope
# is their clients scope): the board and deal cards with their move forms, the reports.
SALES_PERMISSIONS = ("sales.view", "sales.deals.edit", "sales.reports", "reports.view")


def _shares(pairs: tuple[tuple[str, float], ...]) -> list[str]:
    """A lookup list of 100 entries: picking one uniformly gives each value its share."""
    return [value for value, share in pairs for _ in range(round(share * 100))]


def contacts_by_client(contacts: list[tuple]) -> dict[int, list[int]]:
    """Client id -> the ids of its contact persons (rows in ``COLUMNS`` order)."""
    contacts_of: dict[int, list[int]] = {}
    for contact in contacts:
        contacts_of.setdefault(contact[1], []).append(contact[0])
    return contacts_of


class Activity:
    """Interactions and tasks for each batch of clients, from two random streams of their
    own (seeded from the main seed), so their rows never change the clients' and changing
    one rate leaves the other table as it was.

    Per client, the number of interactions (tasks) is uniform on 0..2*rate (rounded down),
    so its mean is about the rate. Interactions: kinds by share, a direction except for
    notes, Latin and Cyrillic subjects, over the last three years (never before the
    client was created), by the client's owner in 85 % of cases. Tasks: linked to their
    client (record_kind "client"), assigned to the owner in 70 % of cases, otherwise to any
    of the managers; due over the last three years and the next two weeks (5 % without a
    due date); past ones mostly done, a few cancelled, some still open (a fifth of those
    due in the last month, 1 % of older ones); future ones mostly open.
    """

    def __init__(
        self, seed: int, interactions_per_client: float, tasks_per_client: float, now: datetime
    ) -> None:
        self.interaction_dice = Dice(seed * 1_000_003 + 1)
        self.task_dice = Dice(seed * 1_000_003 + 2)
        self.interaction_span = 2 * interactions_per_client + 1 if interactions_per_client else 0
        self.task_span = 2 * tasks_per_client + 1 if tasks_per_client else 0
        self.now = now
        self.next_interaction_id = 1
        self.next_task_id = 1
        self.kinds = _shares(INTERACTION_KINDS)
        self.priorities = _shares(PRIORITY_SHARES)

    def rows(
        self, clients: list[tuple], contacts: list[tuple], user_ids: list[int]
    ) -> tuple[list[tuple], list[tuple]]:
        contacts_of = contacts_by_client(contacts)
        return (
            self._interactions(clients, contacts_of, user_ids) if self.interaction_span else [],
            self._tasks(clients, user_ids) if self.task_span else [],
        )

    def _interactions(self, clients, contacts_of, user_ids) -> list[tuple]:
        dice = self.interaction_dice
        rand, pick, below = dice.random, dice.pick, dice.below
        kinds, span = self.kinds, self.interaction_span
        now = self.now
        three_years = 3 * 365 * 24 * 60
        out = []
        next_id = self.next_interaction_id
        for client in clients:
            count = int(rand() * span)
            if not count:
                continue
            cid, owner = client[0], client[9]
            created = datetime.fromisoformat(client[13])
            window = min(three_years, int((now - created).total_seconds() // 60))
            people = contacts_of.get(cid)
            for _ in range(count):
                kind = pick(kinds)
                occurred = now - timedelta(minutes=below(window) if window > 0 else 0)
                user = owner if rand() < 0.85 else pick(user_ids)
                duration = None
                if kind == "call":
                    duration = 1 + below(25)
                elif kind in ("meeting", "visit"):
                    duration = 15 + 15 * below(8)
                occurred_text = stamp(occurred)
                out.append(
                    (
                        next_id,
                        cid,
                        pick(people) if people and rand() < 0.6 else None,
                        kind,
                        None if kind == "note" else ("in" if rand() < 0.45 else "out"),
                        pick(CHANNELS[kind]),
                        pick(SUBJECTS),
                        pick(TEXTS),
                        "" if kind == "note" else pick(OUTCOMES),
                        duration,
                        occurred_text,
                        user,
                        occurred_text,
                        occurred_text,
                        1,
                        user,
                    )
                )
                next_id += 1
        self.next_interaction_id = next_id
        return out

    def _tasks(self, clients, user_ids) -> list[tuple]:
        dice = self.task_dice
        rand, pick, below = dice.random, dice.pick, dice.below
        priorities, span = self.priorities, self.task_span
        now = self.now
        back = 3 * 365 * 24 * 60
        ahead = 14 * 24 * 60
        month = timedelta(days=30)
        out = []
        next_id = self.next_task_id
        for client in clients:
            count = int(rand() * span)
            for _ in range(count):
                assignee = client[9] if rand() < 0.7 else pick(user_ids)
                creator = assignee if rand() < 0.6 else pick(user_ids)
                due = None if rand() < 0.05 else now + timedelta(minutes=below(back + ahead) - back)
                roll = rand()
                if due is None:
                    status = "done" if roll < 0.7 else "open"
                elif due > now:
                    status = "open" if roll < 0.85 else "in_progress" if roll < 0.95 else "done"
                else:
                    still_open = 0.2 if now - due < month else 0.01
                    if roll < still_open:
                        status = "open" if rand() < 0.8 else "in_progress"
                    elif roll < still_open + 0.03:
                        status = "cancelled"
                    else:
                        status = "done"
                anchor = due or now - timedelta(minutes=below(back))
                created = min(anchor - timedelta(minutes=below(14 * 24 * 60)), now)
                completed = None
                if status in ("done", "cancelled"):
                    completed = min(anchor + timedelta(minutes=below(3 * 24 * 60) - 24 * 60), now)
                    completed = max(completed, created)
                overdue = due is not None and due < now and status in ("open", "in_progress")
                created_text = stamp(created)
                out.append(
                    (
                        next_id,
                        pick(TASK_TITLES),
                        "",
                        assignee,
                        stamp(due) if due else None,
                        pick(priorities),
                        status,
                        pick(TASK_RESULTS) if status == "done" else "",
                        stamp(completed) if completed else None,
                        "client",
                        client[0],
                        # Reminders and overdue notices of the past went out already.
                        stamp(due - timedelta(minutes=30)) if due and due <= now else None,
                        stamp(due + timedelta(minutes=5)) if overdue else None,
                        created_text,
                        stamp(completed) if completed else created_text,
                        1,
                        creator,
                    )
                )
                next_id += 1
        self.next_task_id = next_id
        return out


# --- deals (the sales plugin) -----------------------------------------------------------

# The second pipeline next to the plugin's default "Sales": (name, win probability %, kind).
WHOLESALE_PIPELINE = "Wholesale"
WHOLESALE_STAGES = (
    ("Request", 10, "open"),
    ("Offer", 25, "open"),
    ("Negotiation", 50, "open"),
    ("Contract", 75, "open"),
    ("Delivery", 90, "open"),
    ("Won", 100, "won"),
    ("Lost", 0, "lost"),
)
# 20 groups of 25 products (or services): (group, unit, kind, lowest price, highest price).
PRODUCT_GROUPS = (
    ("PVC windows", "pcs", "product", 120, 600),
    ("Aluminium windows", "pcs", "product", 300, 1200),
    ("Wooden windows", "pcs", "product", 400, 1500),
    ("Entrance doors", "pcs", "product", 350, 2500),
    ("Interior doors", "pcs", "product", 90, 600),
    ("Balcony doors", "pcs", "product", 250, 900),
    ("Blinds", "pcs", "product", 20, 150),
    ("Roller shutters", "pcs", "product", 80, 400),
    ("Mosquito nets", "pcs", "product", 10, 60),
    ("Window sills", "m", "product", 15, 90),
    ("Fittings", "pcs", "product", 5, 80),
    ("Glass units", "m2", "product", 30, 160),
    ("Окна ПВХ", "шт", "product", 120, 600),
    ("Двери межкомнатные", "шт", "product", 90, 600),
    ("Жалюзи", "шт", "product", 20, 150),
    ("Подоконники", "м", "product", 15, 90),
    ("Installation", "pcs", "service", 20, 120),
    ("Measurement", "visit", "service", 10, 40),
    ("Delivery", "trip", "service", 15, 80),
    ("Монтаж", "шт", "service", 20, 120),
)
DEAL_SOURCES = ("website", "call", "referral", "exhibition", "mailing", "ads", None)
VAT_RATES = (20, 20, 20, 20, 0)
DISCOUNTS = (0, 0, 0, 0, 0, 0, 5, 10, 15)
# Per move of a deal: it stays where it is (open), is lost, or steps back one stage; else it
# moves on (from the last open stage: won). About 15 % end open, a quarter won, the rest lost.
DEAL_STAY, DEAL_LOSE, DEAL_BACK = 0.02, 0.19, 0.03


def sales_catalog(conn, dice: Dice, now: datetime) -> dict:
    """What the deals refer to, next to what enabling the plugin created (the pipeline
    "Sales" with its stages, the lost reasons): a second pipeline and 500 products in 20
    groups, written with Core inserts at the generator's fixed time. Returns the ids and
    prices the deal generator needs."""
    meta = sa.MetaData()
    meta.reflect(
        conn,
        only=[
            "sales_pipelines",
            "sales_stages",
            "sales_lost_reasons",
            "sales_product_groups",
            "sales_products",
        ],
    )
    t = meta.tables
    audit = {"created_at": now, "updated_at": now, "version": 1}
    pipeline_id = conn.execute(
        t["sales_pipelines"]
        .insert()
        .values(name=WHOLESALE_PIPELINE, position=1, active=True, **audit)
    ).inserted_primary_key[0]
    conn.execute(
        t["sales_stages"].insert(),
        [
            {
                "pipeline_id": pipeline_id,
                "name": name,
                "position": position,
                "probability": probability,
                "kind": kind,
                **audit,
            }
            for position, (name, probability, kind) in enumerate(WHOLESALE_STAGES)
        ],
    )
    pipelines = []
    stages = t["sales_stages"]
    for pid in conn.execute(
        sa.select(t["sales_pipelines"].c.id).order_by(t["sales_pipelines"].c.id)
    ).scalars():
        rows = conn.execute(
            sa.select(stages.c.id, stages.c.kind)
            .where(stages.c.pipeline_id == pid, stages.c.removed_at.is_(None))
            .order_by(stages.c.position, stages.c.id)
        ).all()
        kinds = {kind: sid for sid, kind in rows if kind != "open"}
        pipelines.append(
            (pid, [sid for sid, kind in rows if kind == "open"], kinds["won"], kinds["lost"])
        )
    reasons = list(
        conn.execute(
            sa.select(t["sales_lost_reasons"].c.id).order_by(t["sales_lost_reasons"].c.id)
        ).scalars()
    )
    products = []
    for g, (group, unit, kind, low, high) in enumerate(PRODUCT_GROUPS):
        group_id = conn.execute(
            t["sales_product_groups"].insert().values(name=group, **audit)
        ).inserted_primary_key[0]
        rows = []
        for i in range(25):
            name = f"{group} {600 + 100 * (i % 5)}x{900 + 150 * (i // 5)}"
            sku = f"G{g + 1:02d}-{i + 1:03d}"
            rows.append(
                {
                    "name": name,
                    "name_key": name_key(name),
                    "sku": sku,
                    "sku_key": sku.casefold(),
                    "kind": kind,
                    "group_id": group_id,
                    "unit": unit,
                    "price": low + dice.below(high - low + 1) + dice.below(100) / 100,
                    "currency": "EUR",
                    "vat_rate": dice.pick(VAT_RATES),
                    "active": True,
                    "description": "",
                    **audit,
                }
            )
        conn.execute(t["sales_products"].insert(), rows)
    p = t["sales_products"]
    for pid, name, unit, price, vat in conn.execute(
        sa.select(p.c.id, p.c.name, p.c.unit, p.c.price, p.c.vat_rate).order_by(p.c.id)
    ):
        products.append((pid, name, unit, int(round(price * 100)), int(vat)))
    return {"pipelines": pipelines, "reasons": reasons, "products": products}


class Deals:
    """Deals of each batch of clients, from a random stream of their own (seeded from the
    main seed): the other tables do not change with them.

    ``round(rate * clients)`` deals in all, each for a client of the batch drawn at random
    (so some clients have none, some several), owned by the client's owner in 90 % of
    cases. Two thirds go to the default pipeline "Sales", the rest to "Wholesale". Each is
    created over the year up to ``now`` (never before its client), enters the first stage
    and moves on every 4 hours to 14 days: it may stay open, be lost (with a reason), step
    back a stage now and then, or pass the last open stage and be won; moves that would
    fall after ``now`` leave it open. Every entry into a stage is a stage change by the
    owner. 1-3 lines of products (quantity, the product's price and VAT, sometimes a
    discount), amounts computed as the plugin does (net and VAT rounded half up to cents);
    the deal's amount is the sum of its lines.
    """

    def __init__(self, seed: int, per_client: float, now: datetime, catalog: dict) -> None:
        self.dice = Dice(seed * 1_000_003 + 3)
        self.per_client = per_client
        self.now = now
        self.year_start = now - timedelta(days=365)
        pipelines = catalog["pipelines"]
        # The default pipeline (the first) twice as often as the second.
        self.pipelines = [pipelines[0], pipelines[0], pipelines[-1]]
        self.reasons = catalog["reasons"]
        self.products = catalog["products"]
        self.clients_done = 0
        self.next_deal_id = self.next_change_id = self.next_line_id = 1

    def rows(self, clients: list[tuple], contacts_of: dict[int, list[int]], user_ids: list[int]):
        start, self.clients_done = self.clients_done, self.clients_done + len(clients)
        count = round(self.per_client * self.clients_done) - round(self.per_client * start)
        dice = self.dice
        rand, pick, below = dice.random, dice.pick, dice.below
        key = _title_key
        now, year_start = self.now, self.year_start
        hour = timedelta(hours=1)
        products, reasons, pipelines = self.products, self.reasons, self.pipelines
        deals, changes, lines = [], [], []
        deal_id, change_id, line_id = self.next_deal_id, self.next_change_id, self.next_line_id
        for _ in range(count):
            client = pick(clients)
            cid = client[0]
            owner = client[9] if rand() < 0.9 else pick(user_ids)
            earliest = max(year_start, datetime.fromisoformat(client[13]))
            window = int((now - earliest).total_seconds())
            created = now - timedelta(seconds=below(window) if window > 0 else 0)
            pipeline_id, open_ids, won_id, lost_id = pick(pipelines)
            last = len(open_ids) - 1
            index, stage, moment = 0, open_ids[0], created
            path = [(stage, moment)]
            while True:
                moment += hour * (4 + below(24 * 14 - 4))
                if moment > now:
                    break
                roll = rand()
                if roll < DEAL_STAY:
                    break
                if roll < DEAL_STAY + DEAL_LOSE:
                    stage = lost_id
                elif roll < DEAL_STAY + DEAL_LOSE + DEAL_BACK and index > 0:
                    index -= 1
                    stage = open_ids[index]
                elif index == last:
                    stage = won_id
                else:
                    index += 1
                    stage = open_ids[index]
                path.append((stage, moment))
                if stage == won_id or stage == lost_id:
                    break
            amount = 0
            first = None
            for position in range(1 + below(3)):
                product_id, name, unit, price, vat_rate = pick(products)
                quantity = 1 + below(8)
                discount = pick(DISCOUNTS)
                net = (quantity * price * (100 - discount) + 50) // 100
                vat = (net * vat_rate + 50) // 100
                amount += net + vat
                if first is None:
                    first = (name, quantity)
                lines.append(
                    (
                        line_id,
                        deal_id,
                        product_id,
                        position,
                        name,
                        unit,
                        quantity,
                        price / 100,
                        discount,
                        vat_rate,
                        net / 100,
                        vat / 100,
                        (net + vat) / 100,
                    )
                )
                line_id += 1
            title, title_key = key(*first)
            previous = None
            for to_stage, at in path:
                changes.append(
                    (change_id, deal_id, pipeline_id, previous, to_stage, stamp(at), owner, "")
                )
                change_id += 1
                previous = to_stage
            closed = stage == won_id or stage == lost_id
            entered = stamp(path[-1][1])
            people = contacts_of.get(cid)
            deals.append(
                (
                    deal_id,
                    title,
                    title_key,
                    cid,
                    pick(people) if people and rand() < 0.5 else None,
                    pipeline_id,
                    stage,
                    owner,
                    amount / 100,
                    "EUR",
                    (created + timedelta(days=10 + below(110))).date().isoformat(),
                    pick(DEAL_SOURCES),
                    None,
                    "{}",
                    pick(reasons) if stage == lost_id else None,
                    "",
                    entered if closed else None,
                    entered,
                    "",
                    stamp(created),
                    entered,
                    len(path),
                    owner,
                )
            )
            deal_id += 1
        self.next_deal_id, self.next_change_id, self.next_line_id = deal_id, change_id, line_id
        return deals, changes, lines


@functools.cache
def _title_key(product: str, quantity: int) -> tuple[str, str]:
    """A deal's title after its first line ("PVC windows 700x900 × 3") and its name key."""
    title = f"{product} × {quantity}"
    return title, name_key(title)


def _produce(sender, args: tuple) -> None:
    try:
        for batch in client_batches(*args):
            # Pickled here, not by a feeder thread that would fight the generator for the GIL.
            sender.send_bytes(pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer
        sender.send_bytes(pickle.dumps(exc))
    sender.send_bytes(pickle.dumps(None))
    sender.close()


def generated_batches(*args) -> Iterator[dict[str, list[tuple]]]:
    """``client_batches(*args)``, generated in a second process while this one writes: the
    two cores share the work, and the data is the same as generated here."""
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    receiver, sender = context.Pipe(duplex=False)
    producer = context.Process(target=_produce, args=(sender, args), daemon=True)
    producer.start()
    sender.close()
    try:
        while (item := pickle.loads(receiver.recv_bytes())) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        receiver.close()
        producer.kill()
        producer.join()


# --- writing ----------------------------------------------------------------------------

BULK_TABLES = (*TABLES, "tags")


def _sales_migration(name: str):
    import importlib.util

    import plugins.sales

    path = Path(plugins.sales.__file__).parent / "migrations" / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"sales_migration_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stage_totals_sql() -> str:
    """The sales plugin's own statement that computes ``sales_stage_totals`` from the deals
    (its migration 0008 runs it when it creates the table and the triggers)."""
    return _sales_migration("0008_stage_totals").REBUILD


def totals_statements(dialect: str) -> list[str]:
    """Every statement that computes what the sales plugin's triggers keep, from the
    loaded deals and stage changes: the board's ``sales_stage_totals`` (migration 0008),
    the funnel's ``sales_stage_entries`` and each re-entry's ``previous_at`` (0010)."""
    return [
        "DELETE FROM sales_stage_totals",
        stage_totals_sql(),
        *_sales_migration("0010_stage_entries").rebuild_statements(dialect),
    ]


class SqliteWriter:
    """executemany straight on the sqlite3 connection, into a fresh file: no journal and no
    fsync while loading, secondary indexes dropped and built once at the end (a sort instead
    of a million random inserts), the full-text index merged into one segment."""

    def __init__(self, dbapi) -> None:
        self.db = dbapi
        self.indexes: list[tuple[str, str]] = []

    def prepare(self) -> None:
        db = self.db
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-1000000")
        db.execute("PRAGMA temp_store=MEMORY")
        db.execute("PRAGMA threads=2")
        marks = ",".join("?" * len(BULK_TABLES))
        self.indexes = db.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({marks}) ORDER BY name",
            BULK_TABLES,
        ).fetchall()
        for name, _ in self.indexes:
            db.execute(f'DROP INDEX "{name}"')
        # The triggers that keep sales_stage_totals, sales_stage_entries and previous_at:
        # those are computed once at the end.
        marks = ",".join("?" * len(SALES_TABLES))
        self.triggers = db.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
            f"AND tbl_name IN ({marks}) ORDER BY name",
            SALES_TABLES,
        ).fetchall()
        for name, _ in self.triggers:
            db.execute(f'DROP TRIGGER "{name}"')
        # Segments are merged once at the end instead of while loading.
        db.execute("INSERT INTO clients_fts (clients_fts, rank) VALUES ('automerge', 0)")
        self.statements = {
            table: f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})"
            for table, columns in COLUMNS.items()
        }
        self.statements["fts"] = "INSERT INTO clients_fts (rowid, doc) VALUES (?, ?)"

    def write(self, batch: dict[str, list[tuple]]) -> None:
        for table in (*TABLES, "fts"):
            if batch[table]:
                self.db.executemany(self.statements[table], batch[table])

    def finish(self) -> None:
        db = self.db
        started = time.perf_counter()
        for _, sql in self.indexes:
            db.execute(sql)
        print(f"  indexes built in {time.perf_counter() - started:.1f} s", flush=True)
        if self.triggers:
            started = time.perf_counter()
            for statement in totals_statements("sqlite"):
                db.execute(statement)
            for _, sql in self.triggers:
                db.execute(sql)
            print(f"  stage totals in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        db.execute("INSERT INTO clients_fts (clients_fts) VALUES ('optimize')")
        # Back to FTS5's default, as the migration left it (no row in the config table).
        db.execute("DELETE FROM clients_fts_config WHERE k = 'automerge'")
        print(f"  full-text index merged in {time.perf_counter() - started:.1f} s", flush=True)


class PostgresWriter:
    """COPY through psycopg; the full-text documents go through a temporary table so
    PostgreSQL computes the tsvectors in one statement; indexes are built after the load."""

    def __init__(self, dbapi) -> None:
        self.db = dbapi
        self.indexes: list[tuple[str, str]] = []

    def prepare(self) -> None:
        with self.db.cursor() as cur:
            cur.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                "AND tablename = ANY(%s) AND indexname NOT IN "
                "(SELECT conname FROM pg_constraint) ORDER BY indexname",
                [[*BULK_TABLES, "client_search"]],
            )
            self.indexes = cur.fetchall()
            for name, _ in self.indexes:
                cur.execute(f'DROP INDEX "{name}"')
            cur.execute("CREATE TEMPORARY TABLE generated_docs (client_id integer, doc text)")
            cur.execute("SELECT to_regclass('sales_deals') IS NOT NULL")
            self.sales = cur.fetchone()[0]
            if self.sales:
                # The triggers that keep sales_stage_totals, sales_stage_entries and
                # previous_at: computed once at the end instead.
                for table in SALES_TABLES:
                    cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")

    def write(self, batch: dict[str, list[tuple]]) -> None:
        with self.db.cursor() as cur:
            for table in (*TABLES, "fts"):
                rows = batch[table]
                if not rows:
                    continue
                target = (
                    "generated_docs (client_id, doc)"
                    if table == "fts"
                    else f"{table} ({', '.join(COLUMNS[table])})"
                )
                with cur.copy(f"COPY {target} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)

    def finish(self) -> None:
        started = time.perf_counter()
        with self.db.cursor() as cur:
            cur.execute(
                "INSERT INTO client_search (client_id, document) "
                "SELECT client_id, to_tsvector('simple', doc) FROM generated_docs"
            )
            cur.execute("DROP TABLE generated_docs")
            for _, sql in self.indexes:
                cur.execute(sql)
            tables = ["clients", "contact_persons", "interactions", "tasks", "audit_log"]
            if self.sales:
                for statement in totals_statements("postgresql"):
                    cur.execute(statement)
                for table in SALES_TABLES:
                    cur.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
                tables += SALES_TABLES
            # Explicit ids were written: the sequences continue after them.
            for table in tables:
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                )
        print(f"  indexes built in {time.perf_counter() - started:.1f} s", flush=True)


def generate(
    url: str,
    clients: int,
    contacts_per_company: float,
    seed: int,
    instance: Path,
    interactions_per_client: float = 5.0,
    tasks_per_client: float = 1.0,
    deals_per_client: float = 1.0,
    history_per_client: float = 1.0,
) -> None:
    from core.users.services import hash_password

    sales = deals_per_client > 0
    app = setup_schema(url, instance, sales)
    dice = Dice(seed)
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    sqlite = engine.dialect.name == "sqlite"
    meta = sa.MetaData()
    meta.reflect(engine, only=["users", "teams", "roles", "user_roles", "tags", "clients"])
    t = meta.tables
    now = datetime(2026, 11, 1, 12, 0, 0)
    with app.app_context():
        password = hash_password("bench-password-1")
    overall = time.perf_counter()
    with engine.begin() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(t["clients"])).scalar():
            raise SystemExit("the database has clients already; generate into an empty one")
        dbapi = conn.connection.driver_connection
        writer = SqliteWriter(dbapi) if sqlite else PostgresWriter(dbapi)
        writer.prepare()
        started = time.perf_counter()
        role_ids = {}
        for name, scope in (("Manager (all)", "all"), ("Manager (own)", "own")):
            role_ids[scope] = conn.execute(
                t["roles"]
                .insert()
                .values(
                    name=name,
                    description="benchmark",
                    is_admin=False,
                    permissions=[
                        "clients.view",
                        "clients.create",
                        "clients.edit",
                        "core.users.view",
                        "interactions.view",
                        "interactions.edit",
                        "comments.write",
                        "tasks.view",
                        "tasks.edit",
                        *(SALES_PERMISSIONS if sales else ()),
                    ],
                    scopes={"clients": scope, "tasks": scope}
                    | ({"sales.deals": scope} if sales else {}),
                    created_at=now,
                    updated_at=now,
                    version=1,
                )
            ).inserted_primary_key[0]
        team_ids = [
            conn.execute(
                t["teams"]
                .insert()
                .values(name=f"Team {n + 1}", created_at=now, updated_at=now, version=1)
            ).inserted_primary_key[0]
            for n in range(5)
        ]
        users = [
            {
                "email": f"manager{n + 1}@bench.example",
                "name": f"Manager {n + 1}",
                "password_hash": password,
                "active": True,
                "team_id": team_ids[n % 5],
                "locale": "en",
                "timezone": "UTC",
                "session_token": f"bench-{n}",
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
            for n in range(50)
        ]
        conn.execute(t["users"].insert(), users)
        user_ids = list(
            conn.execute(
                sa.select(t["users"].c.id)
                .where(t["users"].c.email.like("%@bench.example"))
                .order_by(t["users"].c.id)
            ).scalars()
        )
        conn.execute(
            t["user_roles"].insert(),
            [
                {"user_id": uid, "role_id": role_ids["all" if i % 2 == 0 else "own"]}
                for i, uid in enumerate(user_ids)
            ],
        )
        tag_names = {
            conn.execute(t["tags"].insert().values(name=name)).inserted_primary_key[0]: name
            for name in TAGS
        }
        deals = None
        if sales:
            catalog = sales_catalog(conn, Dice(seed * 1_000_003 + 4), now)
            deals = Deals(seed, deals_per_client, now, catalog)
        timed("users", len(users), started)

        started = time.perf_counter()
        counts = dict.fromkeys((*TABLES, "fts"), 0)
        done = 0
        activity = Activity(seed, interactions_per_client, tasks_per_client, now)
        history = None
        if history_per_client > 0:
            history = History(seed, history_per_client, now)
            # After the entries the set-up wrote (enabling the sales plugin).
            history.next_id = conn.exec_driver_sql(
                "SELECT coalesce(max(id), 0) + 1 FROM audit_log"
            ).scalar()
        batches = generated_batches(
            dice,
            clients,
            contacts_per_company,
            user_ids,
            tag_names,
            now,
            BATCH,
            activity,
            deals,
            history,
        )
        for batch in batches:
            writer.write(batch)
            for table, rows in batch.items():
                counts[table] += len(rows)
            done += len(batch["clients"])
            if done % 100_000 == 0 or done == clients:
                print(f"  {done:,} clients", flush=True)
        timed("loaded", sum(counts.values()), started)
        writer.finish()
    if sqlite:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    else:
        # VACUUM as well: index-only scans need the visibility map, which a freshly loaded
        # table lacks until (auto)vacuum runs, and autovacuum may be off or slow to come.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    total = sum(counts.values())
    timed("all rows", total, overall)
    print(
        f"  clients {counts['clients']:,}, phones {counts['client_phones']:,}, "
        f"e-mails {counts['client_emails']:,}, tags {counts['client_tags']:,}, "
        f"contact persons {counts['contact_persons']:,}, full-text rows {counts['fts']:,}, "
        f"interactions {counts['interactions']:,}, tasks {counts['tasks']:,}, "
        f"deals {counts['sales_deals']:,} with {counts['sales_stage_changes']:,} stage changes "
        f"and {counts['sales_deal_lines']:,} lines, audit entries {counts['audit_log']:,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="sqlite:///bench/data/crm.sqlite3")
    parser.add_argument("--clients", type=int, default=1_000_000)
    parser.add_argument("--contacts-per-company", type=float, default=2.0)
    parser.add_argument("--interactions-per-client", type=float, default=5.0)
    parser.add_argument("--tasks-per-client", type=float, default=1.0)
    parser.add_argument(
        "--deals-per-client",
        type=float,
        default=1.0,
        help="deals of the sales plugin per client (exactly round(rate x clients)); "
        "0 leaves the plugin disabled",
    )
    parser.add_argument(
        "--history-per-client",
        type=float,
        default=1.0,
        help="audit log edits per client besides its creation (uniform on 0..2 x rate); "
        "0 writes no audit log",
    )
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--instance", default="bench/data/instance")
    args = parser.parse_args()
    if args.clients < 1:
        parser.error("--clients must be at least 1")
    rates = (
        args.interactions_per_client,
        args.tasks_per_client,
        args.deals_per_client,
        args.history_per_client,
    )
    if min(rates) < 0:
        parser.error(
            "--interactions-per-client, --tasks-per-client, --deals-per-client and "
            "--history-per-client cannot be negative"
        )
    Path(args.instance).mkdir(parents=True, exist_ok=True)
    instance = Path(args.instance).resolve()
    if not args.database.startswith("sqlite:///"):
        generate(
            args.database, args.clients, args.contacts_per_company, args.seed, instance, *rates
        )
        return
    # Absolute, since Flask-SQLAlchemy reads relative SQLite paths from the instance folder.
    path = Path(args.database[len("sqlite:///") :]).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        engine = sa.create_engine(f"sqlite:///{path}")
        try:
            with engine.connect() as conn:
                has_clients = conn.exec_driver_sql("SELECT 1 FROM clients LIMIT 1").first()
        except sa.exc.OperationalError:
            has_clients = None
        engine.dispose()
        if has_clients:
            raise SystemExit(f"{path} has clients already; generate into an empty one")
    # Written under a temporary name and renamed when complete: whoever copies the file
    # never sees half a database.
    partial = path.with_name(path.name + ".partial")
    for leftover in (partial, *(partial.with_name(partial.name + s) for s in ("-wal", "-shm"))):
        leftover.unlink(missing_ok=True)
    generate(
        f"sqlite:///{partial}",
        args.clients,
        args.contacts_per_company,
        args.seed,
        instance,
        *rates,
    )
    for stale in (path.with_name(path.name + s) for s in ("-wal", "-shm")):
        stale.unlink(missing_ok=True)
    os.replace(partial, path)
    print(f"  written to {path}", flush=True)


if __name__ == "__main__":
    main()
