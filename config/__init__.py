"""Project wiring: settings, URLs, ASGI/WSGI entry points, the Celery app and the embedded dev stack."""

# Loaded with Django so that @shared_task binds to our app (and its Redis broker) in every process.
from .celery_app import app as celery_app

__all__ = ["celery_app"]
