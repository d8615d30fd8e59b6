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


def test_detail_json_matches_the_documented_schema(app, api):
    """The API's client detail is built by hand from light rows, like the list."""
    from core.clients.models import Client
    from core.clients.schemas import ClientOutSchema, detail_json

    with app.app_context():
        admin = db.session.get(User, 1)
        full = services.create_client(
            {
                "name": "Detail GmbH",
                "legal_name": "Detail Gesellschaft mbH",
                "phones": ["+49 30 7654321", {"number": "+49 170 1234567", "kind": "mobile"}],
                "emails": ["info@detail.de", {"email": "bill@detail.de", "kind": "billing"}],
                "tags": ["b", "a"],
                "addresses": [
                    {"kind": "legal", "city": "Berlin", "street": "Hauptstr. 1"},
                    {"kind": "postal", "country": "DE", "postcode": "10115"},
                ],
                "notes": "Calls on Mondays.",
                "owner_id": admin.id,
            }
        ).id
        bare = services.create_client({"name": "Bare", "kind": "person"}).id
        for client_id in (full, bare):
            row = queries.detail(client_id, admin)
            expected = ClientOutSchema().dump(db.session.get(Client, client_id))
            assert detail_json(row) == expected
            assert api.get(f"/api/v1/clients/{client_id}").get_json() == expected
