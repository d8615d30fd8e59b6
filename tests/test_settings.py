"""Settings declared by core and plugins, validated on save."""

from __future__ import annotations

from core.settings import services
from tests.conftest import disable, enable, post_form


def test_settings_page_groups_core_and_plugin_settings(app, admin_client):
    enable(app, "hello")
    page = admin_client.get("/admin/settings/").get_data(as_text=True)
    assert "Company name" in page and "Greeting word" in page
    disable(app, "hello")
    assert "Greeting word" not in admin_client.get("/admin/settings/").get_data(as_text=True)


def test_valid_settings_are_saved(app, admin_client):
    response = post_form(
        admin_client,
        "/admin/settings/",
        {
            "core.company_name": "Okna Plus SRL",
            "core.company_address": "Chișinău",
            "core.company_tax_id": "1002600012345",
            "core.default_locale": "ro",
            "core.audit_retention_days": "365",
        },
        page="/admin/settings/",
    )
    assert response.status_code == 302
    with app.app_context():
        assert services.get("core.company_name") == "Okna Plus SRL"
        assert services.get("core.audit_retention_days") == 365


def test_invalid_settings_show_form_errors_and_save_nothing(app, admin_client):
    response = post_form(
        admin_client,
        "/admin/settings/",
        {
            "core.company_name": "Changed",
            "core.default_locale": "klingon",
            "core.audit_retention_days": "soon",
        },
        page="/admin/settings/",
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Choose one of" in page and "Enter a whole number." in page
    with app.app_context():
        assert services.get("core.company_name") == ""


def test_unknown_or_overlong_settings_are_refused(app):
    with app.app_context():
        assert services.save({"core.nope": "x"}) == {"core.nope": ["Unknown setting."]}
        errors = services.save({"core.company_name": "x" * 201})
        assert "at most 200" in errors["core.company_name"][0]


def test_numbers_outside_a_settings_range_are_refused(app):
    with app.app_context():
        errors = services.save({"core.audit_retention_days": "99999999999"})
        assert "from 0 to 36500" in errors["core.audit_retention_days"][0]
        assert services.get("core.audit_retention_days") == 0
