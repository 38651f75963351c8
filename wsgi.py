"""WSGI entry point: `gunicorn -c gunicorn.conf.py wsgi:app` (and `flask` finds the app here)."""

from webapp import create_app

app = create_app()
