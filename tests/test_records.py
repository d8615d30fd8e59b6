"""Links to records of any kind resolve only for users who may see the record."""

from __future__ import annotations

from core import records
from core.clients import services
from core.db import db
from core.users.models import User
from tests.conftest import make_user


def test_a_client_link_resolves_only_within_the_users_scope(app):
    own = {"clients": "own"}
    owner_id = make_user(app, "owner@example.com", ["clients.view"], own)
    other_id = make_user(app, "other@example.com", ["clients.view"], own)
    with app.test_request_context():
        client = services.create_client({"name": "Ромашка ООО", "owner_id": owner_id})
        db.session.commit()
        owner, other = db.session.get(User, owner_id), db.session.get(User, other_id)
        linked = records.visible("client", client.id, owner)
        assert linked is not None and linked.title == "Ромашка ООО"
        assert linked.url == f"/clients/{client.id}"
        assert records.visible("client", client.id, other) is None
        assert records.visible("client", client.id + 1000, owner) is None
        assert records.visible("no.such.kind", client.id, owner) is None
