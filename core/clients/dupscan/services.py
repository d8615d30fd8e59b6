"""Starting a duplicate scan, listing the pairs a user may review, dismissing and merging them.

A user reviews a pair only when they may see both of its clients (their role's scope, via
``core.security.scoped``) and both are live; anything else answers "not found". Pages are
keyset pages over ``(score, id)``, best first, and cost a fixed few queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from core.audit.models import AuditLog
from core.clients.dupscan.models import DuplicatePair, DuplicateScan
from core.clients.dupscan.scan import STALE_AFTER
from core.clients.models import Client, Email, Phone
from core.clients.queries import BadCursor, among, decode_cursor, encode_cursor
from core.db import db, utcnow
from core.jobs import enqueue
from core.security import scoped
from core.users.models import User
from core.users.services import ValidationFailed

JOB = "core.duplicate_scan"
CURSOR_KIND = "pairs"
FACTS_PER_CLIENT = 5  # phones and e-mails shown per client in the review
# A literal (not a bound parameter), so SQLite sees the partial index's condition.
OPEN_PAIR = DuplicatePair.status == sa.literal_column("'open'")

__all__ = ["BadCursor", "ScanRunning", "dismiss", "latest_scan", "page", "start"]


class ScanRunning(Exception):
    def __init__(self, scan: DuplicateScan) -> None:
        super().__init__(f"Duplicate scan {scan.id} is still {scan.status}.")
        self.scan = scan


def latest_scan() -> DuplicateScan | None:
    return db.session.execute(
        sa.select(DuplicateScan).order_by(DuplicateScan.id.desc()).limit(1)
    ).scalar_one_or_none()


def start(user: Any) -> DuplicateScan:
    """Queue a scan of the whole registry; ScanRunning while another one is under way.

    A scan that has shown no progress for ``STALE_AFTER`` was interrupted (its worker
    stopped): it is marked failed and a new one starts.
    """
    active = db.session.execute(
        sa.select(DuplicateScan)
        .where(DuplicateScan.status.in_(("queued", "running")))
        .order_by(DuplicateScan.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if active is not None:
        if active.updated_at > utcnow() - STALE_AFTER:
            raise ScanRunning(active)
        active.status = "failed"
        active.finished_at = utcnow()
        active.message = "Interrupted: no progress for a long time."
    scan = DuplicateScan(status="queued", created_by_id=user.id, skipped=[], message="")
    db.session.add(scan)
    db.session.commit()
    scan_id = scan.id
    try:
        enqueue(JOB, scan_id=scan_id)
    except Exception as exc:
        db.session.rollback()
        failed = db.session.get(DuplicateScan, scan_id)
        if failed is not None and failed.status == "queued":
            failed.status = "failed"
            failed.message = f"Could not queue the scan: {exc}"[:1000]
            db.session.commit()
        raise
    # The job may have run already (immediate jobs): read the row afresh.
    db.session.rollback()
    return db.session.get(DuplicateScan, scan_id, populate_existing=True)


def get_scan(scan_id: int) -> DuplicateScan | None:
    return db.session.get(DuplicateScan, scan_id)


def skipped_for(scan: DuplicateScan, user: Any) -> list[dict[str, Any]]:
    """The scan's largest skipped groups, with their values only for users who see every
    client (a shared phone or name is a client's data)."""
    if user.scope_for("clients") == "all":
        return list(scan.skipped or [])
    return []


# --- review --------------------------------------------------------------------------------


def _visible(user: Any) -> tuple[sa.Select, Any, Any]:
    a, b = aliased(Client, name="client_a"), aliased(Client, name="client_b")
    query = (
        sa.select(
            DuplicatePair.id,
            DuplicatePair.reasons,
            DuplicatePair.score,
            DuplicatePair.status,
            DuplicatePair.found_by_id,
            *(c.label(f"a_{c.key}") for c in _fact_columns(a)),
            *(c.label(f"b_{c.key}") for c in _fact_columns(b)),
        )
        .select_from(DuplicatePair)
        .join(a, a.id == DuplicatePair.client_a_id)
        .join(b, b.id == DuplicatePair.client_b_id)
        .where(a.deleted_at.is_(None), b.deleted_at.is_(None))
    )
    query = scoped(query, user, "clients", a.owner_id)
    query = scoped(query, user, "clients", b.owner_id)
    return query, a, b


def _fact_columns(alias) -> list:
    return [alias.id, alias.name, alias.kind, alias.tax_id, alias.owner_id, alias.status]


@dataclass
class PairView:
    id: int
    reasons: list[str]
    score: int
    status: str
    found_by_id: int | None
    client_a: SimpleNamespace
    client_b: SimpleNamespace


def _view(row) -> PairView:
    mapping = row._mapping
    sides = []
    for side in ("a", "b"):
        facts = {c: mapping[f"{side}_{c}"] for c in ("id", "name", "kind", "tax_id", "owner_id")}
        facts["client_status"] = mapping[f"{side}_status"]
        sides.append(SimpleNamespace(**facts, phones=[], emails=[], owner=None))
    return PairView(
        id=row.id,
        reasons=list(row.reasons or []),
        score=row.score,
        status=row.status,
        found_by_id=row.found_by_id,
        client_a=sides[0],
        client_b=sides[1],
    )


def page(
    user: Any, limit: int = 50, cursor: str | None = None
) -> tuple[list[PairView], str | None]:
    """Open pairs ``user`` may review, best first, and the next page's cursor (or None).

    Four queries whatever ``limit`` is: the pairs with both clients' key facts, then the
    clients' phones, e-mails and owners. BadCursor for a cursor that is not this list's.
    """
    query, _, _ = _visible(user)
    query = query.where(OPEN_PAIR)
    if cursor:
        score, last_id = decode_cursor(cursor, CURSOR_KIND)
        if not isinstance(score, int) or isinstance(score, bool):
            raise BadCursor("The cursor is not valid for this list; start from the first page.")
        query = query.where(
            sa.tuple_(DuplicatePair.score, DuplicatePair.id)
            < sa.tuple_(sa.literal(score), sa.literal(last_id))
        )
    query = query.order_by(DuplicatePair.score.desc(), DuplicatePair.id.desc()).limit(limit + 1)
    conn = db.session.connection()
    pairs = [_view(row) for row in conn.execute(query)]
    more = len(pairs) > limit
    pairs = pairs[:limit]
    _attach(pairs)
    next_cursor = None
    if more and pairs:
        next_cursor = encode_cursor(CURSOR_KIND, pairs[-1].score, pairs[-1].id)
    return pairs, next_cursor


def _attach(pairs: list[PairView]) -> None:
    """Phones, e-mails (contact persons' too, marked) and owner of every client shown."""
    by_id: dict[int, list[SimpleNamespace]] = {}
    for pair in pairs:
        for side in (pair.client_a, pair.client_b):
            by_id.setdefault(side.id, []).append(side)
    if not by_id:
        return
    ids = sorted(by_id)
    conn = db.session.connection()
    for client_id, e164, contact_id in conn.execute(
        sa.select(Phone.client_id, Phone.e164, Phone.contact_person_id)
        .where(among(Phone.client_id, ids))
        .order_by(Phone.client_id, Phone.contact_person_id.is_not(None), Phone.id)
    ):
        for side in by_id[client_id]:
            if len(side.phones) < FACTS_PER_CLIENT:
                side.phones.append(SimpleNamespace(e164=e164, contact=contact_id is not None))
    for client_id, email, contact_id in conn.execute(
        sa.select(Email.client_id, Email.email, Email.contact_person_id)
        .where(among(Email.client_id, ids))
        .order_by(Email.client_id, Email.contact_person_id.is_not(None), Email.id)
    ):
        for side in by_id[client_id]:
            if len(side.emails) < FACTS_PER_CLIENT:
                side.emails.append(SimpleNamespace(email=email, contact=contact_id is not None))
    owner_ids = sorted({s.owner_id for sides in by_id.values() for s in sides if s.owner_id})
    if owner_ids:
        names = dict(
            conn.execute(sa.select(User.id, User.name).where(among(User.id, owner_ids))).all()
        )
        for sides in by_id.values():
            for side in sides:
                if side.owner_id in names:
                    side.owner = SimpleNamespace(id=side.owner_id, name=names[side.owner_id])


def get_pair(pair_id: int, user: Any) -> PairView | None:
    """A pair whose two live clients ``user`` may see (any status), else None."""
    query, _, _ = _visible(user)
    row = db.session.execute(query.where(DuplicatePair.id == pair_id)).first()
    if row is None:
        return None
    view = _view(row)
    _attach([view])
    return view


def dismiss(pair: PairView, user: Any) -> PairView:
    """Record that the two clients are not duplicates: later scans leave the pair alone."""
    if pair.status != "open":
        raise ValidationFailed({"status": [f"This pair is {pair.status} already."]}, 409)
    now = utcnow()
    changed = db.session.execute(
        sa.update(DuplicatePair)
        .where(DuplicatePair.id == pair.id, DuplicatePair.status == "open")
        .values(status="dismissed", decided_by_id=user.id, decided_at=now)
    ).rowcount
    if not changed:  # decided by someone else a moment ago
        db.session.rollback()
        raise ValidationFailed({"status": ["This pair was decided meanwhile."]}, 409)
    a, b = pair.client_a.id, pair.client_b.id
    db.session.execute(
        sa.insert(AuditLog),
        [
            {
                "at": now,
                "user_id": user.id,
                "entity": "clients",
                "entity_id": one,
                "action": "not_duplicate",
                "changes": {"not_duplicate_of": [None, other]},
            }
            for one, other in ((a, b), (b, a))
        ],
    )
    db.session.commit()
    pair.status = "dismissed"
    return pair


def mark_merged(survivor_id: int, merged_ids: list[int], actor_id: int | None) -> None:
    """Pairs among merged clients are decided: merged (the merge's own transaction)."""
    ids = [survivor_id, *merged_ids]
    db.session.execute(
        sa.update(DuplicatePair)
        .where(
            DuplicatePair.status == "open",
            DuplicatePair.client_a_id.in_(ids),
            DuplicatePair.client_b_id.in_(ids),
        )
        .values(status="merged", decided_by_id=actor_id, decided_at=utcnow())
    )
