"""Settings, read from the environment only (django-environ); defaults are for a developer's machine."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# "development" (make run), "test" (make test) or "production" (docker-compose and real deployments).
ENVIRONMENT = env.str("CONTINUUM_ENV", default="development")
if ENVIRONMENT not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"CONTINUUM_ENV must be development, test or production, not {ENVIRONMENT!r}")
PRODUCTION = ENVIRONMENT == "production"

_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default="" if PRODUCTION else _DEV_SECRET_KEY)
if PRODUCTION and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY == _DEV_SECRET_KEY):
    raise ImproperlyConfigured("Set SECRET_KEY to a random value of at least 50 characters in production.")

DEBUG = env.bool("DEBUG", default=ENVIRONMENT == "development")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_celery_beat",
    "channels",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    # Ours, bottom layer first (a lower app never imports a higher one).
    "accounts",
    "contacts",
    "inbox",
    "memory",
    "channels_app",
    "ai_agent",
    "reports",
    "integrations",
    "web",
]

MIDDLEWARE = [
    "config.limits.BodySizeLimitMiddleware",
    "config.availability.DatabaseUnavailableMiddleware",
    "config.limits.CleanQueryStringMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "web.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "web.middleware.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: answers a locked-out sign-in with the lockout page.
    "axes.middleware.AxesMiddleware",
]

# Sign-in lockout (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one email, or from one client
# address, signing in is paused for LOGIN_LOCKOUT_MINUTES; a right password resets that email's count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "accounts.clients.client_ip"
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins need no row each
AXES_USERNAME_CALLABLE = "accounts.clients.sign_in_name"
AXES_VERBOSE = False
# Two-factor codes (django-otp): the name an authenticator app shows for the account.
OTP_TOTP_ISSUER = "Continuum"
# Password reset requests (accounts.auth_views): per client address and per email asked for.
PASSWORD_RESET_RATE_PER_ADDRESS = env.str("PASSWORD_RESET_RATE_PER_ADDRESS", default="10/h")
PASSWORD_RESET_RATE_PER_EMAIL = env.str("PASSWORD_RESET_RATE_PER_EMAIL", default="3/h")
# Self-serve sign-up (/auth/signup/): on unless an operator runs a closed deployment; throttled like resets.
SIGNUP_ENABLED = env.bool("SIGNUP_ENABLED", default=True)
SIGNUP_RATE_PER_ADDRESS = env.str("SIGNUP_RATE_PER_ADDRESS", default="10/h")
SIGNUP_RATE_PER_EMAIL = env.str("SIGNUP_RATE_PER_EMAIL", default="3/h")

ROOT_URLCONF = env.str("ROOT_URLCONF", default="config.urls")  # benchmarks add their baseline views
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "web.context.console_context",
            ],
        },
    },
]

# --- Data stores -------------------------------------------------------------------------------------------

# `make run` / `make test` set DATABASE_URL to the embedded server; docker-compose and deployments set their own.
DATABASES = {"default": env.db_url("DATABASE_URL", default="postgresql:///continuum")}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("Continuum runs on PostgreSQL only: DATABASE_URL must be a postgresql:// URL.")
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _redis_url_for_process(url: str) -> str:
    """Parallel test workers (pytest-xdist sets PYTEST_XDIST_WORKER=gwN) each get their own Redis database."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    parts = urlparse(url)
    return urlunparse(parts._replace(path=f"/{int(worker[2:]) + 1}"))


REDIS_URL = _redis_url_for_process(env.str("REDIS_URL", default="redis://127.0.0.1:6379/0"))

