"""WSGI entry point for gunicorn or waitress: ``gunicorn wsgi:app``."""

from core import create_app, freeze_startup

app = freeze_startup(create_app())
