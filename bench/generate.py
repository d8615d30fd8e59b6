"""Fill a CRM database with realistic generated data, fast and deterministically.

    python bench/generate.py --database sqlite:///bench/data/crm.sqlite3 --clients 1000000

Creates the schema with the migrations (as `crm init` does), then writes users in teams,
clients (companies and people with Latin and Cyrillic names), phones, e-mails, tags,
contact persons and the full-text index with SQLAlchemy Core executemany in batches. The
same --seed gives the same data. Prints rows per second for each table.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BATCH = 20_000

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


def company_name(rng: random.Random) -> str:
    if rng.random() < 0.45:
        words = f"{rng.choice(CYRILLIC_WORDS)} {rng.choice(CYRILLIC_WORDS)}"
        return f"{rng.choice(CYRILLIC_FORMS)} «{words}»"
    return f"{rng.choice(LATIN_WORDS)}{rng.choice(LATIN_WORDS).lower()} {rng.choice(LATIN_FORMS)}"


def person_name(rng: random.Random) -> tuple[str, str, str]:
    return rng.choice(FIRST), rng.choice(MIDDLE), rng.choice(LAST)


def phone(rng: random.Random) -> str:
    code, length, area = rng.choice(COUNTRIES)
    rest = length - len(area)
    return f"{code}{area}{rng.randrange(10 ** (rest - 1), 10**rest)}"


def setup_schema(url: str, instance: Path):
    """Migrate and create the admin, exactly as `crm init` does."""
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
        db.engine.dispose()
    return app


def timed(label: str, rows: int, started: float) -> None:
    seconds = time.perf_counter() - started
    rate = rows / seconds if seconds else float("inf")
    print(f"{label:14} {rows:>10,} rows in {seconds:7.1f} s = {rate:>10,.0f} rows/s", flush=True)


def generate(
    url: str, clients: int, contacts_per_company: float, seed: int, instance: Path
) -> None:
    from core.clients.normalise import reversed_digits
    from core.users.services import hash_password

    app = setup_schema(url, instance)
    rng = random.Random(seed)
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    sqlite = engine.dialect.name == "sqlite"
    meta = sa.MetaData()
    meta.reflect(
        engine,
        only=[
            "users",
            "teams",
            "roles",
            "user_roles",
            "clients",
            "client_phones",
            "client_emails",
            "tags",
            "client_tags",
            "contact_persons",
        ],
    )
    t = meta.tables
    now = datetime(2026, 11, 1, 12, 0, 0)
    with app.app_context():
        password = hash_password("bench-password-1")
    with engine.begin() as conn:
        if sqlite:
            # A bulk load: no fsync per commit, and a page cache that holds the indexes.
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            conn.exec_driver_sql("PRAGMA cache_size=-2000000")
            conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
        if conn.execute(sa.select(sa.func.count()).select_from(t["clients"])).scalar():
            raise SystemExit("the database has clients already; generate into an empty one")
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
                    ],
                    scopes={"clients": scope},
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
        tag_ids = [
            conn.execute(t["tags"].insert().values(name=name)).inserted_primary_key[0]
            for name in TAGS
        ]
        timed("users", len(users), started)

        started = time.perf_counter()
        counts = {"phones": 0, "emails": 0, "tags": 0, "contacts": 0}
        next_id = 1
        next_contact_id = 1
        for batch_start in range(0, clients, BATCH):
            size = min(BATCH, clients - batch_start)
            rows, phones, emails, tags, contacts, fts = [], [], [], [], [], []
            for i in range(size):
                cid = next_id + i
                is_company = rng.random() < 0.7
                if is_company:
                    name = company_name(rng)
                else:
                    first, middle, last = person_name(rng)
                    name = " ".join(p for p in (first, middle, last) if p)
                created = now - timedelta(minutes=rng.randrange(0, 6 * 365 * 24 * 60))
                tax = (
                    str(rng.randrange(10**9, 10**10)) if is_company and rng.random() < 0.8 else None
                )
                rows.append(
                    {
                        "id": cid,
                        "kind": "company" if is_company else "person",
                        "name": name,
                        "name_key": name_key(name),
                        "legal_name": None,
                        "tax_id": tax,
                        "tax_id_key": tax,
                        "industry": rng.choice(INDUSTRIES),
                        "status": rng.choice(STATUSES),
                        "category": None,
                        "source": rng.choice(SOURCES),
                        "owner_id": rng.choice(user_ids),
                        "notes": "",
                        "custom": {},
                        "next_contact_on": (
                            date(2026, 11, 1) + timedelta(days=rng.randrange(-60, 120))
                        )
                        if rng.random() < 0.3
                        else None,
                        "website": None,
                        "created_at": created,
                        "updated_at": created + timedelta(days=rng.randrange(0, 30)),
                        "version": 1,
                    }
                )
                client_phones = [phone(rng) for _ in range(rng.choice((1, 1, 1, 2)))]
                for number in client_phones:
                    phones.append(
                        {
                            "client_id": cid,
                            "contact_person_id": None,
                            "kind": "work",
                            "e164": number,
                            "digits_rev": reversed_digits(number),
                        }
                    )
                domain = rng.choice(("mail.md", "gmail.com", "yandex.ru", "web.de"))
                email = f"{slug(name)[:20]}{cid}@{domain}"
                emails.append(
                    {"client_id": cid, "contact_person_id": None, "kind": "work", "email": email}
                )
                for tag_id in rng.sample(tag_ids, rng.choice((0, 0, 1, 2))):
                    tags.append({"client_id": cid, "tag_id": tag_id})
                people = []
                if is_company:
                    for _ in range(
                        int(contacts_per_company) + (rng.random() < contacts_per_company % 1)
                    ):
                        first, middle, last = person_name(rng)
                        people.append(f"{first} {middle} {last}")
                        if rng.random() < 0.5:
                            number = phone(rng)
                            people.append(number.lstrip("+"))
                            phones.append(
                                {
                                    "client_id": cid,
                                    "contact_person_id": next_contact_id,
                                    "kind": "mobile",
                                    "e164": number,
                                    "digits_rev": reversed_digits(number),
                                }
                            )
                        if rng.random() < 0.5:
                            domain = rng.choice(("mail.md", "gmail.com", "mail.ru"))
                            address = f"{slug(first)}.{slug(last)}{next_contact_id}@{domain}"
                            people.append(
                                address.replace("@", " ").replace(".", " ") + " " + address
                            )
                            emails.append(
                                {
                                    "client_id": cid,
                                    "contact_person_id": next_contact_id,
                                    "kind": "work",
                                    "email": address,
                                }
                            )
                        contacts.append(
                            {
                                "id": next_contact_id,
                                "client_id": cid,
                                "first_name": first,
                                "middle_name": middle,
                                "last_name": last,
                                "position": rng.choice(
                                    ("Director", "Buyer", "Accountant", "Engineer")
                                ),
                                "notes": "",
                                "created_at": created,
                                "updated_at": created,
                                "version": 1,
                            }
                        )
                        next_contact_id += 1
                doc = " ".join(
                    [
                        name,
                        tax or "",
                        email.replace("@", " ").replace(".", " "),
                        email,
                        *(n.lstrip("+") for n in client_phones),
                        *people,
                    ]
                )
                fts.append({"id": cid, "doc": name_key(doc)})
            conn.execute(t["clients"].insert(), rows)
            if contacts:
                conn.execute(t["contact_persons"].insert(), contacts)
            conn.execute(t["client_phones"].insert(), phones)
            conn.execute(t["client_emails"].insert(), emails)
            if tags:
                conn.execute(t["client_tags"].insert(), tags)
            if sqlite:
                conn.execute(
                    sa.text("INSERT INTO clients_fts (rowid, doc) VALUES (:id, :doc)"), fts
                )
            else:
                conn.execute(
                    sa.text(
                        "INSERT INTO client_search (client_id, document) "
                        "VALUES (:id, to_tsvector('simple', :doc))"
                    ),
                    fts,
                )
            counts["phones"] += len(phones)
            counts["emails"] += len(emails)
            counts["tags"] += len(tags)
            counts["contacts"] += len(contacts)
            next_id += size
            done = batch_start + size
            if done % 100_000 == 0 or done == clients:
                print(f"  {done:,} clients", flush=True)
        timed("clients", clients, started)
        total = clients + sum(counts.values()) + clients  # + the full-text rows
        timed("all rows", total, started)
        print(
            f"  phones {counts['phones']:,}, e-mails {counts['emails']:,}, "
            f"tags {counts['tags']:,}, contact persons {counts['contacts']:,}"
        )
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="sqlite:///bench/data/crm.sqlite3")
    parser.add_argument("--clients", type=int, default=1_000_000)
    parser.add_argument("--contacts-per-company", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--instance", default="bench/data/instance")
    args = parser.parse_args()
    if args.clients < 1:
        parser.error("--clients must be at least 1")
    if args.database.startswith("sqlite:///"):
        # Absolute, since Flask-SQLAlchemy reads relative SQLite paths from the instance folder.
        path = Path(args.database[len("sqlite:///") :]).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        args.database = f"sqlite:///{path}"
    Path(args.instance).mkdir(parents=True, exist_ok=True)
    generate(
        args.database,
        args.clients,
        args.contacts_per_company,
        args.seed,
        Path(args.instance).resolve(),
    )


if __name__ == "__main__":
    main()
