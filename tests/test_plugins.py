"""The plugin mechanism, proven with test plugins installed through real entry points."""

from __future__ import annotations

import sqlalchemy as sa
from crm_test_plugins.hello.models import Delivery, Greeting

from core.db import db
from core.plugin_system import migrations, services
from core.users import services as user_services
from tests.conftest import (
    PASSWORD,
    api_token,
    disable,
    enable,
    login,
    make_app,
    make_user,
    post_form,
)


def _state(app, name):
    with app.app_context():
        return services.get(name, app)


def _menu(client) -> str:
    return client.get("/").get_data(as_text=True)


def test_every_entry_point_is_discovered_and_new_plugins_start_disabled(app):
    with app.app_context():
        views = {v.name: v for v in services.overview(app)}
    assert {
        "hello",
        "hello_extra",
        "broken",
        "misspelled",
        "needs_missing",
        "bad_migration",
    } <= set(views)
    hello = views["hello"]
    assert (hello.title, hello.version, hello.state) == ("Hello", "1.2.0", "disabled")
    assert hello.distribution == "crm-test-plugins"
    assert views["hello_extra"].requires == ["hello"]
    assert views["hello"].required_by == ["hello_extra"]


def test_plugins_that_cannot_load_are_marked_failed_with_the_reason(app):
    with app.app_context():
        views = {v.name: v for v in services.overview(app)}
    assert views["broken"].state == "failed"
    assert "import failed" in views["broken"].error
    assert "crm_test_plugins_missing_dependency" in views["broken"].error
    assert views["misspelled"].state == "failed"
    assert "unknown hook 'menu_item'" in views["misspelled"].error
    assert views["needs_missing"].state == "failed"
    assert "not_installed_anywhere" in views["needs_missing"].error


def test_a_failed_plugin_cannot_be_enabled_and_the_app_runs_without_it(app, admin_client):
    with app.app_context():
        for name in ("broken", "misspelled", "needs_missing"):
            try:
                services.enable(name, app)
            except services.PluginError as exc:
                assert exc.status == 409
            else:
                raise AssertionError(f"{name} was enabled")
    assert admin_client.get("/").status_code == 200


def test_enabling_runs_the_plugins_own_migrations_with_its_own_version_table(app):
    with app.app_context():
        assert "hello_greeting" not in sa.inspect(db.engine).get_table_names()
    enable(app, "hello")
    with app.app_context():
        tables = sa.inspect(db.engine).get_table_names()
        assert {"hello_greeting", "hello_delivery", "alembic_version_hello"} <= set(tables)
        revision = db.session.execute(
            sa.text("SELECT version_num FROM alembic_version_hello")
        ).scalar()
        assert revision == "0001_hello"
        assert services.get("hello", app).schema_revision == "0001_hello"
        core_revision = db.session.execute(
            sa.text("SELECT version_num FROM alembic_version")
        ).scalar()
        assert core_revision == migrations.head_revision(migrations.CORE_MIGRATIONS)


def test_a_failing_migration_marks_the_plugin_failed_and_leaves_it_disabled(app):
    with app.app_context():
        try:
            services.enable("bad_migration", app)
        except services.PluginError as exc:
            assert "migration failed" in exc.message
        else:
            raise AssertionError("bad_migration was enabled")
        view = services.get("bad_migration", app)
        assert view.state == "failed" and not view.enabled
        assert "bad_migration_table_that_does_not_exist" in view.error
        assert not app.extensions["crm_plugins"].is_active("bad_migration")


def test_enabling_is_refused_until_the_requirement_is_enabled(app):
    with app.app_context():
        try:
            services.enable("hello_extra", app)
        except services.PluginError as exc:
            assert "requires 'hello'" in exc.message
        else:
            raise AssertionError("hello_extra enabled without hello")
        assert services.get("hello_extra", app).state == "disabled"
    enable(app, "hello")
    enable(app, "hello_extra")
    assert _state(app, "hello_extra").state == "enabled"


def test_disabling_a_required_plugin_is_refused(app):
    enable(app, "hello")
    enable(app, "hello_extra")
    with app.app_context():
        try:
            services.disable("hello", app)
        except services.PluginError as exc:
            assert "'hello_extra' requires it" in exc.message
        else:
            raise AssertionError("hello was disabled while hello_extra needs it")
    assert _state(app, "hello").state == "enabled"
    disable(app, "hello_extra")
    disable(app, "hello")
    assert _state(app, "hello").state == "disabled"


