"""Demo data: a few hundred clients in several languages, so a new user sees a living system.

Everything goes through the same services as the UI (validation, normalisation, search
index, audit log), owned by a small sales team created alongside.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app

from core.clients import services
from core.clients.models import Client
from core.db import db, utcnow
from core.interactions.models import Interaction
from core.users import services as user_services
from core.users.models import Role, Team, User

COMPANIES = {
    "MD": (
        "+373 22 {a}{b}{c} {d}{e}{f}",
        [
            "Okna Plus",
            "Moldcomfort",
            "Vinăria Bostavan",
            "Termoelectrica Construct",
            "Dava Prim",
            "Lux Fereastră",
            "Agrobiznes Nord",
            "Casa Mare Design",
        ],
        "SRL",
        ["Chișinău", "Bălți", "Cahul", "Orhei"],
    ),
    "RO": (
        "+40 21 {a}{b}{c} {d}{e}{f}{g}",
        ["Ferestre Ideal", "Construct Vest", "Tehno Lemn", "Alfa Logistic", "Prim Instal"],
        "SRL",
        ["București", "Cluj-Napoca", "Iași", "Timișoara"],
    ),
    "RU": (
        "+7 495 {a}{b}{c}-{d}{e}-{f}{g}",
        ["Ромашка", "Окна Севера", "СтройГарант", "Теплый Дом", "Вектор Плюс", "Монолит"],
        "ООО",
        ["Москва", "Санкт-Петербург", "Казань", "Тверь"],
    ),
    "DE": (
        "+49 30 {a}{b}{c}{d}{e}{f}{g}",
        [
            "Fensterbau Müller",
            "Holz & Glas",
            "Nordlicht Bau",
            "Schmidt Haustechnik",
            "Weber Logistik",
        ],
        "GmbH",
        ["Berlin", "Hamburg", "München", "Leipzig"],
    ),
}
PEOPLE = {
    "MD": [("Ion", "", "Rusu"), ("Maria", "", "Ceban"), ("Andrei", "", "Popa")],
    "RO": [("Mihai", "", "Ionescu"), ("Elena", "", "Popescu"), ("Ștefan", "", "Dumitru")],
    "RU": [
        ("Иван", "Петрович", "Сидоров"),
        ("Ольга", "Сергеевна", "Кузнецова"),
        ("Дмитрий", "Алексеевич", "Смирнов"),
    ],
    "DE": [("Thomas", "", "Becker"), ("Anna", "", "Schneider"), ("Jürgen", "", "Wolf")],
}
POSITIONS = ["Director", "Purchasing manager", "Chief accountant", "Engineer", "Owner"]
TAGS = ["windows", "doors", "blinds", "vip", "wholesale", "newsletter"]
# What a manager writes down after talking to a client, in the client's language.
INTERACTIONS = {
    "MD": [
        ("call", "out", "telefon", "Ofertă pentru ferestre", "Clientul așteaptă prețul final."),
        ("meeting", None, "birou", "Întâlnire la birou", "Am discutat termenele de livrare."),
    ],
    "RO": [
        ("call", "in", "telefon", "Cerere de ofertă", "Vrea 12 ferestre din PVC."),
        ("email", "out", "e-mail", "Oferta trimisă", "Am trimis oferta cu reducere de 5%."),
    ],
    "RU": [
        ("call", "out", "телефон", "Уточнение заказа", "Клиент просит перезвонить в понедельник."),
        ("visit", "out", "выезд", "Замер на объекте", "Замерщик снял размеры, 8 окон."),
    ],
    "DE": [
        ("call", "in", "Telefon", "Rückfrage zum Angebot", "Fragt nach Lieferzeit und Montage."),
        ("message", "out", "WhatsApp", "Termin bestätigt", "Montage am Donnerstag um 9 Uhr."),
    ],
}
OUTCOMES = ["", "Follow-up agreed", "Offer requested", "No answer"]
TEAM = [
    ("Olga Manager", "olga@demo.example"),
    ("Pavel Manager", "pavel@demo.example"),
    ("Sofia Measurer", "sofia@demo.example"),
]


def _number(template: str, rng: random.Random) -> str:
    return template.format(**{k: rng.randrange(10) for k in "abcdefg"})


def load(clients: int = 300, seed: int = 7) -> int:
    """Create the demo team and ``clients`` clients; returns how many clients were created."""
    if db.session.execute(sa.select(sa.func.count()).select_from(Client)).scalar():
        raise ValueError("the database has clients already; demo data goes into a new one")
    rng = random.Random(seed)
    team = db.session.execute(sa.select(Team).filter_by(name="Sales")).scalar_one_or_none()
    if team is None:
        team = Team(name="Sales")
        db.session.add(team)
        db.session.commit()
    role = db.session.execute(sa.select(Role).filter_by(name="Sales manager")).scalar_one_or_none()
    if role is None:
        role = Role(
            name="Sales manager",
            description="Works with the team's clients.",
            permissions=[
                "clients.view",
                "clients.create",
                "clients.edit",
                "clients.delete",
                "interactions.view",
                "interactions.edit",
                "comments.write",
                "tasks.view",
                "tasks.edit",
                "reports.view",
                "documents.generate",
                "documents.attach",
                "core.users.view",
            ],
            scopes={"clients": "team", "tasks": "team"},
        )
        db.session.add(role)
        db.session.commit()
    owners = []
    for name, email in TEAM:
        user = db.session.execute(sa.select(User).filter_by(email=email)).scalar_one_or_none()
        if user is None:
            user = user_services.create_user(
                email, name, "demo-password-1", roles=[role], team=team
            )
        owners.append(user.id)
    team.head_id = owners[0]
    db.session.commit()
    countries = list(COMPANIES)
    interactions: list[dict] = []
    for n in range(clients):
        country = countries[n % len(countries)]
        template, names, form, cities = COMPANIES[country]
        is_company = rng.random() < 0.75
        if is_company:
            base = rng.choice(names)
            suffix = "" if n < len(countries) * 4 else f" {n // len(countries) + 1}"
            name = f"{form} «{base}{suffix}»" if form == "ООО" else f"{base}{suffix} {form}"
        else:
            first, middle, last = rng.choice(PEOPLE[country])
            name = " ".join(p for p in (first, middle, last) if p)
        data = {
            "name": name,
            "kind": "company" if is_company else "person",
            "status": rng.choice(["lead", "prospect", "customer", "customer", "former"]),
            "source": rng.choice(["website", "call", "mailing", "exhibition", "referral"]),
            "owner_id": rng.choice(owners),
            "tags": rng.sample(TAGS, rng.randrange(0, 3)),
            "phones": [_number(template, rng)],
            "emails": [f"office{n}@demo-{country.lower()}.example"],
            "addresses": [
                {
                    "kind": "legal",
                    "city": rng.choice(cities),
                    "country": country,
                    "street": f"{rng.randrange(1, 120)}",
                }
            ],
            "next_contact_on": date.today() + timedelta(days=rng.randrange(-10, 40))
            if rng.random() < 0.4
            else None,
        }
        client = services.create_client(data)
        interactions.extend(_interactions(client.id, data["owner_id"], country, rng))
        if is_company:
            for first, middle, last in rng.sample(PEOPLE[country], rng.randrange(1, 3)):
                services.save_contact(
                    client,
                    {
                        "first_name": first,
                        "middle_name": middle,
                        "last_name": last,
                        "position": rng.choice(POSITIONS),
                        "phones": [_number(template, rng)],
                    },
                )
    # Written in one statement: the demo's history, not changes anyone made.
    db.session.execute(sa.insert(Interaction), interactions)
    db.session.commit()
    client_ids = list(db.session.execute(sa.select(Client.id).order_by(Client.id)).scalars())
    app = current_app._get_current_object()
    app.extensions["crm_plugins"].notify(
        "demo_loaded", app=app, client_ids=client_ids, user_ids=owners
    )
    return clients


def _interactions(client_id: int, owner_id: int, country: str, rng: random.Random) -> list[dict]:
    now = utcnow()
    rows = []
    for kind, direction, channel, subject, text in rng.sample(
        INTERACTIONS[country], rng.randrange(1, 3)
    ):
        when = now - timedelta(days=rng.randrange(1, 60), minutes=rng.randrange(600))
        rows.append(
            {
                "client_id": client_id,
                "kind": kind,
                "direction": direction,
                "channel": channel,
                "subject": subject,
                "text": text,
                "outcome": rng.choice(OUTCOMES),
                "duration_minutes": rng.randrange(2, 45) if kind in ("call", "meeting") else None,
                "occurred_at": when,
                "user_id": owner_id,
                "created_by_id": owner_id,
                "created_at": when,
                "updated_at": when,
                "version": 1,
            }
        )
    return rows
