"""Translations: the user's language is honoured, and the catalogs are complete and current."""

from __future__ import annotations

import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import Translations

from core.db import db
from core.i18n import SOURCE, compile_translations, init_translations
from core.users import services as user_services
from core.users.models import Role, User
from tests.conftest import ADMIN_EMAIL, PASSWORD, csrf_token, enable, login

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("ru", "de", "ro")
# printf-style placeholders: %(name)s, %s, %d, %%
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[a-zA-Z%]")


def _catalog(path: Path, locale: str | None = None):
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def _po(lang: str, source: Path = SOURCE) -> Path:
    return source / lang / "LC_MESSAGES" / "messages.po"


# Core and every bundled plugin that has catalogs: (the sources, their translations folder).
CATALOGS = {
    "core": (ROOT / "core", SOURCE),
    **{
        f"plugins/{folder.parent.name}": (folder.parent, folder)
        for folder in sorted((ROOT / "plugins").glob("*/translations"))
    },
}


def _msgids(catalog) -> set:
    return {message.id for message in catalog if message.id}


def _add_user(app, email: str, locale: str) -> None:
    with app.app_context():
        user_services.create_user(email, email.split("@")[0].title(), PASSWORD, locale=locale)


def _page(client, path: str = "/", **headers) -> str:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


# --- the user's locale is honoured ---------------------------------------------------------


def test_russian_user_sees_the_dashboard_and_navigation_in_russian(app, client):
    _add_user(app, "ivan@example.com", "ru")
    assert login(client, "ivan@example.com").status_code == 302
    html = _page(client, "/")
    assert '<html lang="ru">' in html
    assert "Выйти" in html  # the "Log out" button
    assert "Панель управления" in html  # a menu item: lazy_gettext in core.builtin
    assert "Ваша учётная запись" in html  # a dashboard widget's title
    assert "Log out" not in html and ">Dashboard<" not in html


def test_a_plugins_own_catalog_translates_its_pages(app, client):
    enable(app, "sales")
    with app.app_context():
        admin = db.session.execute(sa.select(Role).filter_by(is_admin=True)).scalar_one()
        user_services.create_user("ivan@example.com", "Ivan", PASSWORD, locale="ru", roles=[admin])
    assert login(client, "ivan@example.com").status_code == 302
    html = _page(client, "/sales/catalog/")
    assert '<html lang="ru">' in html
    assert "Товары" in html and ">Products<" not in html  # from plugins/sales/translations
    assert "Выйти" in html  # core's own words still come from core's catalog


def test_admin_menu_follows_the_users_locale_not_the_browser(app, client):
    with app.app_context():
        admin = db.session.execute(sa.select(User).filter_by(email=ADMIN_EMAIL)).scalar_one()
        admin.locale = "de"
        db.session.commit()
    assert login(client).status_code == 302
    html = _page(client, "/", **{"Accept-Language": "ru"})
    assert '<html lang="de">' in html
    for text in ("Abmelden", "Verwaltung", "Benutzer", "Rollen", "Einstellungen"):
        assert text in html, text
    assert "Выйти" not in html