def test_disabling_hides_pages_api_menus_and_widgets_and_enabling_brings_them_back(
    app, admin_client
):
    headers = api_token(app.test_client())
    api = app.test_client()
    enable(app, "hello")
    assert admin_client.get("/hello/").status_code == 200
    assert api.get("/api/v1/hello/greetings", headers=headers).status_code == 200
    page = _menu(admin_client)
    assert ">Hello</a>" in page and "hello-widget" in page

    disable(app, "hello")
    assert admin_client.get("/hello/").status_code == 404
    response = api.get("/api/v1/hello/greetings", headers=headers)
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"
    page = _menu(admin_client)
    assert ">Hello</a>" not in page and "hello-widget" not in page

    enable(app, "hello")
    assert admin_client.get("/hello/").status_code == 200
    assert ">Hello</a>" in _menu(admin_client)


def test_hooks_of_a_disabled_plugin_are_not_called_and_its_data_stays(app):
    enable(app, "hello")
    with app.app_context():
        user_services.create_user("first@example.com", "First", PASSWORD)
        assert db.session.execute(sa.select(Greeting.text)).scalars().all() == ["Welcome, First!"]
    disable(app, "hello")
    with app.app_context():
        user_services.create_user("second@example.com", "Second", PASSWORD)
        # The table and its rows are kept while the plugin is off...
        assert db.session.execute(sa.select(Greeting.text)).scalars().all() == ["Welcome, First!"]
    enable(app, "hello")
    with app.app_context():
        user_services.create_user("third@example.com", "Third", PASSWORD)
        texts = db.session.execute(sa.select(Greeting.text).order_by(Greeting.id)).scalars().all()
        assert texts == ["Welcome, First!", "Welcome, Third!"]


def test_plugin_events_reach_enabled_plugins_only(app):
    enable(app, "hello")
    enable(app, "hello_extra")
    disable(app, "hello_extra")
    with app.app_context():
        kinds = db.session.execute(
            sa.select(Delivery.kind, Delivery.payload).order_by(Delivery.id)
        ).all()
    assert [tuple(k) for k in kinds] == [
        ("plugin_enabled", "hello"),
        ("plugin_enabled", "hello_extra"),
        ("plugin_disabled", "hello_extra"),
    ]


def test_a_toggle_in_one_process_reaches_another_within_the_ttl(app, tmp_path):
    """Two app objects on one database stand for two gunicorn workers."""
    other = make_app(tmp_path / "other", app.config["SQLALCHEMY_DATABASE_URI"])
    other_client = other.test_client()
    assert login(other_client).status_code == 302
    assert other_client.get("/hello/").status_code == 404
    enable(app, "hello")
    assert other_client.get("/hello/").status_code == 200
    disable(app, "hello")
    assert other_client.get("/hello/").status_code == 404
    with other.app_context():
        db.engine.dispose()


def test_the_state_is_cached_for_the_ttl_and_then_reread(app, tmp_path):
    other = make_app(
        tmp_path / "other", app.config["SQLALCHEMY_DATABASE_URI"], CRM_PLUGIN_STATE_TTL=3600.0
    )
    registry = other.extensions["crm_plugins"]
    with other.app_context():
        registry.refresh(force=True)
    enable(app, "hello")
    with other.app_context():
        registry.refresh()
        assert not registry.is_active("hello")  # still within its TTL
        registry._checked_at -= 3601
        registry.refresh()
        assert registry.is_active("hello")
        db.engine.dispose()


def test_admin_toggles_plugins_on_the_admin_page(app, admin_client):
    page = admin_client.get("/admin/plugins/").get_data(as_text=True)
    assert 'data-plugin="hello"' in page and "import failed" in page
    response = post_form(admin_client, "/admin/plugins/hello/enable", page="/admin/plugins/")
    assert response.status_code == 302
    assert _state(app, "hello").state == "enabled"
    response = post_form(admin_client, "/admin/plugins/hello/disable", page="/admin/plugins/")
    assert _state(app, "hello").state == "disabled"
    response = post_form(admin_client, "/admin/plugins/hello_extra/enable", page="/admin/plugins/")
    page = admin_client.get("/admin/plugins/").get_data(as_text=True)
    assert "requires &#39;hello&#39;" in page or "requires 'hello'" in page
    assert _state(app, "hello_extra").state == "disabled"
    assert (
        post_form(admin_client, "/admin/plugins/nope/enable", page="/admin/plugins/").status_code
        == 404
    )


def test_plugins_api_lists_and_toggles(app):
    client = app.test_client()
    headers = api_token(client)
    listed = {p["name"]: p for p in client.get("/api/v1/plugins", headers=headers).get_json()}
    assert listed["broken"]["state"] == "failed" and "import failed" in listed["broken"]["error"]
    response = client.patch("/api/v1/plugins/hello", json={"enabled": True}, headers=headers)
    assert response.status_code == 200 and response.get_json()["state"] == "enabled"
    response = client.patch("/api/v1/plugins/hello", json={"enabled": False}, headers=headers)
    assert response.get_json()["state"] == "disabled"


