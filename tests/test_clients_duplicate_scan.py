"""The duplicate finder: a scan over the whole registry, its review, dismissals and merges."""

from __future__ import annotations

import hashlib
import re

import pytest
import sqlalchemy as sa

from core.clients import services
from core.clients.dupscan import scan as dupscan
from core.clients.dupscan.models import DuplicatePair, DuplicateScan
from core.clients.models import Client
from core.db import db, utcnow
from core.users.models import User
from tests.conftest import QueryCounter, api_token, login, make_user, post_form


def _create(app, name, owner_email="admin@example.com", **data):
    with app.app_context():
        owner = db.session.execute(sa.select(User.id).filter_by(email=owner_email)).scalar_one()
        return services.create_client({"name": name, "owner_id": owner, **data}).id


def _scan(api) -> dict:
    response = api.post("/api/v1/clients/duplicate-scans")
    assert response.status_code == 202, response.get_json()
    scan = api.get(f"/api/v1/clients/duplicate-scans/{response.get_json()['id']}").get_json()
    assert scan["status"] == "done", scan
    return scan


def _pairs(api, **query) -> list[dict]:
    response = api.get("/api/v1/clients/duplicate-pairs", query_string={"limit": 200, **query})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def _by_clients(pairs) -> dict[frozenset, dict]:
    return {frozenset((p["client_a"]["id"], p["client_b"]["id"])): p for p in pairs}


@pytest.fixture
def registry(app):
    """Clients that duplicate each other in one way each, and some that look like no one."""
    ids = {
        "mail_1": _create(app, "Alpha Trade", emails=["office@alpha.example"]),
        "mail_2": _create(app, "Beta Foods", emails=["OFFICE@alpha.example"]),
        "phone_1": _create(app, "Gamma Logistics", phones=["+373 22 123 456"]),
        "phone_2": _create(app, "Delta Consulting", phones=["+37322123456"]),
        "tax_1": _create(app, "Epsilon Retail", tax_id="RO 1234-5678"),
        "tax_2": _create(app, "Zeta Wholesale", tax_id="ro12345678"),
        "name_1": _create(app, "OOO Romashka"),
        "name_2": _create(app, "Romashka SRL"),
        "typo_1": _create(app, "Okna Plus Grup"),
        "typo_2": _create(app, "OKNA-PLUS GRUPP"),
        "lonely_1": _create(app, "Vinaria Purcari"),
        "lonely_2": _create(app, "Zorile Construct"),
        "lonely_3": _create(app, "Romanov Transport"),
    }
    return ids


def test_a_scan_finds_pairs_by_email_phone_tax_id_and_similar_names(app, api, registry):
    scan = _scan(api)
    assert scan["total"] == scan["done"] == len(registry)
    assert scan["pairs_found"] == 5
    found = _by_clients(_pairs(api))
    expected = {
        ("mail_1", "mail_2"): ["e-mail"],
        ("phone_1", "phone_2"): ["phone"],
        ("tax_1", "tax_2"): ["tax id"],
        ("name_1", "name_2"): ["similar name"],
        ("typo_1", "typo_2"): ["similar name"],
    }
    assert set(found) == {frozenset((registry[a], registry[b])) for a, b in expected}
    for (a, b), reasons in expected.items():
        pair = found[frozenset((registry[a], registry[b]))]
        assert pair["reasons"] == reasons and pair["status"] == "open"
        assert pair["client_a"]["id"] < pair["client_b"]["id"]
    assert found[frozenset((registry["name_1"], registry["name_2"]))]["score"] == 100
    typo = found[frozenset((registry["typo_1"], registry["typo_2"]))]
    assert 88 <= typo["score"] < 100
    phone_pair = found[frozenset((registry["phone_1"], registry["phone_2"]))]
    assert phone_pair["client_a"]["phones"] == [{"number": "+37322123456", "contact_person": False}]
    assert phone_pair["client_a"]["owner_name"] == "Ada Admin"
    # Best first: exact matches (100) before the typo.
    assert _pairs(api)[-1]["id"] == typo["id"]


