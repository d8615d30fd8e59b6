"""The CRM core: ``create_app`` assembles the platform and every installed plugin."""

from __future__ import annotations

import gc
import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask

from core.config import build_config, default_instance_path
from core.ids import IdConverter
from core.lazy_imports import import_hiding

# Huey's PostgreSQL queue is never used (SQLAlchemy loads psycopg when it connects), nor its
# Redis queue unless REDIS_URL is set (core.jobs binds redis into Huey if an app asks later).
import_hiding("huey", ["psycopg"] if os.environ.get("REDIS_URL") else ["psycopg", "redis"])

log = logging.getLogger(__name__)


def freeze_startup(app: Flask) -> Flask:
    """For a serving process, once its app is made: what start-up made (modules, routes,
    templates, the plugin registry) lives as long as the process, so it is taken out of
    the cycle collector's walks (``gc.freeze``); every full collection during requests
    then walks only what requests made (3-10 % less CPU per page, measured in-process on
    the card and the board). Returns ``app``."""
    gc.collect()
    gc.freeze()
    return app


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app. ``config`` overrides environment settings (tests pass theirs here)."""
    from core import builtin
    from core.api import init_api
    from core.cache import init_cache
    from core.db import db, engine_options
    from core.jobs import init_jobs
    from core.plugin_system.registry import PluginRegistry
    from core.users.catalog import collect_declarations
    from core.web import init_web

    instance_path = Path((config or {}).get("INSTANCE_PATH") or default_instance_path())
    instance_path.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__, instance_path=str(instance_path), instance_relative_config=True)
    app.config.update(build_config(instance_path, config))
    # Before any route is added: <int:id> refuses numbers past the database's 64-bit range.
    app.url_map.converters["int"] = IdConverter
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    db.init_app(app)
    _import_models()
    init_cache(app)

    registry = PluginRegistry(lambda: db.engine, app.config["CRM_PLUGIN_STATE_TTL"])
    app.extensions["crm_plugins"] = registry
    app.extensions["crm_blueprint_owner"] = {}
    registry.register_core(builtin)
    registry.discover()

    api = init_api(app)
    app.extensions["crm_api"] = api
    init_web(app)
    _register_core_blueprints(app, api)
    _register_plugin_blueprints(app, api)
    init_jobs(app)
    collect_declarations(app)

    with app.app_context():
        registry.refresh(force=True)
    return app


def _import_models() -> None:
    # Importing registers the tables on the shared metadata (migrations and tests need them).
    from core.audit import models as _audit  # noqa: F401
    from core.clients import models as _clients  # noqa: F401
    from core.clients.dupscan import models as _dupscan  # noqa: F401
    from core.clients.imports import models as _imports  # noqa: F401
    from core.documents import models as _documents  # noqa: F401
    from core.interactions import models as _interactions  # noqa: F401
    from core.notifications import models as _notifications  # noqa: F401
    from core.plugin_system import models as _plugins  # noqa: F401
    from core.settings import models as _settings  # noqa: F401
    from core.tasks import models as _tasks  # noqa: F401
    from core.users import models as _users  # noqa: F401


def _register_core_blueprints(app: Flask, api) -> None:
    from core.audit.api import blp as audit_api
    from core.audit.views import bp as audit_bp
    from core.clients.api import blp as clients_api
    from core.clients.api import search_blp
    from core.clients.custom_fields_api import blp as custom_fields_api
    from core.clients.dupscan.api import blp as duplicates_api
    from core.clients.dupscan.views import bp as duplicates_bp
    from core.clients.imports.api import blp as imports_api
    from core.clients.imports.views import bp as imports_bp
    from core.clients.views import bp as clients_bp
    from core.documents.api import blueprints as documents_api_blueprints
    from core.documents.views import bp as documents_bp
    from core.interactions.api import blp as interactions_api
    from core.interactions.views import bp as interactions_bp
    from core.notifications.api import blp as notifications_api
    from core.notifications.views import bp as notifications_bp
    from core.plugin_system.api import blp as plugins_api
    from core.plugin_system.views import bp as plugins_bp
    from core.reports.api import blp as reports_api
    from core.reports.views import bp as reports_bp
    from core.settings.views import bp as settings_bp
    from core.tasks.api import blp as tasks_api
    from core.tasks.api import templates_blp as task_templates_api
    from core.tasks.views import bp as tasks_bp
    from core.users.api import blueprints as users_api_blueprints
    from core.users.views import admin_bp, auth_bp
    from core.web.views import bp as web_bp

    for blueprint in (
        web_bp,
        auth_bp,
        admin_bp,
        plugins_bp,
        audit_bp,
        settings_bp,
        duplicates_bp,
        clients_bp,
        imports_bp,
        reports_bp,
        tasks_bp,
        notifications_bp,
        interactions_bp,
        documents_bp,
    ):
        app.register_blueprint(blueprint)
    for blueprint in (
        *users_api_blueprints,
        plugins_api,
        audit_api,
        imports_api,
        custom_fields_api,
        duplicates_api,
        clients_api,
        search_blp,
        reports_api,
        tasks_api,
        task_templates_api,
        notifications_api,
        interactions_api,
        *documents_api_blueprints,
    ):
        api.register_blueprint(blueprint)


def _register_plugin_blueprints(app: Flask, api) -> None:
    """Register every loaded plugin's routes now; the access check hides disabled ones (404).

    A blueprint must be named after its plugin (``hello``, ``hello_api``), so no plugin can
    take over core's or another plugin's routes; one that breaks this is marked failed.
    """
    registry = app.extensions["crm_plugins"]
    for plugin_name, blueprints in registry.call_each_loaded("register_blueprints", app=app):
        for blueprint in blueprints:
            _register_one(app, plugin_name, blueprint, lambda bp: app.register_blueprint(bp))
    for plugin_name, blueprints in registry.call_each_loaded("register_api_blueprints", app=app):
        for blueprint in blueprints:
            prefix = blueprint.url_prefix or ""
            options = (
                {}
                if prefix == f"/api/v1/{plugin_name}"
                or prefix.startswith(f"/api/v1/{plugin_name}/")
                else {"url_prefix": f"/api/v1/{plugin_name}{prefix}"}
            )
            _register_one(
                app,
                plugin_name,
                blueprint,
                lambda bp, options=options: api.register_blueprint(bp, **options),
            )


def _register_one(app: Flask, plugin_name: str, blueprint, register) -> None:
    info = app.extensions["crm_plugins"].plugins[plugin_name]
    if not info.loaded:
        return
    claims = [
        n
        for n in app.extensions["crm_plugins"].plugins
        if blueprint.name == n or blueprint.name.startswith(f"{n}_")
    ]
    if max(claims, key=len, default=None) != plugin_name:
        # The longest name wins, as for tables: "hello_extra_x" is hello_extra's, not hello's.
        info.load_error = f"blueprint {blueprint.name!r} must be named after the plugin"
    elif blueprint.name in app.blueprints:
        info.load_error = f"blueprint name {blueprint.name!r} is taken"
    else:
        try:
            register(blueprint)
        except Exception as exc:  # noqa: BLE001 - a plugin's bad blueprint must not stop the app
            info.load_error = f"registering blueprint {blueprint.name!r} failed: {exc}"
    if info.load_error:
        log.error("plugin %s: %s", plugin_name, info.load_error)
        return
    app.extensions["crm_blueprint_owner"][blueprint.name] = plugin_name
    info.blueprints.append(blueprint.name)
