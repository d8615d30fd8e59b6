"""Lead forms: saving them, and turning a post to ``/forms/<key>`` into a client and a deal.

A post is recorded as a ``LeadSubmission`` whatever becomes of it (created, invalid,
spam, limited): the audit trail, and the counts the rate limits read, shared by every
worker through the database.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from core.clients import normalise
from core.clients import services as clients
from core.clients.models import Client, Email, Phone
from core.db import db, utcnow
from core.settings.services import get as setting
from core.users.models import User
from core.users.services import ValidationFailed
from plugins.sales.automation.actions import role_holders
from plugins.sales.deals import services as deals
from plugins.sales.leads.models import LeadForm, LeadSubmission
from plugins.sales.models import Deal, Pipeline

log = logging.getLogger(__name__)
UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
HONEYPOT = "website"
LIMITS = {"name": 200, "company": 300, "email": 254, "phone": 40, "message": 5000}


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


# --- forms ---------------------------------------------------------------------------------


def new_key() -> str:
    return secrets.token_urlsafe(24)


def by_key(key: str) -> LeadForm | None:
    if not key or len(key) > 64:
        return None
    return db.session.execute(sa.select(LeadForm).where(LeadForm.key == key)).scalar()


def forms() -> list[LeadForm]:
    return list(db.session.execute(sa.select(LeadForm).order_by(LeadForm.name)).scalars())


def _origin_ok(origin: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.path.strip("/")


def save_form(data: dict[str, Any], form: LeadForm | None = None) -> LeadForm:
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for field, limit, required in (
        ("name", 200, True),
        ("owner_role", 100, False),
        ("source", 40, False),
        ("allowed_origins", 5000, False),
        ("success_message", 2000, False),
        ("redirect_url", 500, False),
    ):
        if field not in data and form is not None:
            continue
        raw = data.get(field)
        text = raw.strip() if isinstance(raw, str) else ""
        if required and not text:
            errors[field] = [_("This field is required.")]
        elif len(text) > limit:
            errors[field] = [_("At most %(n)s characters.", n=limit)]
        values[field] = text
    if "source" in values and not values["source"]:
        values["source"] = "website"
    for origin in (values.get("allowed_origins") or "").splitlines():
        if origin.strip() and not _origin_ok(origin.strip()):
            errors["allowed_origins"] = [
                _("Give one origin a line, such as https://www.example.com.")
            ]
    if values.get("redirect_url") and urlsplit(values["redirect_url"]).scheme not in (
        "http",
        "https",
    ):
        errors["redirect_url"] = [_("Give an absolute http(s) address.")]
    if "pipeline_id" in data or form is None:
        pipeline_id = deals._id(data.get("pipeline_id"))
        pipeline = db.session.get(Pipeline, pipeline_id) if pipeline_id else None
        if pipeline is None or not pipeline.active:
            errors["pipeline_id"] = [_("Choose an active pipeline.")]
        else:
            values["pipeline_id"] = pipeline.id
    if "owner_id" in data:
        raw = data.get("owner_id")
        if raw in (None, ""):
            values["owner_id"] = None
        else:
            owner = db.session.get(User, deals._id(raw)) if deals._id(raw) else None
            if owner is None or not owner.active:
                errors["owner_id"] = [_("Choose an active user.")]
            else:
                values["owner_id"] = owner.id
    if values.get("owner_role") and not role_holders(values["owner_role"]):
        errors["owner_role"] = [_("Choose a role some active user holds.")]
    if "active" in data:
        values["active"] = bool(data["active"])
    if errors:
        raise ValidationFailed(errors)
    target = form or LeadForm(key=new_key(), active=True)
    for key, value in values.items():
        setattr(target, key, value)
    if form is None:
        db.session.add(target)
    db.session.commit()
    return target


# --- submissions ---------------------------------------------------------------------------


def ip_hash(ip: str) -> str:
    secret = current_app.config.get("SECRET_KEY") or ""
    return hashlib.sha256(f"{secret}:{ip}".encode()).hexdigest()


def _setting_int(key: str, default: int) -> int:
    try:
        return int(setting(key) or default)
    except (TypeError, ValueError):
        return default


def check_rate(form: LeadForm, ip_digest: str) -> None:
    """RateLimited when this address or this form posted too often in the last minute."""
    since = utcnow() - timedelta(minutes=1)
    per_ip = _setting_int("sales.lead_rate_per_minute", 10)
    per_form = _setting_int("sales.lead_form_rate_per_minute", 120)
    for condition, limit in (
        (LeadSubmission.ip_hash == ip_digest, per_ip),
        (LeadSubmission.form_id == form.id, per_form),
    ):
        rows = db.session.execute(
            sa.select(LeadSubmission.at)
            .where(condition, LeadSubmission.at > since)
            .order_by(LeadSubmission.at.desc())
            .limit(limit)
        ).scalars()
        times = list(rows)
        if len(times) >= limit:
            oldest = times[-1]
            wait = int((oldest + timedelta(minutes=1) - utcnow()).total_seconds()) + 1
            raise RateLimited(max(1, wait))


def record(form: LeadForm, ip_digest: str, status: str, deal_id=None, error: str = "") -> None:
    db.session.add(
        LeadSubmission(
            form_id=form.id,
            ip_hash=ip_digest,
            status=status,
            deal_id=deal_id,
            error=error[:2000],
            at=utcnow(),
        )
    )
    db.session.commit()


def clean(data: dict[str, Any]) -> dict[str, Any]:
    """The posted fields, checked; ValidationFailed (422) naming the field."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    for field, limit in {**LIMITS, **dict.fromkeys(UTM, 200)}.items():
        raw = data.get(field)
        if raw is not None and not isinstance(raw, str):
            errors[field] = [_("Enter text.")]
            continue
        text = (raw or "").strip()
        if len(text) > limit:
            errors[field] = [_("At most %(n)s characters.", n=limit)]
        out[field] = text
    if out.get("email"):
        try:
            out["email"] = normalise.email(out["email"])
        except ValueError:
            errors["email"] = [_("Enter a valid e-mail address.")]
    if out.get("phone"):
        try:
            out["e164"] = normalise.phone(out["phone"], clients.phone_region())
        except ValueError:
            errors["phone"] = [_("Enter a valid phone number.")]
    if not errors and not out.get("email") and not out.get("phone"):
        errors["email"] = [_("Give an e-mail address or a phone number so we can reach you.")]
        errors["phone"] = [_("Give an e-mail address or a phone number so we can reach you.")]
    if errors:
        raise ValidationFailed(errors)
    return out


