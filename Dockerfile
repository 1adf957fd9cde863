# One image for every role: web (gunicorn, HTTP), ws (uvicorn, websockets), worker and beat (Celery).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CONTINUUM_ENV=production

WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY accounts ./accounts
COPY contacts ./contacts
COPY inbox ./inbox
COPY memory ./memory
COPY channels_app ./channels_app
COPY ai_agent ./ai_agent
COPY web ./web
COPY reports ./reports
COPY integrations ./integrations
COPY templates ./templates
COPY static ./static
COPY manage.py ./
RUN pip install . \
 && SECRET_KEY=build-time-only-key-used-for-collectstatic-and-nothing-else \
    STATIC_ROOT=/app/staticfiles python manage.py collectstatic --noinput \
 && useradd --system --home /app continuum \
 && mkdir -p /app/media && chown continuum /app/media

ENV STATIC_ROOT=/app/staticfiles MEDIA_ROOT=/app/media
USER continuum
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--access-logfile", "-"]