CACHES = {
    "default": {
        "BACKEND": "config.cache.ReusingRedisCache",  # one client per pool (config/cache.py)
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "continuum",
        "TIMEOUT": 300,
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py reads time out after 5 s by default, exactly channels-redis's blocking receive (BZPOPMIN 5 s):
        # every idle websocket would crash after 5 s. Reads get a longer limit than the blocking receive.
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 2}],
            "prefix": "continuum:channels",
        },
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None  # tasks write their results to the database; nobody waits on a Celery result
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection before and after every task unless this is set: each task
# then opened a new PostgreSQL connection (a server process forked, authenticated) — the largest CPU cost of a
# short task under load (docs/performance.md, realtime). Kept open across tasks; config.celery_app closes one that
# is broken or older than CONN_MAX_AGE at each task's end, as Django does at a request's, and this many tasks
# recycle it anyway.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_TASK_DEFAULT_QUEUE = "celery"
# Separate queues, each served by its own worker pool (Procfile, docker-compose.yml): a burst of long emails or a
# slow LLM never delays an SMS, and a stuck delivery never delays what arrives. Sweeps and beat work stay on the
# default queue.
CELERY_TASK_ROUTES = {
    "channels_app.tasks.process_inbound_event": {"queue": "inbound"},
    "channels_app.tasks.deliver_message": {"queue": "outbound"},
    "channels_app.tasks.send_webchat_email": {"queue": "outbound"},
    "ai_agent.tasks.analyze_message": {"queue": "ai"},
    "ai_agent.tasks.refresh_note": {"queue": "ai"},
    "ai_agent.tasks.run_agent_turn": {"queue": "ai"},
    # integrations: a slow receiver waits in its own queue, never in front of a customer's message
    "integrations.tasks.fanout_event": {"queue": "webhooks"},
    "integrations.tasks.deliver_webhook": {"queue": "webhooks"},
}
WORKER_QUEUES = ("inbound", "outbound", "ai", "webhooks", "celery")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task a killed worker held comes back after the visibility timeout: just above the longest time limit (the
# playbooks' 300 s), so nothing waits an hour, and above every retry countdown (at most 80 s), so no task held
# for its countdown is handed out twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=330),
    # A publish with the broker down fails in well under a second (one quick retry for a restart's blip) instead
    # of kombu's default 6 s of retries: a webhook never holds a provider for the broker; the sweepers re-queue.
    # (The worker's own reconnects follow CELERY_BROKER_CONNECTION_* and are not limited by this.)
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "socket_connect_timeout": 2,
    "socket_timeout": 3,
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Synced into django-celery-beat's tables at beat start; admins can pause them in the Django admin.
CELERY_BEAT_SCHEDULE = {
    "ai-playbooks": {"task": "ai_agent.tasks.run_playbooks_task", "schedule": 60.0},
    "inbound-sweeper": {"task": "channels_app.tasks.sweep_inbound_events", "schedule": 30.0},
    "outbound-sweeper": {"task": "channels_app.tasks.sweep_outbound", "schedule": 60.0},
    "whatsapp-templates": {"task": "channels_app.tasks.sync_whatsapp_templates", "schedule": 1800.0},
    "mailboxes": {
        "task": "channels_app.tasks.poll_mailboxes",
        "schedule": env.float("MAILBOX_POLL_SECONDS", default=30.0),
    },
    "analysis-sweeper": {"task": "ai_agent.tasks.sweep_unanalyzed", "schedule": 60.0},
    "snooze-waker": {"task": "inbox.tasks.wake_snoozed", "schedule": 30.0},
    "presence-sweeper": {"task": "inbox.tasks.sweep_presence", "schedule": 60.0},
    "unowned-sweeper": {"task": "inbox.tasks.sweep_unowned", "schedule": 60.0},
    "notification-digest": {"task": "inbox.tasks.mail_digests", "schedule": 600.0},
    "reports-rollup": {"task": "reports.tasks.refresh_reports", "schedule": 300.0},
    "webhooks-due": {"task": "integrations.tasks.send_due_webhooks", "schedule": 30.0},
    "retention": {"task": "integrations.tasks.apply_retention", "schedule": 6 * 3600.0},
}
# A webhook subscription turns itself off after this many failed attempts in a row (admins are told).
WEBHOOK_DISABLE_AFTER = env.int("WEBHOOK_DISABLE_AFTER", default=15)
# How long work may wait before a sweeper re-queues it (the broker was down, or a task was lost).
INBOUND_SWEEP_AFTER_SECONDS = env.int("INBOUND_SWEEP_AFTER_SECONDS", default=30)
OUTBOUND_SWEEP_AFTER_SECONDS = env.int("OUTBOUND_SWEEP_AFTER_SECONDS", default=120)
ANALYSIS_SWEEP_AFTER_SECONDS = env.int("ANALYSIS_SWEEP_AFTER_SECONDS", default=120)
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# --- Auth ---------------------------------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if ENVIRONMENT == "test":  # hashing cost is not what the tests measure
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 24 * 14)
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # The proxy terminates TLS and says so in X-Forwarded-Proto; anything that arrives as plain http is
    # redirected, except the health check the orchestrator calls on the container itself.
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    # Whether every subdomain of the deployment's domain is served over https is the operator's knowledge, not
    # ours: off unless set (and Django's reminder about it silenced, so `check --deploy` reports real issues).
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    SILENCED_SYSTEM_CHECKS = [
        *([] if SECURE_HSTS_INCLUDE_SUBDOMAINS else ["security.W005"]),
        *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),
    ]

