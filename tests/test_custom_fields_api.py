"""The custom fields API: admins define fields, everyone reads them, values are checked."""

from __future__ import annotations

from tests.conftest import api_token, make_user


def test_define_a_field_then_clients_must_fill_it(app, api):
    created = api.post(
        "/api/v1/custom-fields",
        json={"key": "contract_no", "label": "Contract", "kind": "text", "required": True},
    )
    assert created.status_code == 201
    field = created.get_json()
    assert (field["key"], field["required"], field["version"]) == ("contract_no", True, 1)
    refused = api.post("/api/v1/clients", json={"name": "No Contract SRL"})
    assert refused.status_code == 422
    assert "custom.contract_no" in refused.get_json()["errors"]
    ok = api.post("/api/v1/clients", json={"name": "Ok SRL", "custom": {"contract_no": "C-1"}})
    assert ok.status_code == 201
    assert [f["key"] for f in api.get("/api/v1/custom-fields").get_json()] == ["contract_no"]


def test_patch_needs_the_current_version_and_keeps_the_kind(app, api):
    field = api.post(
        "/api/v1/custom-fields",
        json={"key": "segment", "label": "Segment", "kind": "choice", "choices": ["a", "b"]},
    ).get_json()
    changed = api.patch(
        f"/api/v1/custom-fields/{field['id']}", json={"choices": ["a", "b", "c"], "version": 1}
    )
    assert changed.status_code == 200 and changed.get_json()["choices"] == ["a", "b", "c"]
    stale = api.patch(f"/api/v1/custom-fields/{field['id']}", json={"label": "X", "version": 1})
    assert stale.status_code == 409
    assert api.get(f"/api/v1/custom-fields/{field['id']}").get_json()["label"] == "Segment"
    kind = api.patch(f"/api/v1/custom-fields/{field['id']}", json={"kind": "text", "version": 2})
    assert kind.status_code == 422


def test_bad_definitions_are_refused_naming_the_field(app, api):
    cases = [
        ({"key": "Bad Key", "label": "X", "kind": "text"}, "key"),
        ({"key": "x", "label": "X", "kind": "colour"}, "kind"),
        ({"key": "x", "label": "X", "kind": "choice", "choices": []}, "choices"),
        ({"key": "x", "kind": "text"}, "label"),
    ]
    for body, field in cases:
        response = api.post("/api/v1/custom-fields", json=body)
        assert response.status_code == 422, body
        assert field in response.get_json()["errors"], response.get_json()
    api.post("/api/v1/custom-fields", json={"key": "dup", "label": "Dup", "kind": "text"})
    again = api.post("/api/v1/custom-fields", json={"key": "dup", "label": "Dup", "kind": "text"})
    assert again.status_code == 422 and "key" in again.get_json()["errors"]
    assert api.get("/api/v1/custom-fields/999").status_code == 404


def test_choices_follow_the_same_rules_on_create_and_on_change(app, api):
    # A choice holding ";" was split in two by the next save on the settings page (which
    # lists choices separated by ";") and could never be imported into a multi field.
    cases = [
        {"key": "x", "label": "X", "kind": "multi", "choices": ["Retail; wholesale"]},
        {"key": "x", "label": "X", "kind": "choice", "choices": [f"c{i}" for i in range(201)]},
    ]
    for body in cases:
        response = api.post("/api/v1/custom-fields", json=body)
        assert response.status_code == 422, body
        assert "choices" in response.get_json()["errors"]
    field = api.post(
        "/api/v1/custom-fields",
        json={"key": "segment", "label": "Segment", "kind": "multi", "choices": ["a"]},
    ).get_json()
    for choices in (["a; b"], [f"c{i}" for i in range(201)]):
        response = api.patch(
            f"/api/v1/custom-fields/{field['id']}", json={"choices": choices, "version": 1}
        )
        assert response.status_code == 422, choices
        assert "choices" in response.get_json()["errors"]
    assert api.get(f"/api/v1/custom-fields/{field['id']}").get_json()["choices"] == ["a"]


def test_managers_read_fields_but_only_configurers_change_them(app):
    make_user(app, "sam@example.com", ["clients.view"], {"clients": "own"})
    client = app.test_client()
    headers = api_token(client, "sam@example.com")
    assert client.get("/api/v1/custom-fields", headers=headers).status_code == 200
    response = client.post(
        "/api/v1/custom-fields", json={"key": "x", "label": "X", "kind": "text"}, headers=headers
    )
    assert response.status_code == 403
