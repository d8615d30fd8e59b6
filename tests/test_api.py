"""The JSON API: users, teams, roles, the error shape for bad input, and the OpenAPI document."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from openapi_spec_validator import validate

from core.db import db
from core.users.models import User
from tests.conftest import ADMIN_EMAIL, login


def _user_count(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one()


def _error(response, status, code):
    body = response.get_json()
    assert response.status_code == status, body
    assert body["status"] == status and body["code"] == code and body["message"], body
    return body


def test_create_read_and_page_users(app, api):
    role = api.post("/api/v1/roles", json={"name": "Sales", "permissions": ["core.users.view"]})
    assert role.status_code == 201
    team = api.post("/api/v1/teams", json={"name": "North"}).get_json()
    created = api.post(
        "/api/v1/users",
        json={
            "email": "Ivan.Petrov@Example.com",
            "name": "Иван Петров",
            "password": "long-enough-pw",
            "role_ids": [role.get_json()["id"]],
            "team_id": team["id"],
            "timezone": "Europe/Moscow",
            "locale": "ru",
        },
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["email"] == "ivan.petrov@example.com" and body["name"] == "Иван Петров"
    assert body["roles"] == [{"id": role.get_json()["id"], "name": "Sales"}]
    assert "password" not in body and "password_hash" not in body
    assert api.get(f"/api/v1/users/{body['id']}").get_json()["team_id"] == team["id"]
    for n in range(3):
        api.post(
            "/api/v1/users",
            json={"email": f"u{n}@example.com", "name": f"U{n}", "password": "long-enough-pw"},
        )
    first = api.get("/api/v1/users?limit=2").get_json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = api.get(f"/api/v1/users?limit=2&after={first['next_cursor']}").get_json()
    third = api.get(f"/api/v1/users?limit=2&after={second['next_cursor']}").get_json()
    ids = [u["id"] for page in (first, second, third) for u in page["items"]]
    assert len(ids) == len(set(ids)) == 5 and third["next_cursor"] is None


def test_patch_user_with_a_stale_version_gets_409_and_changes_nothing(app, api):
    user = api.post(
        "/api/v1/users",
        json={"email": "v@example.com", "name": "Vera", "password": "long-enough-pw"},
    ).get_json()
    ok = api.patch(
        f"/api/v1/users/{user['id']}", json={"version": user["version"], "name": "Vera K"}
    )
    assert ok.status_code == 200 and ok.get_json()["version"] == user["version"] + 1
    stale = api.patch(
        f"/api/v1/users/{user['id']}", json={"version": user["version"], "name": "Lost"}
    )
    body = _error(stale, 409, "conflict")
    assert "changed by someone else" in body["message"]
    assert api.get(f"/api/v1/users/{user['id']}").get_json()["name"] == "Vera K"


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"name": "No Email", "password": "long-enough-pw"}, "email", "Missing data"),
        (
            {"email": "not-an-email", "name": "X", "password": "long-enough-pw"},
            "email",
            "valid email",
        ),
        (
            {"email": "a@example.com", "name": 42, "password": "long-enough-pw"},
            "name",
            "Not a valid string",
        ),
        (
            {"email": "a@example.com", "name": "X" * 201, "password": "long-enough-pw"},
            "name",
            "Length",
        ),
        ({"email": "a@example.com", "name": "X", "password": "short"}, "password", "Length"),
        (
            {"email": "a@example.com", "name": "X", "password": "long-enough-pw", "is_god": True},
            "is_god",
            "Unknown field",
        ),
        (
            {"email": "a@example.com", "name": "X", "password": "long-enough-pw", "locale": "xx"},
            "locale",
            "Must be one of",
        ),
        (
            {"email": "a@example.com", "name": "X", "password": "long-enough-pw", "team_id": "one"},
            "team_id",
            "Not a valid integer",
        ),
        (
            {
                "email": "a@example.com",
                "name": "X",
                "password": "long-enough-pw",
                "role_ids": [999],
            },
            "role_ids",
            "do not exist",
        ),
        (
            {
                "email": "a@example.com",
                "name": "X",
                "password": "long-enough-pw",
                "timezone": "Mars/Olympus",
            },
            "timezone",
            "Unknown time zone",
        ),
        (
            {"email": ADMIN_EMAIL.upper(), "name": "X", "password": "long-enough-pw"},
            "email",
            "already exists",
        ),
    ],
)
def test_bad_user_input_names_the_field_and_changes_nothing(app, api, body, field, fragment):
    before = _user_count(app)
    response = api.post("/api/v1/users", json=body)
    error = _error(response, 422, "validation_error")
    assert field in error["errors"], error
    assert fragment.lower() in " ".join(error["errors"][field]).lower(), error
    assert field in error["message"]
    assert _user_count(app) == before


def test_malformed_json_and_wrong_body_types_get_400_or_422(app, api):
    response = api.post("/api/v1/users", data="{not json", content_type="application/json")
    body = _error(response, 400, "bad_request")
    assert "json" in body["message"].lower()
    response = api.post("/api/v1/users", json=["a", "list"])
    _error(response, 422, "validation_error")
    response = api.post("/api/v1/roles", json={"name": "R", "scopes": {"greetings": "everyone"}})
    assert "scopes" in " ".join(_error(response, 422, "validation_error")["errors"])


def test_roles_validate_permission_codes_and_refuse_deleting_a_held_role(app, api):
    response = api.post("/api/v1/roles", json={"name": "Bad", "permissions": ["core.nuke"]})
    assert "core.nuke" in _error(response, 422, "validation_error")["errors"]["permissions"][0]
    response = api.post("/api/v1/roles", json={"name": "Administrator"})
    assert "already exists" in _error(response, 422, "validation_error")["errors"]["name"][0]
    admin_role = next(r for r in api.get("/api/v1/roles").get_json() if r["is_admin"])
    _error(api.delete(f"/api/v1/roles/{admin_role['id']}"), 409, "conflict")
    spare = api.post("/api/v1/roles", json={"name": "Spare"}).get_json()
    assert api.delete(f"/api/v1/roles/{spare['id']}").status_code == 204
    _error(api.get(f"/api/v1/roles/{spare['id']}"), 404, "not_found")


def test_permission_catalogue_groups_codes_by_plugin(app, api):
    codes = {(p["plugin"], p["code"]) for p in api.get("/api/v1/permissions").get_json()}
    assert ("core", "core.plugins.manage") in codes
    assert ("hello", "hello.view") in codes


def test_unknown_routes_and_methods_answer_in_the_error_shape(app, api):
    _error(api.get("/api/v1/nothing-here"), 404, "not_found")
    response = api.put("/api/v1/plugins")
    _error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    _error(api.get("/api/v1/users/999999"), 404, "not_found")


def test_query_parameters_are_validated(app, api):
    error = _error(api.get("/api/v1/users?limit=100000"), 422, "validation_error")
    assert "limit" in error["errors"]
    error = _error(api.get("/api/v1/users?after=abc"), 422, "validation_error")
    assert "after" in error["errors"]


def test_openapi_document_is_valid_and_covers_every_api_route(app):
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    documented = set()
    for path, operations in spec["paths"].items():
        for method in operations:
            if method in {"get", "post", "put", "patch", "delete"}:
                documented.add((method.upper(), path))
    routed = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint.startswith("api-docs."):
            continue
        path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routed.add((method, path))
    assert routed, "no API routes found"
    assert routed <= documented, f"undocumented: {sorted(routed - documented)}"
    assert "bearerAuth" in spec["components"]["securitySchemes"]


def test_openapi_document_includes_plugin_routes_under_their_prefix(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    assert "/api/v1/hello/greetings" in spec["paths"]


def test_cookie_login_does_not_open_the_api(app, client):
    login(client)
    assert client.get("/api/v1/users/me").status_code == 401