# Behind the deployment's proxy (nginx adds the client to X-Forwarded-For), the client's address is the last
# entry of that header, not REMOTE_ADDR (the proxy). Per-client limits (the webchat's new sessions) use it.
BEHIND_PROXY = env.bool("BEHIND_PROXY", default=PRODUCTION)

_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "")
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Continuum <no-reply@localhost>")

# --- API ----------------------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "accounts.pagination.PageNumberPagination",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        # The browsable API, handy while developing; production answers JSON only.
        *(["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "accounts.api_base.api_exception_handler",
    # Per API token (or signed-in person): a runaway integration is slowed on its own (429 with Retry-After).
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttles.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": env.str("API_RATE_PER_TOKEN", default="1200/min")},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Continuum API",
    "DESCRIPTION": (
        "The shared inbox's REST API. Every tenant resource lives under /api/v1/accounts/{account_id}/. "
        "Authenticate with a session (browser) or `Authorization: Token <token>`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "IdentityKindEnum": "contacts.models.IdentityKind.choices",
        "MessageKindEnum": "inbox.models.Kind.choices",
        "ComposeKindEnum": "inbox.models.COMPOSE_KIND_CHOICES",
        "ChannelEnum": "inbox.models.Channel.choices",
        "CustomerChannelEnum": "inbox.models.CUSTOMER_CHANNEL_CHOICES",
        "ConversationStatusEnum": "inbox.models.Status.choices",
        "HandledByEnum": "inbox.models.HandledBy.choices",
        "FactStatusEnum": "memory.models.FactStatus.choices",
        "DeliveryStatusEnum": "inbox.models.DeliveryStatus.choices",
    },
}

# --- Static files, i18n -------------------------------------------------------------------------------------

STATIC_URL = "static/"
# collectstatic's target, used in production images only; elsewhere WhiteNoise serves from the finders.
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "var" / "static") if PRODUCTION else None
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Outside production WhiteNoise serves straight from the apps' static folders: no collectstatic step needed.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")
MEDIA_URL = "media/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging ------------------------------------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"redact_query": {"()": "config.logfilters.RedactQueryString"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own default gives "django" INFO whatever the root says; LOG_LEVEL governs it too.
        "django": {"level": LOG_LEVEL},
        "django.db.backends": {"level": "WARNING"},
        "celery": {"level": LOG_LEVEL},
        "axes": {"level": "WARNING"},  # a line per sign-in otherwise
        # The Twilio SDK logs every request and its headers at INFO: noise, and a risk should it ever log more.
        "twilio.http_client": {"level": "WARNING"},
        # Access lines without query strings (secrets of older webhook setups, customers' search words).
        "uvicorn.access": {"handlers": ["console"], "filters": ["redact_query"], "propagate": False},
    },
}

# Health check: how long /healthz waits for a Celery worker to answer a ping.
HEALTH_CELERY_TIMEOUT = env.float("HEALTH_CELERY_TIMEOUT", default=1.5)

# The address people and providers reach this deployment at (invite links, webhook URLs behind a proxy).
# Unset, it follows the port this machine serves on (`PORT`, as `make run` and the Procfile use it), so webhook
# URLs, their signatures and the widget snippet match where the server really is; set it behind a proxy or a
# tunnel (https://support.example.com) — whatever providers and browsers reach.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default=f"http://127.0.0.1:{env.int('PORT', default=8000)}").rstrip("/")

