"""WSGI entry point for gunicorn or waitress: ``gunicorn wsgi:app``."""

from core import create_app

app = create_app()