def test_a_contact_persons_phone_counts_for_the_company(app, api):
    first = _create(app, "Lambda Systems")
    second = _create(app, "Omega Tools", phones=["+49 30 5556667"])
    with app.app_context():
        client = db.session.get(Client, first)
        services.save_contact(client, {"last_name": "Weber", "phones": ["+49 30 5556667"]})
    _scan(api)
    assert set(_by_clients(_pairs(api))) == {frozenset((first, second))}


def test_dismissed_pairs_stay_dismissed_and_others_keep_their_ids(app, api, registry):
    _scan(api)
    pairs = _by_clients(_pairs(api))
    mail = pairs[frozenset((registry["mail_1"], registry["mail_2"]))]
    phone = pairs[frozenset((registry["phone_1"], registry["phone_2"]))]
    response = api.post(f"/api/v1/clients/duplicate-pairs/{mail['id']}/dismiss")
    assert response.status_code == 200 and response.get_json()["status"] == "dismissed"
    again = api.post(f"/api/v1/clients/duplicate-pairs/{mail['id']}/dismiss")
    assert again.status_code == 409
    assert mail["id"] not in [p["id"] for p in _pairs(api)]

    scan = _scan(api)
    assert scan["pairs_found"] == 4 and scan["pairs_decided"] == 1
    after = _by_clients(_pairs(api))
    assert frozenset((registry["mail_1"], registry["mail_2"])) not in after
    assert after[frozenset((registry["phone_1"], registry["phone_2"]))]["id"] == phone["id"]
    assert after[frozenset((registry["phone_1"], registry["phone_2"]))]["found_by_id"] == scan["id"]
    history = api.get(
        "/api/v1/audit",
        query_string={"entity": "clients", "entity_id": registry["mail_1"]},
    ).get_json()["items"]
    assert history[0]["action"] == "not_duplicate"
    assert history[0]["changes"] == {"not_duplicate_of": [None, registry["mail_2"]]}


def test_merged_trashed_and_purged_clients_drop_out(app, api, registry):
    _scan(api)
    pairs = _by_clients(_pairs(api))
    name_pair = pairs[frozenset((registry["name_1"], registry["name_2"]))]
    # Merged through the existing merge: the pair is decided, and gone from the review.
    response = api.post(
        "/api/v1/clients/merge",
        json={
            "survivor_id": registry["name_1"],
            "merged_ids": [registry["name_2"]],
            "version": 1,
        },
    )
    assert response.status_code == 200, response.get_json()
    # Trashed: gone from the review at once, without a new scan.
    assert api.delete(f"/api/v1/clients/{registry['phone_2']}").status_code == 204
    left = _by_clients(_pairs(api))
    assert frozenset((registry["name_1"], registry["name_2"])) not in left
    assert frozenset((registry["phone_1"], registry["phone_2"])) not in left
    assert len(left) == 3
    trashed_pair = pairs[frozenset((registry["phone_1"], registry["phone_2"]))]
    dismiss = api.post(f"/api/v1/clients/duplicate-pairs/{trashed_pair['id']}/dismiss")
    assert dismiss.status_code == 404
    with app.app_context():
        assert db.session.get(DuplicatePair, name_pair["id"]).status == "merged"
    # Purged: its pairs are deleted with it.
    assert api.post(f"/api/v1/clients/{registry['phone_2']}/purge").status_code == 204
    with app.app_context():
        assert db.session.get(DuplicatePair, trashed_pair["id"]) is None
    # A new scan does not bring the merged pair back.
    assert _scan(api)["pairs_found"] == 3


