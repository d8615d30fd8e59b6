"""Demo deals for `crm demo`: a few products and deals of the demo clients spread over the
default pipeline, so a new user opens a board, a funnel and a forecast with something in
them. Made through the plugin's own services, as users would."""

from __future__ import annotations

import random
from datetime import date, timedelta

import sqlalchemy as sa

from core.clients.models import Client
from core.db import db
from core.users.models import User
from plugins.sales.catalog import services as catalog
from plugins.sales.deals import pipelines
from plugins.sales.deals import services as deals

PRODUCTS = (
    ("WIN-PVC-1214", "PVC window 1200x1400", "pcs", "250.00"),
    ("WIN-PVC-0912", "PVC window 900x1200", "pcs", "180.00"),
    ("DOOR-BAL", "Balcony door", "pcs", "420.00"),
    ("SRV-INSTALL", "Installation", "pcs", "45.00"),
    ("SRV-MEASURE", "Measurement visit", "visit", "20.00"),
)
SOURCES = ("website", "call", "referral", "exhibition", "mailing")


def load(client_ids: list[int], user_ids: list[int], seed: int = 11) -> int:
    """Deals for about half of ``client_ids``; returns how many."""
    pipelines.ensure_default_pipeline()  # made when the plugin was enabled, or now
    active = pipelines.pipelines(active_only=True)
    if not active or not client_ids:
        return 0
    pipeline = active[0]
    currency = deals.default_currency()
    products = []
    for sku, name, unit, price in PRODUCTS:
        found = catalog.find_by_sku(sku)
        if found is None:
            found = catalog.create_product(
                {
                    "sku": sku,
                    "name": name,
                    "unit": unit,
                    "price": price,
                    "currency": currency,
                    "vat_rate": "20",
                    "kind": "service" if sku.startswith("SRV") else "product",
                }
            )
        products.append(found)
    stages = pipelines.live_stages(pipeline.id)
    open_stages = [s for s in stages if s.kind == "open"]
    won = next((s for s in stages if s.kind == "won"), None)
    lost = next((s for s in stages if s.kind == "lost"), None)
    reasons = pipelines.lost_reasons()
    rng = random.Random(seed)
    owners = dict(
        db.session.execute(
            sa.select(Client.id, Client.owner_id).where(Client.id.in_(client_ids))
        ).all()
    )
    team = db.session.execute(sa.select(User).where(User.id.in_(user_ids))).scalars()
    actors = {user.id: user for user in team}
    made = 0
    for client_id in client_ids:
        if rng.random() >= 0.5:
            continue
        windows = rng.choice(products[:3])
        quantity = rng.randrange(1, 9)
        lines = [
            {"product_id": windows.id, "quantity": str(quantity)},
            {"product_id": products[3].id, "quantity": str(quantity)},
        ]
        if rng.random() < 0.3:
            lines.append({"product_id": products[0].id, "quantity": "1", "discount_percent": "10"})
        owner_id = owners.get(client_id) or rng.choice(user_ids)
        actor = actors.get(owner_id)
        deal = deals.create_deal(
            {
                "title": f"{windows.name} × {quantity}",
                "client_id": client_id,
                "pipeline_id": pipeline.id,
                "owner_id": owner_id,
                "source": rng.choice(SOURCES),
                "expected_close_on": date.today() + timedelta(days=rng.randrange(-20, 90)),
                "lines": lines,
            },
            None,
        )
        made += 1
        # Walk it some way along the funnel, as its owner would have.
        steps = rng.choice((0, 0, 1, 1, 2, 3, 4, len(open_stages)))
        for stage in open_stages[1 : 1 + steps]:
            deals.move_deal(deal, stage.id, actor)
        if steps >= len(open_stages) - 1 and won is not None and rng.random() < 0.6:
            deals.move_deal(deal, won.id, actor)
        elif lost is not None and reasons and rng.random() < 0.12:
            deals.move_deal(deal, lost.id, actor, lost_reason_id=rng.choice(reasons).id)
    return made
