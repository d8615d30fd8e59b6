"""The web shell: sessions, CSRF, translations, the access check, navigation and error pages."""

from __future__ import annotations

from functools import cached_property

from flask import Flask, current_app, g, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel, Domain, get_locale
from flask_bootstrap import Bootstrap5
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import BadRequest
from werkzeug.middleware.proxy_fix import ProxyFix

from core.clients.normalise import display_phone
from core.config import SUPPORTED_LOCALES
from core.i18n import init_translations

try:  # Flask-Babel's own accessor of the per-request context (g._flask_babel)
    from flask_babel import _get_current_context as _babel_context
except ImportError:  # pragma: no cover - a later Flask-Babel without it: no memo

    def _babel_context():
        return None


class RequestDomain(Domain):
    """Flask-Babel's domain, with the catalog looked up once per request and locale.

    Every ``_()`` in a template or in Python asks the domain for the current catalog:
    Flask-Babel then formats the locale as a string to key its cache, 170 times for a
    client card (a millisecond). The catalog found is kept on the request's Babel context
    with the Locale object it was found for; ``force_locale`` (mails in the recipient's
    language) installs another Locale object, so it gets its own catalog."""

    def get_translations(self):
        ctx = _babel_context()
        if ctx is None:
            return super().get_translations()
        locale = get_locale()
        memo = getattr(ctx, "crm_translations", None)
        if memo is not None and memo[0] is locale and memo[1] is self:
            return memo[2]
        translations = super().get_translations()
        ctx.crm_translations = (locale, self, translations)
        return translations


class CrmBabel(Babel):
    @cached_property
    def domain_instance(self):
        return RequestDomain(domain=self.domain)


csrf = CSRFProtect()
login_manager = LoginManager()
babel = CrmBabel()
bootstrap = Bootstrap5()


class HttpsAwareSessionInterface(SecureCookieSessionInterface):
    """Mark the session cookie Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or (request and request.is_secure))


@login_manager.user_loader
def load_user(user_id: str):
    """The session's user as a cached ``Principal``; a rotated session token (logout,
    password change, deactivation) ends old sessions (core.security)."""
    from core.security import principal_for_session

    return principal_for_session(user_id)


def _select_locale() -> str | None:
    user = g.get("crm_user")
    if user is not None and getattr(user, "locale", None) in SUPPORTED_LOCALES:
        return user.locale
    if not has_request_context():
        # Jobs and the CLI: callers that write to a user wrap it in force_locale.
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    # Signed-out pages follow the browser, then the installation's default.
    return (
        request.accept_languages.best_match(SUPPORTED_LOCALES)
        or current_app.config["BABEL_DEFAULT_LOCALE"]
    )


def _select_timezone() -> str | None:
    user = g.get("crm_user")
    return getattr(user, "timezone", None) or None


def init_web(app: Flask) -> None:
    from core.api import handle_http_exception
    from core.security import check_request_access
    from core.web.navigation import navigation_for

    if app.config["CRM_BEHIND_PROXY"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    app.session_interface = HttpsAwareSessionInterface()
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"
    # CSRF is checked in core.security.check_request_access, after the route is known, so
    # the token-only API and public web forms can be told apart from cookie-backed pages.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    init_translations(app)
    babel.init_app(
        app,
        locale_selector=_select_locale,
        timezone_selector=_select_timezone,
    )
    bootstrap.init_app(app)
    # Keys in the order the code writes them: sorting every object of every answer costs a
    # quarter of encoding a list page, and JSON readers do not care.
    app.json.sort_keys = False
    app.jinja_env.globals["get_locale"] = get_locale
    from core.clients.queries import pick_label

    app.jinja_env.globals["client_label"] = pick_label  # as client fields show a client
    app.jinja_env.filters["phone"] = display_phone
    app.before_request(check_request_access)

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError):
        return handle_http_exception(
            BadRequest(
                description="The form has expired or was sent from elsewhere; "
                "reload the page and try again."
            )
        )

    @app.context_processor
    def shell_context():
        user = g.get("crm_user")
        if user is None:
            return {"nav": None, "current": None, "bell": 0}
        from core.notifications import unread_count

        # Once per request: every render_template runs this, and the card renders one
        # template per panel.
        bell = g.get("crm_bell")
        if bell is None:
            bell = g.crm_bell = unread_count(user.id)
        return {
            "nav": navigation_for(app, user),
            "current": user,
            "bell": bell,
            "bell_text": "99+" if bell > 99 else str(bell),
        }
