"""Likely duplicates of a client: same e-mail, phone or tax id, or a similar name.

Names are compared without legal forms and punctuation ("OOO «Romashka»" is "Romashka
SRL"), with rapidfuzz's token-sort ratio over candidates that share a word with the name
(found through the full-text index, so the check stays fast on a million clients).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from core.clients import normalise, search
from core.clients.models import Client, Email, Phone
from core.db import db
from core.security import scoped

NAME_THRESHOLD = 88
CANDIDATES = 200


@dataclass
class Match:
    client: Client
    reasons: list[str] = field(default_factory=list)
    score: int = 0


def _name_candidates(core: str) -> list[int]:
    # The longest word is the rarest: its matches are the fewest candidates to score.
    words = sorted((w for w in core.split() if len(w) >= 3), key=len, reverse=True)
    if not words:
        return []
    found = search.matching(words[0])
    if found is None:
        return []
    table, condition = found
    ids = sa.select(search.id_column(table)).select_from(table).where(condition).limit(CANDIDATES)
    return list(db.session.execute(ids).scalars())


def find(
    data: dict[str, Any], user: Any, exclude_id: int | None = None, limit: int = 5, region: str = ""
) -> list[Match]:
    """Clients ``user`` may see that look like ``data`` (name, phones, emails, tax_id)."""
    matches: dict[int, Match] = {}

    def add(ids, reason: str, score: int) -> None:
        for client_id in ids:
            if client_id == exclude_id:
                continue
            match = matches.setdefault(client_id, Match(client=None))  # type: ignore[arg-type]
            if reason not in match.reasons:
                match.reasons.append(reason)
            match.score = max(match.score, score)

    emails = []
    for entry in data.get("emails") or []:
        value = entry["email"] if isinstance(entry, dict) else entry
        try:
            emails.append(normalise.email(value))
        except ValueError:
            continue
    if emails:
        add(
            db.session.execute(sa.select(Email.client_id).where(Email.email.in_(emails))).scalars(),
            "e-mail",
            100,
        )
    phones, tails = [], []
    for entry in data.get("phones") or []:
        value = entry["number"] if isinstance(entry, dict) else entry
        e164 = normalise.phone_or_none(value, region)
        if e164:
            phones.append(e164)
        elif len(normalise.digits(value)) >= 7:
            # Typed without a country code and no default country set: compare the last digits.
            tails.append(normalise.reversed_digits(value)[:8])
    conditions = [Phone.e164.in_(phones)] if phones else []
    conditions += [sa.and_(Phone.digits_rev >= t, Phone.digits_rev < t + ":") for t in tails]
    if conditions:
        add(
            db.session.execute(sa.select(Phone.client_id).where(sa.or_(*conditions))).scalars(),
            "phone",
            100,
        )
    if data.get("tax_id"):
        key = normalise.tax_id(data["tax_id"])
        if key:
            add(
                db.session.execute(sa.select(Client.id).where(Client.tax_id_key == key)).scalars(),
                "tax id",
                100,
            )
    name = (data.get("name") or "").strip()
    core = normalise.core_name(name) if name else ""
    if core:
        candidates = _name_candidates(core)
        if candidates:
            from rapidfuzz import fuzz  # loaded by the first name check, not by every worker

            rows = db.session.execute(
                sa.select(Client.id, Client.name).where(Client.id.in_(candidates))
            ).all()
            for client_id, other_name in rows:
                score = int(fuzz.token_sort_ratio(core, normalise.core_name(other_name)))
                if score >= NAME_THRESHOLD:
                    add([client_id], "similar name", score)
    if not matches:
        return []
    query = scoped(
        sa.select(Client).where(Client.id.in_(matches), Client.deleted_at.is_(None)),
        user,
        "clients",
        Client.owner_id,
    )
    found = []
    for client in db.session.execute(query).scalars():
        match = matches[client.id]
        match.client = client
        found.append(match)
    found.sort(key=lambda m: (-len(m.reasons), -m.score, m.client.id))
    return found[:limit]