def test_scope_own_sees_only_pairs_of_two_of_their_own_clients(app, api):
    perms = ["clients.view", "clients.merge"]
    make_user(app, "anna@example.com", perms, {"clients": "own"})
    make_user(app, "boris@example.com", perms, {"clients": "own"})
    mine_1 = _create(app, "Anna Windows", "anna@example.com", emails=["a@windows.example"])
    mine_2 = _create(app, "Windows Anna", "anna@example.com")
    theirs = _create(app, "Boris Doors", "boris@example.com", emails=["a@windows.example"])
    _scan(api)
    assert len(_pairs(api)) == 2  # the admin sees both
    client = app.test_client()
    for email, expected in (
        ("anna@example.com", {frozenset((mine_1, mine_2))}),
        ("boris@example.com", set()),
    ):
        headers = api_token(client, email)
        items = client.get("/api/v1/clients/duplicate-pairs", headers=headers).get_json()["items"]
        assert set(_by_clients(items)) == expected, email
    headers = api_token(client, "boris@example.com")
    theirs_pair = _by_clients(_pairs(api))[frozenset((mine_1, theirs))]
    response = client.post(
        f"/api/v1/clients/duplicate-pairs/{theirs_pair['id']}/dismiss", headers=headers
    )
    assert response.status_code == 404
    login(client, "boris@example.com")
    page = client.get("/clients/duplicates/").get_data(as_text=True)
    assert "Anna Windows" not in page and "Boris Doors" not in page


def test_a_value_shared_by_many_clients_is_reported_not_paired(app, api):
    shared = "+373 22 999 000"
    ids = [
        _create(app, f"Tenant {n:02d} Company", phones=[shared])
        for n in range(dupscan.MAX_GROUP + 1)
    ]
    scan = _scan(api)
    assert scan["groups_skipped"] >= 1
    assert {"reason": "phone", "value": "+37322999000", "clients": len(ids)} in scan["skipped"]
    pairs = _pairs(api)
    assert not [p for p in pairs if "phone" in p["reasons"]]
    # A user who does not see every client learns the count, not the number.
    make_user(app, "own@example.com", ["clients.merge"], {"clients": "own"})
    client = app.test_client()
    seen = client.get(
        f"/api/v1/clients/duplicate-scans/{scan['id']}",
        headers=api_token(client, "own@example.com"),
    ).get_json()
    assert seen["groups_skipped"] == scan["groups_skipped"] and seen["skipped"] == []


def test_a_retried_scan_starts_over_and_ends_the_same(app, api, registry, monkeypatch):
    calls = {"n": 0}
    real = dupscan.find_similar_names

    def flaky(groups, found, window=dupscan.WINDOW):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("worker lost")
        return real(groups, found, window)

    monkeypatch.setattr(dupscan, "find_similar_names", flaky)
    scan = _scan(api)  # the job fails once, then its retry finishes
    assert calls["n"] == 2 and scan["message"] == ""
    assert scan["pairs_found"] == 5 and len(_pairs(api)) == 5
    with app.app_context():
        # Delivered once more after it finished: nothing changes.
        assert dupscan.run(scan["id"]) is None
        assert db.session.execute(sa.select(sa.func.count(DuplicatePair.id))).scalar() == 5


def test_bad_input_is_refused_clearly(app, api, registry):
    _scan(api)
    cases = [
        ("get", "/api/v1/clients/duplicate-pairs?limit=0", 422, "limit"),
        ("get", "/api/v1/clients/duplicate-pairs?limit=abc", 422, "limit"),
        ("get", "/api/v1/clients/duplicate-pairs?cursor=not-a-cursor", 422, "cursor"),
        ("get", "/api/v1/clients/duplicate-scans/999999", 404, "999999"),
        ("post", "/api/v1/clients/duplicate-pairs/999999/dismiss", 404, "999999"),
        ("post", "/api/v1/clients/duplicate-pairs/99999999999999999999999/dismiss", 404, ""),
    ]
    for method, path, status, text in cases:
        response = getattr(api, method)(path)
        assert response.status_code == status, (path, response.get_json())
        assert text in str(response.get_json()), (path, response.get_json())
    # A cursor of the clients list is not one of this list.
    other = api.get("/api/v1/clients?limit=1").get_json()["next_cursor"]
    response = api.get("/api/v1/clients/duplicate-pairs", query_string={"cursor": other})
    assert response.status_code == 422


