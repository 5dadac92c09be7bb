"""Production settings: ``DJANGO_SETTINGS_MODULE=config.production``. Everything comes from the environment.

Required:
  DJANGO_SECRET_KEY        50+ random characters, e.g. from ``secrets.token_urlsafe(50)``
  DJANGO_ALLOWED_HOSTS     comma-separated host names, e.g. ``shop.example.com``
  DATABASE_URL             PostgreSQL with pgvector, e.g. ``postgres://shop:...@db:5432/shop``
  CELERY_BROKER_URL        e.g. ``redis://redis:6379/0``
Optional:
  REDIS_CACHE_URL          shared cache for throttle counters (default: the broker's Redis, database 1)
  DJANGO_CSRF_TRUSTED_ORIGINS  e.g. ``https://shop.example.com``
  VISUAL_SEARCH_TRUSTED_PROXIES  reverse proxies every request passes that append to X-Forwarded-For
                           (default 0: none, the client's own address; docker-compose sets 1 for its nginx;
                           ``check --deploy`` warns when it is set and requests arrive without the header)
  DJANGO_DB_CONNECT_TIMEOUT  seconds to connect to the database (default 5)
  DJANGO_SECURE_SSL_REDIRECT  ``true`` (default) redirects plain HTTP to HTTPS
  DJANGO_HSTS_SECONDS      default 31536000 (one year), with subdomains and preload
  DJANGO_CSP_IMG_SRC       extra image origins for the Content-Security-Policy

TLS ends at the reverse proxy (deploy/nginx.conf), which says so in X-Forwarded-Proto.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from config.settings import *  # noqa: F403
from config.settings import VISUAL_SEARCH, env_bool


def required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(f"Set the environment variable {name} (see config/production.py).")
    return value


DEBUG = False
SECRET_KEY = required("DJANGO_SECRET_KEY")
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure-"):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 50 random characters.")
ALLOWED_HOSTS = [host.strip() for host in required("DJANGO_ALLOWED_HOSTS").split(",") if host.strip()]
required("DATABASE_URL")  # config.settings already parsed it; without it there is no embedded fallback here

# HTTPS only, behind a proxy that terminates TLS and sets X-Forwarded-Proto (and strips a client's own).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
# docker-compose's healthcheck asks gunicorn directly over plain HTTP, inside the network.
SECURE_REDIRECT_EXEMPT = [r"^visual-search/health/$"]
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", 31_536_000))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Throttle counters must be shared by every worker process, or each worker allows the full rate.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("REDIS_CACHE_URL")
        or required("CELERY_BROKER_URL").rsplit("/", 1)[0] + "/1",
    }
}

VISUAL_SEARCH = {
    **VISUAL_SEARCH,
    # Trust no proxy unless told: without one in front, a trusted hop would be whatever a client wrote.
    "TRUSTED_PROXIES": int(os.environ.get("VISUAL_SEARCH_TRUSTED_PROXIES", "0")),
}

LOGGING = {
    **LOGGING,  # noqa: F405
    "loggers": {
        **LOGGING["loggers"],  # noqa: F405
        # Refused uploads and throttled calls are expected under attack: keep them out of the error log.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}
