"""Settings for the demo shop. Everything that differs per deployment comes from the environment."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

from config import embedded

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).lower() in {"1", "true", "yes", "on"}


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
# Off unless asked for: `manage.py demo` sets DJANGO_DEBUG=true for its own web server.
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "visual_search",
    "visual_search.analytics",  # optional: the search log, clicks and the admin's analytics page
    "shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Search uploads: size cap and page throttles before the body is read; uploads kept in memory.
    "visual_search.search.uploads.UploadGuardMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# PostgreSQL with pgvector everywhere. DATABASE_URL picks a server; without it an
# embedded PostgreSQL starts in .data/pg and is reused on the next start.
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
else:
    DATABASES = {"default": embedded.postgres_database()}
# Bounds on the connection itself (libpq): a database that accepts and never answers fails a connect in
# DJANGO_DB_CONNECT_TIMEOUT seconds; a dead network path under an open connection is noticed by TCP
# keepalives (about 25 s) and unacknowledged writes by tcp_user_timeout. Keepalives do not apply to Unix
# sockets. The app's own statement and lock timeouts are VISUAL_SEARCH["DB_STATEMENT_TIMEOUT"] and ["DB_LOCK_TIMEOUT"].
DATABASES["default"].setdefault("OPTIONS", {}).update({
    "connect_timeout": int(os.environ.get("DJANGO_DB_CONNECT_TIMEOUT", "5")),
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,  # milliseconds
})

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".data" / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", embedded.DATA_DIR / "media"))
# Let Django serve uploaded images when DEBUG is off (single-box deployments); use a CDN
# or object storage in front of a real shop instead.
SERVE_MEDIA = env_bool("DJANGO_SERVE_MEDIA", False)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Uploads above this go to a temporary file instead of memory; the image validator
# enforces the real cap (VISUAL_SEARCH["MAX_IMAGE_BYTES"]).
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# Celery: CELERY_BROKER_URL from the environment (Redis in docker-compose). Without
# it, the embedded Redis that `manage.py demo` starts on a Unix socket.
CELERY_BROKER_URL = os.environ.get(
    "CELERY_BROKER_URL", f"redis+socket://{embedded.redis_socket_path()}"
)
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Redis redelivers an unacknowledged message after this; longer than any embedding task. A broker that
# does not answer fails a connect in 3 s and a read or send in 5 s (a save never waits long for it; the
# work stays owed in the database and the sweep sends it later); keepalives notice a dead path.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "socket_connect_timeout": 3,
    "socket_timeout": 5,
    "socket_keepalive": True,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Content-Security-Policy (django-csp): no inline scripts or styles anywhere; templates load static files.
# DJANGO_CSP_IMG_SRC adds image origins (a CDN or bucket serving MEDIA_URL), space-separated.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:", *os.environ.get("DJANGO_CSP_IMG_SRC", "").split()],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"anon": os.environ.get("API_ANON_RATE", "120/min")},
}

# `check --deploy` generates the OpenAPI schema with these: the app's own, as /api/v1/schema/ serves it.
SPECTACULAR_SETTINGS = {"PREPROCESSING_HOOKS": ["visual_search.api.schema.only_visual_search"]}

VISUAL_SEARCH_PRODUCT_MODEL = "shop.Product"
VISUAL_SEARCH = {
    # What a shop that trained on its own labels serves: EfficientNet-Lite0 plus a head fitted on
    # clothing-small's train + validation photos (visual_search_train; docs/evaluation.md). Confidence and
    # the floor are calibrated on the catalogue itself (visual_search_calibrate), so SIMILARITY_FLOOR is unset.
    "ENCODER": {
        "BACKEND": "visual_search.encoders.adapted.AdaptedEncoder",
        "OPTIONS": {"head": str(BASE_DIR / "shop" / "encoder" / "clothing-lite0-v1.npz")},
    },
    "ADAPTER": "shop.adapters.ShopProductAdapter",
    "BASE_TEMPLATE": "shop/base.html",
    "PRICE_FORMAT": "${amount}",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "visual_search": {"handlers": ["console"], "level": os.environ.get("VISUAL_SEARCH_LOG_LEVEL", "INFO")},
    },
}