def test_a_second_scan_waits_for_the_running_one(app, api):
    with app.app_context():
        running = DuplicateScan(status="running", skipped=[], message="")
        db.session.add(running)
        db.session.commit()
        running_id = running.id
    response = api.post("/api/v1/clients/duplicate-scans")
    assert response.status_code == 409 and str(running_id) in response.get_json()["message"]
    with app.app_context():
        # A scan whose worker died long ago does not block new ones.
        stale = db.session.get(DuplicateScan, running_id)
        stale.updated_at = utcnow() - dupscan.STALE_AFTER * 2
        db.session.commit()
    assert api.post("/api/v1/clients/duplicate-scans").status_code == 202
    with app.app_context():
        assert db.session.get(DuplicateScan, running_id).status == "failed"


def test_pages_walk_every_pair_once(app, api):
    for n in range(7):
        for side in ("first", "second"):
            name = hashlib.sha256(f"{n}{side}".encode()).hexdigest()[:12]
            _create(app, name, emails=[f"pair{n}@example.com"])
    _scan(api)
    seen, cursor = [], None
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = api.get("/api/v1/clients/duplicate-pairs", query_string=query).get_json()
        seen += [p["id"] for p in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 7


# --- the review page -------------------------------------------------------------------------


def test_the_review_page_starts_a_scan_lists_pairs_and_dismisses(app, admin_client, registry):
    page = admin_client.get("/clients/duplicates/")
    assert page.status_code == 200 and "No scan has run yet" in page.get_data(as_text=True)
    response = post_form(admin_client, "/clients/duplicates/scans", page="/clients/duplicates/")
    assert response.status_code == 302
    html = admin_client.get("/clients/duplicates/").get_data(as_text=True)
    assert "13 clients compared; 5 pairs to review." in html
    assert html.count('data-testid="pair"') == 5
    assert "OKNA-PLUS GRUPP" in html and "+373 22 123 456" in html
    merge_link = f"/clients/merge?ids={registry['name_1']},{registry['name_2']}&amp;back=duplicates"
    assert merge_link in html
    pair_id = re.search(r'data-pair-id="(\d+)"', html).group(1)
    response = post_form(
        admin_client, f"/clients/duplicates/{pair_id}/dismiss", page="/clients/duplicates/"
    )
    assert response.status_code == 302
    html = admin_client.get("/clients/duplicates/").get_data(as_text=True)
    assert "are marked as different clients" in html
    assert html.count('data-testid="pair"') == 4 and f'data-pair-id="{pair_id}"' not in html
    # Without the CSRF token nothing is dismissed.
    other = re.search(r'data-pair-id="(\d+)"', html).group(1)
    assert admin_client.post(f"/clients/duplicates/{other}/dismiss").status_code == 400
    assert f'data-pair-id="{other}"' in admin_client.get("/clients/duplicates/").get_data(
        as_text=True
    )


def test_merging_from_the_review_comes_back_to_it(app, admin_client, registry):
    post_form(admin_client, "/clients/duplicates/scans", page="/clients/duplicates/")
    a, b = registry["name_1"], registry["name_2"]
    compare = f"/clients/merge?ids={a},{b}&back=duplicates"
    assert 'name="back" value="duplicates"' in admin_client.get(compare).get_data(as_text=True)
    response = post_form(
        admin_client,
        "/clients/merge",
        {
            "ids": f"{a},{b}",
            "back": "duplicates",
            "survivor_id": str(a),
            f"version_{a}": "1",
            f"version_{b}": "1",
        },
        page=compare,
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/clients/duplicates/")
    html = admin_client.get("/clients/duplicates/").get_data(as_text=True)
    assert html.count('data-testid="pair"') == 4 and "Romashka SRL" not in html


def test_a_running_scan_shows_its_progress_without_script(app, admin_client):
    with app.app_context():
        scan = DuplicateScan(
            status="running",
            stage="names",
            progress_done=250,
            progress_total=1000,
            skipped=[],
            message="",
        )
        db.session.add(scan)
        db.session.commit()
        scan_id = scan.id
    html = admin_client.get("/clients/duplicates/").get_data(as_text=True)
    assert 'max="1000" value="250"' in html and "250 of 1000 clients read" in html
    assert 'data-testid="refresh"' in html and "disabled" in html
    progress = admin_client.get(f"/clients/duplicates/scans/{scan_id}/progress").get_json()
    assert progress["done"] == 250 and progress["total"] == 1000
    assert progress["status"] == "running"
    assert admin_client.get("/clients/duplicates/scans/999999/progress").status_code == 404


def test_the_review_needs_the_merge_permission(app, client):
    make_user(app, "viewer@example.com", ["clients.view"], {"clients": "all"})
    login(client, "viewer@example.com")
    assert client.get("/clients/duplicates/").status_code == 403
    assert ">Duplicates<" not in client.get("/").get_data(as_text=True)
    headers = api_token(app.test_client(), "viewer@example.com")
    api = app.test_client()
    assert api.post("/api/v1/clients/duplicate-scans", headers=headers).status_code == 403
    assert api.get("/api/v1/clients/duplicate-pairs", headers=headers).status_code == 403


def test_the_review_page_runs_the_same_queries_for_5_and_50_pairs(app, admin_client):
    with app.app_context():
        owner = db.session.execute(sa.select(User.id).filter_by(email="admin@example.com")).scalar()
        for n in range(50):
            for side in ("a", "b"):
                services.create_client(
                    {
                        # Names that look like no other: only the e-mail makes the pair.
                        "name": hashlib.sha256(f"{n}{side}".encode()).hexdigest()[:12],
                        "owner_id": owner,
                        "emails": [f"shop{n}@example.com"],
                        "phones": [f"+49 30 {2000000 + n * 2 + (side == 'b')}"],
                    }
                )
    post_form(admin_client, "/clients/duplicates/scans", page="/clients/duplicates/")
    with app.app_context():
        ids = db.session.execute(sa.select(DuplicatePair.id).order_by(DuplicatePair.id)).scalars()
        ids = list(ids)
    assert len(ids) == 50
    counts = {}
    for keep in (5, 50):
        with app.app_context():
            db.session.execute(
                sa.update(DuplicatePair)
                .where(DuplicatePair.id.in_(ids[keep:]))
                .values(status="dismissed")
            )
            db.session.execute(
                sa.update(DuplicatePair)
                .where(DuplicatePair.id.in_(ids[:keep]))
                .values(status="open")
            )
            db.session.commit()
        admin_client.get("/clients/duplicates/")  # warm caches
        with QueryCounter(app) as counter:
            response = admin_client.get("/clients/duplicates/")
        html = response.get_data(as_text=True)
        assert html.count('data-testid="pair"') == keep
        counts[keep] = counter.count
        assert not any(
            "count(" in s.lower() and "duplicate_pairs" in s.lower() for s in counter.statements
        )
    assert counts[5] == counts[50] <= 16, counts


def test_names_differing_in_the_first_letter_are_compared_from_the_end():
    """Sorted alphabetically, "Vinexport" and "Winexport" are far apart (other names sort
    between them); sorted by their endings they are neighbours, so the pair is found."""
    groups = {"vinexport": [1], "winexport": [2], "vz": [3], "wa": [4], "wb": [5]}
    found = dupscan.Found()
    dupscan.find_similar_names(groups, found, window=1)
    assert list(found.rows(1, None)) == [
        {"a": 1, "b": 2, "reasons": '["similar name"]', "score": 88, "scan": 1, "at": None}
    ]
    assert dupscan.sorted_core_name("ооо «ромашка» плюс") == "плюс ромашка"
