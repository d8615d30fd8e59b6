"""The hand-written list JSON equals what the documented marshmallow schema would produce."""

from __future__ import annotations

from core.clients import queries, services
from core.clients.schemas import ClientSummarySchema, summary_json
from core.db import db
from core.users.models import User


def test_list_json_matches_the_documented_schema(app):
    with app.app_context():
        admin = db.session.get(User, 1)
        services.create_client(
            {
                "name": "Shape Co",
                "phones": ["+49 30 1234567"],
                "emails": ["a@shape.de"],
                "tags": ["x", "y"],
                "next_contact_on": "2026-12-01",
                "owner_id": admin.id,
                "tax_id": "DE136695976",
                "website": "shape.de",
            }
        )
        services.create_client({"name": "Bare Person", "kind": "person"})
        rows, _ = queries.page(queries.ClientQuery(), admin)
        assert len(rows) == 2
        for row in rows:
            assert summary_json(row) == ClientSummarySchema().dump(row)