def find_client(email: str, e164: str | None) -> Client | None:
    """A live client with this e-mail or phone (as stored, normalised)."""
    for model, column, value in ((Email, Email.email, email), (Phone, Phone.e164, e164)):
        if not value:
            continue
        found = db.session.execute(
            sa.select(Client)
            .join(model, model.client_id == Client.id)
            .where(column == value, Client.deleted_at.is_(None), Client.merged_into_id.is_(None))
            .order_by(Client.id)
            .limit(1)
        ).scalar()
        if found is not None:
            return found
    return None


def _owner(form: LeadForm) -> int | None:
    if form.owner_id is not None:
        owner = db.session.get(User, form.owner_id)
        if owner is not None and owner.active:
            return owner.id
    if form.owner_role:
        holders = role_holders(form.owner_role)
        if holders:
            last = db.session.execute(
                sa.select(Deal.owner_id)
                .join(LeadSubmission, LeadSubmission.deal_id == Deal.id)
                .where(LeadSubmission.form_id == form.id, Deal.owner_id.in_(holders))
                .order_by(LeadSubmission.id.desc())
                .limit(1)
            ).scalar()
            later = [h for h in holders if last is not None and h > last]
            return later[0] if later else holders[0]
    return None


def _source_code(source: str) -> str | None:
    return source if source in {o.code for o in clients.options("source")} else None


def submit(form: LeadForm, data: dict[str, Any]) -> Deal:
    """A client (found by e-mail or phone, or new) and a deal at the pipeline's first
    stage with the form's source and the UTM tags. ValidationFailed for bad input."""
    fields = clean(data)
    owner_id = _owner(form)
    client = find_client(fields["email"], fields.get("e164"))
    person = fields["name"]
    company = fields["company"]
    if client is None:
        client_data: dict[str, Any] = {
            "kind": "company" if company else "person",
            "name": company or person or fields["email"] or fields["phone"],
            "notes": fields["message"],
        }
        if owner_id is not None:
            client_data["owner_id"] = owner_id
        source = _source_code(form.source)
        if source:
            client_data["source"] = source
        contact_channels = {
            "emails": [fields["email"]] if fields["email"] else [],
            "phones": [fields["phone"]] if fields["phone"] else [],
        }
        with_contact = bool(company and person)
        if not with_contact:
            client_data.update(contact_channels)
        client = clients.create_client(client_data)
        if with_contact:
            first, _sep, last = person.partition(" ")
            clients.save_contact(
                client, {"first_name": first, "last_name": last, **contact_channels}
            )
    utm = {key: fields[key] for key in UTM if fields.get(key)}
    title = _("Web request: %(name)s", name=company or person or client.name)
    notes = fields["message"]
    return deals.create_deal(
        {
            "title": title[:300],
            "client_id": client.id,
            "pipeline_id": form.pipeline_id,
            "owner_id": owner_id,
            "source": (form.source or "website")[:40],
            "campaign": fields.get("utm_campaign") or None,
            "utm": utm,
            "notes": notes,
        },
        None,
    )