def test_plugins_api_refuses_bad_toggles_with_a_clear_error(app):
    client = app.test_client()
    headers = api_token(client)
    cases = [
        ("/api/v1/plugins/nope", {"enabled": True}, 404, "unknown plugin"),
        ("/api/v1/plugins/hello_extra", {"enabled": True}, 409, "requires 'hello'"),
        ("/api/v1/plugins/hello", {"enabled": "sometimes"}, 422, "enabled"),
        ("/api/v1/plugins/hello", {}, 422, "enabled"),
        ("/api/v1/plugins/hello", {"enabled": True, "force": True}, 422, "force"),
    ]
    for path, body, status, text in cases:
        response = client.patch(path, json=body, headers=headers)
        assert response.status_code == status, (path, body, response.get_json())
        assert text in response.get_json()["message"], response.get_json()
    enable(app, "hello")
    enable(app, "hello_extra")
    response = client.patch("/api/v1/plugins/hello", json={"enabled": False}, headers=headers)
    assert response.status_code == 409 and "hello_extra" in response.get_json()["message"]
    assert _state(app, "hello").state == "enabled"


def test_a_user_without_the_plugin_permission_gets_403_on_its_page_and_api(app, client):
    enable(app, "hello")
    make_user(app, "viewer@example.com", permissions=[])
    assert login(client, "viewer@example.com").status_code == 302
    assert client.get("/hello/").status_code == 403
    assert ">Hello</a>" not in client.get("/").get_data(as_text=True)
    headers = api_token(app.test_client(), "viewer@example.com")
    assert app.test_client().get("/api/v1/hello/greetings", headers=headers).status_code == 403


def test_cli_lists_enables_and_disables_plugins(app, crm):
    result = crm("plugins", "list")
    assert result.exit_code == 0
    assert "broken" in result.output and "failed" in result.output
    assert crm("plugins", "enable", "hello").exit_code == 0
    assert _state(app, "hello").state == "enabled"
    result = crm("plugins", "enable", "nope")
    assert result.exit_code != 0 and "unknown plugin 'nope'" in result.output
    assert crm("plugins", "enable", "hello_extra").exit_code == 0
    result = crm("plugins", "disable", "hello")
    assert result.exit_code != 0 and "hello_extra" in result.output
    assert _state(app, "hello").state == "enabled"


def test_a_failed_migration_leaves_no_table_behind_and_can_be_retried(app):
    for _attempt in range(2):
        with app.app_context():
            try:
                services.enable("bad_migration", app)
            except services.PluginError as exc:
                assert "bad_migration_table_that_does_not_exist" in exc.message
            tables = sa.inspect(db.engine).get_table_names()
            assert "bad_migration_thing" not in tables
            assert (
                "alembic_version_bad_migration" not in tables
                or not db.session.execute(
                    sa.text("SELECT * FROM alembic_version_bad_migration")
                ).all()
            )


def test_a_plugin_cannot_take_over_another_blueprint(app, admin_client):
    view = _state(app, "hijack")
    assert view.state == "failed" and "must be named after the plugin" in view.error
    assert admin_client.get("/admin/users").status_code == 200
    assert admin_client.get("/hijack/").status_code == 404


def test_a_plugin_whose_hooks_raise_does_not_break_pages_or_changes(app, admin_client):
    enable(app, "grumpy")
    enable(app, "hello")
    page = admin_client.get("/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert ">Hello</a>" in text and "hello-widget" in text
    assert "grumpy.widget" not in text
    with app.app_context():
        user_services.create_user("new@example.com", "Newcomer", PASSWORD)
        texts = db.session.execute(sa.select(Greeting.text)).scalars().all()
    assert "Welcome, Newcomer!" in texts  # hello still heard the event grumpy choked on


def test_plugins_that_take_the_principal_get_it_and_the_others_the_loaded_user(app):
    """``takes_principal = True`` (the sales plugin) spares the request loading the User
    with its roles; a plugin without it (hello) still gets the User, loaded once."""
    from core.plugin_system.registry import Deferred

    registry = app.extensions["crm_plugins"]
    assert "sales" in registry.principal_takers
    assert "hello" not in registry.principal_takers
    loads = []
    with app.test_request_context():
        deferred = Deferred(lambda: loads.append("user") or "the user", for_core="principal")
        assert deferred.get("core") == deferred.get("sales") == "principal"
        assert loads == []
        assert deferred.get("hello") == deferred.get("hello_extra") == "the user"
        assert loads == ["user"]
