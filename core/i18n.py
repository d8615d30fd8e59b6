"""Compiles the core's translation catalogs (.po) into the .mo files Flask-Babel loads."""

from __future__ import annotations

import inspect
import logging
import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask

log = logging.getLogger(__name__)

#: The committed catalogs: translations/<lang>/LC_MESSAGES/<domain>.po, next to messages.pot.
SOURCE = Path(__file__).resolve().parent / "translations"


def compile_translations(source: Path, target: Path) -> Path:
    """Compile every ``<lang>/LC_MESSAGES/*.po`` under ``source`` into the same layout
    under ``target``; a .mo at least as new as its .po is left alone. Returns ``target``."""
    for po_path in sorted(source.glob("*/LC_MESSAGES/*.po")):
        mo_path = target / po_path.relative_to(source).with_suffix(".mo")
        try:
            if mo_path.stat().st_mtime_ns >= po_path.stat().st_mtime_ns:
                continue
        except FileNotFoundError:
            pass
        _compile_one(po_path, mo_path)
    return target


def _compile_one(po_path: Path, mo_path: Path) -> None:
    locale = po_path.parent.parent.name
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    mo_path.parent.mkdir(parents=True, exist_ok=True)
    # Several workers may start at once: each writes its own temporary file and renames it
    # into place, so no process ever reads a half-written .mo.
    fd, tmp_name = tempfile.mkstemp(
        dir=mo_path.parent, prefix=f".{mo_path.stem}.", suffix=".mo.tmp"
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            write_mo(handle, catalog)  # fuzzy entries are left out, as msgfmt does
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, mo_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    log.info("Compiled %s translations into %s", locale, mo_path)


def plugin_source(obj: object) -> Path | None:
    """A plugin's catalogs: ``translations/`` beside the module that defines its object
    (as for its migrations), when it has any."""
    module = inspect.getmodule(obj)
    file = getattr(module, "__file__", None)
    if not file:
        return None
    candidate = Path(file).resolve().parent / "translations"
    return candidate if any(candidate.glob("*/LC_MESSAGES/*.po")) else None


def init_translations(app: Flask) -> Path:
    """Compile the catalogs of core and of every plugin that ships some into
    <instance>/translations and point Flask-Babel at them."""
    root = Path(app.instance_path) / "translations"
    target = compile_translations(SOURCE, root)
    directories = []
    registry = app.extensions.get("crm_plugins")
    for name, info in sorted(registry.plugins.items()) if registry else ():
        source = plugin_source(info.obj) if info.loaded and info.obj is not None else None
        if source is not None:
            directories.append(compile_translations(source, root / "plugins" / name))
    # Flask-Babel merges the directories in order, a later one's messages winning: core
    # comes last, so a plugin cannot change how core's own words are translated.
    directories.append(target)
    # It splits this setting on ";" and joins relative paths to app.root_path; absolute
    # paths are used as they are.
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(map(str, directories))
    return target