def test_signed_out_browser_asking_for_german_gets_the_login_page_in_german(client):
    html = _page(client, "/login", **{"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert '<html lang="de">' in html
    assert "Im CRM anmelden" in html
    assert "Passwort" in html and "Anmelden" in html
    assert "Sign in to the CRM" not in html


def test_messages_from_python_code_are_translated_too(client):
    response = client.post(
        "/login",
        data={
            "email": ADMIN_EMAIL,
            "password": "not-the-password",
            "csrf_token": csrf_token(client),
        },
        headers={"Accept-Language": "ro"},
    )
    assert response.status_code == 401
    assert "Adresa de e-mail sau parola este greșită." in response.get_data(as_text=True)


def test_english_user_sees_english(app, client):
    _add_user(app, "emma@example.com", "en")
    assert login(client, "emma@example.com").status_code == 302
    html = _page(client, "/", **{"Accept-Language": "ru, de;q=0.5"})
    assert '<html lang="en">' in html
    assert "Log out" in html and "Dashboard" in html and "Your account" in html
    assert "Выйти" not in html and "Abmelden" not in html


# --- the catalogs ----------------------------------------------------------------------------


@pytest.mark.parametrize("owner", CATALOGS)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_is_translated_with_the_same_placeholders(lang, owner):
    folder = CATALOGS[owner][1]
    template = _msgids(_catalog(folder / "messages.pot"))
    catalog = _catalog(_po(lang, folder))
    assert str(catalog.locale) == lang
    assert _msgids(catalog) == template, "run pybabel update (see docs/admin.md)"
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(s and s.strip() for s in strings):
            problems.append(f"untranslated or fuzzy: {ids[0]!r}")
            continue
        wanted = sorted(PLACEHOLDER.findall(ids[0]))
        for string in strings:
            if sorted(PLACEHOLDER.findall(string)) != wanted:
                problems.append(f"placeholders differ: {ids[0]!r} -> {string!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("owner", CATALOGS)
def test_romanian_uses_comma_below_letters(owner):
    text = _po("ro", CATALOGS[owner][1]).read_text(encoding="utf-8")
    assert not set(text) & set("şţŞŢ"), "use ș ț (comma below), not ş ţ (cedilla)"
    assert set("șțăâî") <= set(text)


@pytest.mark.parametrize("owner", CATALOGS)
def test_the_template_is_up_to_date_with_the_sources(owner):
    sources, folder = CATALOGS[owner]
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle, "babel.cfg")
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
    extracted = {
        message
        for _, _, message, _, _ in extract_from_dir(
            sources, method_map, options_map, keywords=keywords
        )
    }
    committed = _msgids(_catalog(folder / "messages.pot"))
    assert extracted == committed, (
        f"missing from messages.pot: {sorted(map(str, extracted - committed))}; "
        f"no longer in the sources: {sorted(map(str, committed - extracted))}"
    )


# --- compiling --------------------------------------------------------------------------------


def test_start_up_compiles_the_catalogs_into_the_instance_folder(app):
    target = Path(app.instance_path) / "translations"
    # The sales plugin's catalogs first, core's last (core's words win where both have one).
    assert app.config["BABEL_TRANSLATION_DIRECTORIES"] == f"{target / 'plugins' / 'sales'};{target}"
    assert target.is_absolute()
    for lang in LANGUAGES:
        translations = Translations.load(str(target), [lang])
        assert isinstance(translations, Translations), lang
        assert translations.gettext("Log out") != "Log out"
    assert init_translations(app) == target  # a second start finds them up to date


def test_compile_only_when_the_po_is_newer(tmp_path):
    source, target = tmp_path / "source", tmp_path / "target"
    shutil.copytree(SOURCE / "de", source / "de")
    po = source / "de" / "LC_MESSAGES" / "messages.po"
    mo = target / "de" / "LC_MESSAGES" / "messages.mo"

    assert compile_translations(source, target) == target
    assert Translations.load(str(target), ["de"]).gettext("Save") == "Speichern"
    stamp = mo.stat().st_mtime_ns
    os.utime(po, ns=(stamp - 10**9, stamp - 10**9))
    compile_translations(source, target)
    assert mo.stat().st_mtime_ns == stamp, "an up-to-date .mo was compiled again"

    po.write_text(
        po.read_text(encoding="utf-8").replace('msgstr "Speichern"', 'msgstr "Sichern"'),
        encoding="utf-8",
    )
    os.utime(po, ns=(stamp + 10**9, stamp + 10**9))
    compile_translations(source, target)
    assert Translations.load(str(target), ["de"]).gettext("Save") == "Sichern"
    assert sorted(p.name for p in mo.parent.iterdir()) == ["messages.mo"]


def test_workers_compiling_at_once_leave_a_whole_catalog(tmp_path):
    target = tmp_path / "target"
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: compile_translations(SOURCE, target), range(8)))
    assert results == [target] * 8
    for lang in LANGUAGES:
        folder = target / lang / "LC_MESSAGES"
        assert sorted(p.name for p in folder.iterdir()) == ["messages.mo"], lang
        assert Translations.load(str(target), [lang]).gettext("Log out") != "Log out"


def test_a_forced_locale_inside_a_request_gets_its_own_catalog_and_back(app):
    """The catalog is looked up once per request and locale: a message written in the
    recipient's language inside a request (``force_locale``) is in that language, and the
    request's own messages before and after it stay in the request's language."""
    from flask_babel import force_locale, gettext

    with app.test_request_context("/", headers={"Accept-Language": "ro"}):
        before = gettext("Tasks")
        with force_locale("ru"):
            forced = gettext("Tasks")
            with force_locale("de"):
                nested = gettext("Tasks")
            again = gettext("Tasks")
        after = gettext("Tasks")
    assert (before, forced, nested, again, after) == (
        "Sarcini",
        "Задачи",
        "Aufgaben",
        "Задачи",
        "Sarcini",
    )