# Attachments: refused above this size (413) or outside these types (400).
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=25 * 1024 * 1024)
ATTACHMENT_ALLOWED_TYPES = env.list(
    "ATTACHMENT_ALLOWED_TYPES",
    default=[
        "image/*",
        "audio/*",
        "video/*",
        "application/pdf",
        "text/plain",
        "text/csv",
        "text/vcard",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.*",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.oasis.opendocument.*",
        "application/rtf",
        "text/rtf",
        "text/calendar",
    ],
)
# A file a webchat visitor attaches (types as for every attachment).
WEBCHAT_FILE_MAX_BYTES = env.int("WEBCHAT_FILE_MAX_BYTES", default=10 * 1024 * 1024)
# At most this many files are kept from one message (an email of 5,000 parts keeps the first ones and names
# the rest); a provider post may carry at most DATA_UPLOAD_MAX_NUMBER_FILES file fields (413 above that).
ATTACHMENTS_PER_MESSAGE = env.int("ATTACHMENTS_PER_MESSAGE", default=20)
DATA_UPLOAD_MAX_NUMBER_FILES = 1000
# The largest inbound email post (all its parts, as the provider sends them: Postmark base64-encodes in JSON).
EMAIL_MAX_BYTES = env.int("EMAIL_MAX_BYTES", default=40 * 1024 * 1024)
# Request bodies, refused with 413 from Content-Length before anything is read (config.limits). The proxy's
# client_max_body_size (deploy/nginx.conf) equals the largest of these.
REQUEST_BODY_DEFAULT_LIMIT = 1024 * 1024
REQUEST_BODY_LIMITS = {
    "/webhooks/email/": EMAIL_MAX_BYTES,
    "/webhooks/twilio/": 256 * 1024,  # Twilio posts form fields only (media comes by URL)
    "/webhooks/meta/": 1024 * 1024,  # Meta posts JSON event batches (media comes by URL)
    "/webchat/": 64 * 1024,
    "/webchat-files/": WEBCHAT_FILE_MAX_BYTES + 64 * 1024,
    "/api/": ATTACHMENT_MAX_BYTES + 2 * 1024 * 1024,  # a reply with its files
}
# Console pages that take a file in a plain form post (the path after /a/<account id>/).
CONSOLE_BODY_LIMITS = {"contacts/import/": 5 * 1024 * 1024 + 64 * 1024}  # a CSV of contacts (integrations.imports)
# Postmark posts JSON and mail servers post raw MIME (request.body): the whole email may be read.
DATA_UPLOAD_MAX_MEMORY_SIZE = EMAIL_MAX_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Fernet keys for secrets at rest, newest first (python -c "from cryptography.fernet import Fernet;
# print(Fernet.generate_key().decode())"). Required in production; derived from SECRET_KEY elsewhere.
ENCRYPTION_KEYS = env.list("ENCRYPTION_KEYS", default=[])
if PRODUCTION and not ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "Set ENCRYPTION_KEYS in production (channel credentials are encrypted with them): "
        'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
    )

# Where the twilio SDK sends API calls: Twilio unless set (tests point it at a fake server on 127.0.0.1).
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="")
# The Meta Graph API (Messenger and Instagram replies, profile names), and where Meta serves people's files from.
META_GRAPH_BASE_URL = env.str("META_GRAPH_BASE_URL", default="https://graph.facebook.com/v21.0")
META_MEDIA_HOSTS = env.list("META_MEDIA_HOSTS", default=[".fbcdn.net", ".fbsbx.com", ".cdninstagram.com"])
TWILIO_HTTP_TIMEOUT = env.float("TWILIO_HTTP_TIMEOUT", default=10.0)  # seconds, connect and read, every REST call

# Row-level security (accounts.tenant_db, web migration 0001): API requests run as the role continuum_app,
# which PostgreSQL's policies bind to the request's account.
ROW_LEVEL_SECURITY = env.bool("ROW_LEVEL_SECURITY", default=True)

# Outbound requests (accounts.outbound): every server-side fetch reaches public addresses only. Name here the
# internal hosts (`host` or `host:port`) an operator runs services on, e.g. a self-hosted LLM; tenants cannot.
OUTBOUND_ALLOWED_INTERNAL_HOSTS = env.list("OUTBOUND_ALLOWED_INTERNAL_HOSTS", default=[])
# Where Twilio media and recordings may be fetched from (and the only hosts its credentials are sent to); the
# host of TWILIO_API_BASE_URL (a sandbox) is added to these.
TWILIO_MEDIA_HOSTS = env.list("TWILIO_MEDIA_HOSTS", default=["api.twilio.com", ".twilio.com", ".twiliocdn.com"])
