"""The funnel and ABC of clients read kept totals (``sales_stage_entries``, the re-entries'
``previous_at``) and rank in Python: their figures must be exactly those of a plain
recount (COUNT DISTINCT over the stage changes; the sum of won deals per client, classed
in exact decimals) for every filter, scope, period and time zone, over deals that moved
back, entered a stage twice (at the same moment too), changed owner and currency, were
deleted or lost a stage; and the totals must follow every write path."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.db import db
from core.plugin_system.types import Period
from core.users.models import Team, User
from plugins.sales.analytics import reports
from plugins.sales.models import Deal, Pipeline, Stage, StageChange, StageEntry
from tests.conftest import api_token, make_user
from tests.plugins.sales.deals_helpers import (
    manager,
    new_client,
    reason_id,
    sales_on,
    stages,
    trigger_names,
)

SELLER = ["reports.view", "sales.reports", "sales.view", "sales.deals.edit", "clients.view"]
MARCH = datetime(2025, 3, 1)


# --- the recounts ----------------------------------------------------------------------


def _kept_entries() -> dict[tuple, int]:
    return {
        (e.stage_id, str(e.day), e.owner_key, e.currency): e.entries
        for e in db.session.execute(sa.select(StageEntry)).scalars()
        if e.entries
    }


def _counted_entries() -> dict[tuple, int]:
    out: dict[tuple, int] = {}
    rows = db.session.execute(
        sa.select(StageChange.to_stage_id, StageChange.at, Deal.owner_id, Deal.currency).join(
            Deal, Deal.id == StageChange.deal_id
        )
    )
    for stage_id, at, owner_id, currency in rows:
        key = (stage_id, str(at.date()), owner_id or 0, currency)
        out[key] = out.get(key, 0) + 1
    return out


def _check_kept(app) -> None:
    """``sales_stage_entries`` and every ``previous_at`` are what the stage changes say."""
    with app.app_context():
        assert _kept_entries() == _counted_entries()
        last: dict[tuple[int, int], datetime] = {}
        for change in db.session.execute(
            sa.select(StageChange).order_by(
                StageChange.deal_id, StageChange.to_stage_id, StageChange.at, StageChange.id
            )
        ).scalars():
            key = (change.deal_id, change.to_stage_id)
            assert change.previous_at == last.get(key), (change.id, key)
            last[key] = change.at


def _visible(user: User, params: dict) -> sa.Select:
    """The ids of the deals a report may count for ``user`` with ``params``, spelled out."""
    deals = sa.select(Deal.id)
    if params.get("owner") is not None:
        deals = deals.where(Deal.owner_id == params["owner"])
    if params.get("team") is not None:
        deals = deals.where(
            Deal.owner_id.in_(sa.select(User.id).where(User.team_id == params["team"]))
        )
    if params.get("currency"):
        deals = deals.where(Deal.currency == params["currency"])
    if params.get("pipeline") is not None:
        deals = deals.where(Deal.pipeline_id == int(params["pipeline"]))
    scope = user.scope_for("sales.deals")
    if scope == "own" or (scope == "team" and user.team_id is None):
        deals = deals.where(Deal.owner_id == user.id)
    elif scope == "team":
        deals = deals.where(
            Deal.owner_id.in_(sa.select(User.id).where(User.team_id == user.team_id))
        )
    return deals


def _recount_funnel(user: User, params: dict, stage_ids: list[int]) -> dict[int, int]:
    start, end = params["period"].bounds()
    query = (
        sa.select(StageChange.to_stage_id, sa.func.count(sa.distinct(StageChange.deal_id)))
        .where(
            StageChange.at >= start,
            StageChange.at < end,
            StageChange.to_stage_id.in_(stage_ids),
            StageChange.deal_id.in_(_visible(user, params)),
        )
        .group_by(StageChange.to_stage_id)
    )
    return {stage_id: n for stage_id, n in db.session.execute(query) if n}


def _recount_abc(user: User, params: dict) -> list[tuple[int, Decimal, str]]:
    """(client, revenue, class) in rank order, in exact decimals."""
    start, end = params["period"].bounds()
    won = sa.select(Stage.id).where(Stage.kind == "won")
    revenue: dict[int, Decimal] = {}
    for client_id, amount in db.session.execute(
        sa.select(Deal.client_id, Deal.amount).where(
            Deal.stage_id.in_(won),
            Deal.closed_at >= start,
            Deal.closed_at < end,
            Deal.id.in_(_visible(user, params)),
        )
    ):
        revenue[client_id] = revenue.get(client_id, Decimal(0)) + Decimal(str(amount))
    ranked = sorted(revenue.items(), key=lambda kv: (-kv[1], kv[0]))
    total = sum(revenue.values(), Decimal(0))
    out, before = [], Decimal(0)
    for client_id, amount in ranked:
        abc = (
            "A"
            if before < total * Decimal("0.8")
            else "B"
            if before < total * Decimal("0.95")
            else "C"
        )
        out.append((client_id, amount.quantize(Decimal("0.01")), abc))
        before += amount
    return out


# --- the data --------------------------------------------------------------------------


@pytest.fixture
def world(app):
    """Two pipelines; sellers in two teams with every deal scope; 80 deals over the first
    days of March 2025 (entries near midnight UTC, backward moves, repeated entries, two
    entries at the same moment, won and lost ones), their stage changes written out of
    order; then owners and currencies changed, deals and single entries deleted, a stage
    removed (its deals moved today)."""
    sales_on(app)
    ids: dict = {}
    with app.app_context():
        teams = []
        for name in ("North", "South"):
            team = Team(name=name)
            db.session.add(team)
            db.session.flush()
            teams.append(team.id)
        db.session.commit()
    ids["teams"] = teams
    users = {}
    for email, scope, team in (
        ("ann@example.com", "own", teams[0]),
        ("bob@example.com", "team", teams[0]),
        ("cat@example.com", "all", teams[1]),
        ("dan@example.com", "team", None),
    ):
        users[email.split("@")[0]] = make_user(
            app, email, SELLER, {"sales.deals": scope, "clients": "all"}, team_id=team
        )
    ids["users"] = users
    with app.app_context():
        second = Pipeline(name="Wholesale", position=1)
        db.session.add(second)
        db.session.flush()
        for position, (name, kind) in enumerate(
            [("Request", "open"), ("Offer", "open"), ("Won", "won"), ("Lost", "lost")]
        ):
            db.session.add(Stage(pipeline_id=second.id, name=name, position=position, kind=kind))
        db.session.commit()
        ids["pipelines"] = [p.id for p in db.session.execute(sa.select(Pipeline)).scalars()]
    clients = [new_client(app, f"Client {n}") for n in range(8)]
    ids["clients"] = clients
    rand = random.Random(20261126)
    with app.app_context():
        all_stages = db.session.execute(sa.select(Stage)).scalars().all()
        by_pipeline = {
            pid: sorted((s for s in all_stages if s.pipeline_id == pid), key=lambda s: s.position)
            for pid in ids["pipelines"]
        }
        owners = [*users.values(), None]
        for n in range(80):
            pid = rand.choice(ids["pipelines"])
            open_stages = [s for s in by_pipeline[pid] if s.kind == "open"]
            won = next(s for s in by_pipeline[pid] if s.kind == "won")
            lost = next(s for s in by_pipeline[pid] if s.kind == "lost")
            moment = MARCH + timedelta(hours=rand.choice([-3, 0, 1, 20, 22, 23, 30, 47]))
            index, path = 0, [(open_stages[0], moment)]
            for _step in range(rand.randint(0, 7)):
                moment += timedelta(hours=rand.choice([0, 1, 3, 5, 11, 23, 26]))
                roll = rand.random()
                if roll < 0.3 and index > 0:
                    index -= 1
                elif roll < 0.35:
                    pass  # the same stage again
                elif index + 1 < len(open_stages):
                    index += 1
                path.append((open_stages[index], moment))
            ending = rand.random()
            if ending < 0.4:
                path.append((won, moment + timedelta(hours=rand.choice([1, 24, 70]))))
            elif ending < 0.55:
                path.append((lost, moment + timedelta(hours=2)))
            last_stage, last_at = path[-1]
            deal = Deal(
                title=f"Deal {n}",
                client_id=rand.choice(clients),
                pipeline_id=pid,
                stage_id=last_stage.id,
                owner_id=rand.choice(owners),
                amount=Decimal(rand.choice(["100", "250.50", "999.99", "1000", "0", "37.01"])),
                currency=rand.choice(["EUR", "EUR", "USD"]),
                closed_at=last_at if last_stage.kind != "open" else None,
                stage_entered_at=last_at,
                created_at=path[0][1],
            )
            db.session.add(deal)
            db.session.flush()
            changes = []
            previous = None
            for stage, at in path:
                changes.append((previous, stage.id, at))
                previous = stage.id
            rand.shuffle(changes)  # written out of order: previous_at still follows time
            for from_id, to_id, at in changes:
                db.session.add(
                    StageChange(
                        deal_id=deal.id,
                        pipeline_id=pid,
                        from_stage_id=from_id,
                        to_stage_id=to_id,
                        at=at,
                    )
                )
                db.session.flush()
        db.session.commit()
        # Owners and currencies change; some deals and some single entries go.
        deals = db.session.execute(sa.select(Deal).order_by(Deal.id)).scalars().all()
        for deal in deals[::7]:
            deal.owner_id = rand.choice(owners)
        for deal in deals[::9]:
            deal.currency = "USD" if deal.currency == "EUR" else "EUR"
        db.session.commit()
        for deal in deals[3::11]:
            db.session.delete(deal)
        db.session.commit()
        for change in db.session.execute(
            sa.select(StageChange).where(StageChange.id % 13 == 0)
        ).scalars():
            db.session.delete(change)
        db.session.commit()
    # A stage removed: its deals move today, each move a stage change.
    from plugins.sales.deals import pipelines

    with app.app_context():
        s = stages(app)
        removed = db.session.get(Stage, s["Measurements"])
        pipelines.remove_stage(removed, None, move_to_id=s["First call"])
    _check_kept(app)
    return ids


PERIODS = [
    # (first day, last day, time zone): whole days, partial days at either end, one day.
    (date(2025, 3, 1), date(2025, 3, 31), "UTC"),
    (date(2025, 3, 1), date(2025, 3, 3), "Europe/Chisinau"),
    (date(2025, 3, 2), date(2025, 3, 2), "Asia/Kolkata"),
    (date(2025, 2, 28), date(2025, 3, 2), "America/New_York"),
    (date(2025, 3, 1), date(2025, 3, 1), "UTC"),
]


def _filters(ids) -> list[dict]:
    users, teams = ids["users"], ids["teams"]
    return [
        {},
        {"owner": users["ann"]},
        {"owner": users["cat"]},
        {"team": teams[0]},
        {"team": teams[1]},
        {"currency": "USD"},
        {"pipeline": str(ids["pipelines"][1])},
        {"pipeline": str(ids["pipelines"][0]), "owner": users["bob"], "currency": "EUR"},
    ]


def test_the_funnel_counts_exactly_what_a_distinct_recount_does(app, world):
    today = date.today()
    periods = [*PERIODS, (today - timedelta(days=2), today, "Asia/Kolkata")]
    checked = 0
    with app.app_context():
        every_stage = [s.id for s in db.session.execute(sa.select(Stage)).scalars()]
        people = db.session.execute(sa.select(User).where(User.email.like("%@example.com")))
        for user in people.scalars():
            for first, last, zone in periods:
                for params in _filters(world):
                    params = {**params, "period": Period(first, last, timezone=zone)}
                    stage_ids = every_stage
                    if params.get("pipeline"):
                        stage_ids = [
                            s.id
                            for s in db.session.execute(
                                sa.select(Stage).where(Stage.pipeline_id == int(params["pipeline"]))
                            ).scalars()
                        ]
                    expected = _recount_funnel(user, params, stage_ids)
                    found = reports.entered_counts(stage_ids, params, user)
                    assert found == expected, (user.email, first, last, zone, params)
                    checked += bool(expected)
    assert checked > 100  # most combinations count something


def test_abc_of_clients_ranks_and_classes_exactly_as_a_recount(app, world):
    with app.app_context():
        people = db.session.execute(sa.select(User).where(User.email.like("%@example.com")))
        seen = 0
        for user in people.scalars():
            run = reports._abc("clients")
            for first, last, zone in PERIODS:
                for params in _filters(world):
                    params = {**params, "period": Period(first, last, timezone=zone)}
                    expected = _recount_abc(user, params)
                    items = run({**params, "view": "items"}, user)
                    assert [(r["revenue"], r["abc"]) for r in items.rows] == [
                        (amount, abc) for _, amount, abc in expected
                    ], (user.email, zone, params)
                    assert [r["rank"] for r in items.rows] == list(range(1, len(expected) + 1))
                    names = dict(db.session.execute(sa.text("SELECT id, name FROM clients")).all())
                    assert [r["item"] for r in items.rows] == [
                        names[client] for client, _, _ in expected
                    ]
                    classes = run({**params, "view": "classes"}, user)
                    for row in classes.rows:
                        mine = [amount for _, amount, abc in expected if abc == row["abc"]]
                        assert row["items"] == len(mine)
                        assert row["revenue"] == sum(mine, Decimal("0.00"))
                    assert classes.totals["items"] == len(expected)
                    seen += len(expected)
    assert seen > 50


def test_abc_classes_with_equal_and_zero_revenues(app, world):
    """Ties at a class boundary and zero revenues: classes by the revenue before each item,
    ties ranked by client id, as the recount does."""
    with app.app_context():
        won = (
            db.session.execute(sa.select(Stage).where(Stage.kind == "won").order_by(Stage.id))
            .scalars()
            .first()
        )
        for n, amount in enumerate(["40", "40", "10", "5", "5", "0", "0"]):
            db.session.add(
                Deal(
                    title=f"Tie {n}",
                    client_id=world["clients"][n],
                    pipeline_id=won.pipeline_id,
                    stage_id=won.id,
                    amount=Decimal(amount),
                    currency="MDL",
                    closed_at=datetime(2024, 6, 1, 12),
                    stage_entered_at=datetime(2024, 6, 1, 12),
                )
            )
        db.session.commit()
        user = db.session.execute(sa.select(User).filter_by(email="cat@example.com")).scalar_one()
        params = {"period": Period(date(2024, 6, 1), date(2024, 6, 1)), "currency": "MDL"}
        expected = _recount_abc(user, params)
        items = reports._abc("clients")({**params, "view": "items"}, user)
        assert [r["abc"] for r in items.rows] == [abc for _, _, abc in expected]
        assert [r["abc"] for r in items.rows] == ["A", "A", "B", "B", "C", "C", "C"]


def test_the_reports_over_the_api_match_the_recount(app, world):
    token = api_token(app.test_client(), "bob@example.com")
    client = app.test_client()
    march = "period=custom&period_from=2025-03-01&period_to=2025-03-05"
    funnel = client.get(f"/api/v1/reports/sales.funnel?{march}", headers=token).get_json()
    abc = client.get(f"/api/v1/reports/sales.abc_clients?{march}", headers=token).get_json()
    with app.app_context():
        user = db.session.execute(sa.select(User).filter_by(email="bob@example.com")).scalar_one()
        period = Period(date(2025, 3, 1), date(2025, 3, 5), timezone=user.timezone or "UTC")
        every = [s.id for s in db.session.execute(sa.select(Stage)).scalars()]
        expected = _recount_funnel(user, {"period": period}, every)
        assert sum(r["entered"] for r in funnel["rows"]) == sum(expected.values())
        ranked = _recount_abc(user, {"period": period})
    assert abc["totals"]["items"] == len(ranked)
    assert abc["totals"]["revenue"] == float(sum((a for _, a, _ in ranked), Decimal(0)))


# --- every write path keeps the totals -------------------------------------------------


def test_the_entries_follow_every_write_path(app, api):
    sales_on(app)
    s = stages(app)
    anna, _ = manager(app, "anna@example.com")
    boris, _ = manager(app, "boris@example.com")
    client_id = new_client(app)
    ids = []
    for amount, currency, owner in (("10", "EUR", None), ("20", "USD", anna), ("30", "EUR", anna)):
        body = {"title": "D", "client_id": client_id, "amount": amount, "currency": currency}
        if owner:
            body["owner_id"] = owner
        created = api.post("/api/v1/sales/deals", json=body)
        assert created.status_code == 201, created.get_json()
        ids.append(created.get_json()["id"])
    _check_kept(app)

    def move(deal_id, stage, **extra):
        moved = api.post(
            f"/api/v1/sales/deals/{deal_id}/move", json={"stage_id": s[stage], **extra}
        )
        assert moved.status_code == 200, moved.get_json()
        _check_kept(app)

    # Forward, back, forward again: re-entries get their previous entry.
    move(ids[0], "Measurements")
    move(ids[0], "First call")
    move(ids[0], "Measurements")
    move(ids[0], "Lost", lost_reason_id=reason_id(app))
    move(ids[0], "Measurements")  # reopened
    with app.app_context():
        again = db.session.execute(
            sa.select(sa.func.count()).where(
                StageChange.deal_id == ids[0], StageChange.previous_at.is_not(None)
            )
        ).scalar_one()
    assert again == 3
    # Owner and currency through the API: the deal's entries move to the new key.
    patched = api.patch(
        f"/api/v1/sales/deals/{ids[0]}",
        json={"version": 6, "owner_id": boris, "currency": "USD"},
    )
    assert patched.status_code == 200, patched.get_json()
    _check_kept(app)
    move(ids[1], "Won")
    assert api.delete(f"/api/v1/sales/deals/{ids[1]}").status_code == 204
    _check_kept(app)
    # A bulk statement and a rollback.
    with app.app_context():
        db.session.execute(sa.update(Deal).values(owner_id=anna))
        db.session.rollback()
        db.session.execute(sa.update(Deal).where(Deal.id == ids[2]).values(owner_id=boris))
        db.session.commit()
    _check_kept(app)
    # A single entry deleted, and one moved in time (the history of the others follows).
    with app.app_context():
        first = (
            db.session.execute(
                sa.select(StageChange)
                .where(StageChange.deal_id == ids[0])
                .order_by(StageChange.at, StageChange.id)
            )
            .scalars()
            .all()
        )
        db.session.delete(first[1])
        db.session.commit()
        first[0].at = first[0].at + timedelta(days=3)
        db.session.commit()
    _check_kept(app)
    # A removed stage: its deals move, each move a stage change.
    from plugins.sales.deals import pipelines

    with app.app_context():
        stage = db.session.get(Stage, s["Measurements"])
        assert pipelines.remove_stage(stage, None, move_to_id=s["Approval"]) == 1
    _check_kept(app)
    # The owner's account deleted: the foreign key sets owner_id to NULL (key 0).
    with app.app_context():
        db.session.execute(sa.text("DELETE FROM user_roles WHERE user_id = :u"), {"u": boris})
        try:
            db.session.execute(sa.delete(User).where(User.id == boris))
            db.session.commit()
        except sa.exc.IntegrityError:
            db.session.rollback()
            pytest.skip("the user cannot be deleted here")
    _check_kept(app)
    with app.app_context():
        assert any(key[2] == 0 for key in _kept_entries())


def test_the_triggers_exist_after_the_migrations(app):
    sales_on(app)
    with app.app_context():
        names = trigger_names()
        if db.engine.dialect.name == "sqlite":
            assert {
                "sales_stage_changes_entries_insert",
                "sales_stage_changes_previous_insert",
                "sales_stage_changes_entries_delete",
                "sales_stage_changes_entries_update",
                "sales_deals_entries_update",
                "sales_deals_entries_delete",
            } <= names
        else:
            assert {
                "sales_stage_changes_entries",
                "sales_deals_entries_update",
                "sales_deals_entries_delete",
            } <= names
