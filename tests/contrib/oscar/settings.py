"""Test settings for an Oscar host: django-oscar 4 from PyPI, visual_search on catalogue.Product.

Built the way Oscar's "Building your own shop" guide builds a project (its
INSTALLED_APPS, middleware, context processors and Haystack's simple backend),
plus visual_search. Its own test database on the same embedded PostgreSQL, and
the main suite's Redis-or-embedded-Redis broker logic, with values a Celery
worker subprocess must share travelling through environment variables.
"""

import os
import tempfile
import uuid
from pathlib import Path

from oscar import INSTALLED_APPS as OSCAR_APPS
from oscar.defaults import *  # noqa: F403

from config import embedded

BASE_DIR = Path(__file__).resolve().parents[3]
SECRET_KEY = "oscar-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

INSTALLED_APPS = [
    # Above Oscar's apps, so its product-page template wins over Oscar's own.
    "visual_search.contrib.oscar",
    *OSCAR_APPS,
    "sorl.thumbnail",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "visual_search",
    "visual_search.analytics",
]
SITE_ID = 1

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "visual_search.search.uploads.UploadGuardMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "oscar.apps.basket.middleware.BasketMiddleware",
    "django.contrib.flatpages.middleware.FlatpageFallbackMiddleware",
]
AUTHENTICATION_BACKENDS = [
    "oscar.apps.customer.auth_backends.EmailBackend",
    "django.contrib.auth.backends.ModelBackend",
]
ROOT_URLCONF = "tests.contrib.oscar.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.template.context_processors.i18n",
                "django.contrib.messages.context_processors.messages",
                "oscar.apps.search.context_processors.search_form",
                "oscar.apps.checkout.context_processors.checkout",
                "oscar.apps.communication.notifications.context_processors.notifications",
                "oscar.core.context_processors.metadata",
            ],
        },
    },
]
HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}}

# A test database of its own, so this run never drops the main suite's (or another run's).
_TEST_DB = os.environ.setdefault("VISUAL_SEARCH_TEST_DB_NAME", f"test_vs_oscar_{uuid.uuid4().hex[:8]}")
if os.environ.get("DATABASE_URL"):
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
else:
    DATABASES = {"default": embedded.postgres_database()}
DATABASES["default"]["TEST"] = {"NAME": _TEST_DB}
if os.environ.get("VISUAL_SEARCH_TEST_WORKER"):
    DATABASES["default"]["NAME"] = _TEST_DB
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"  # what Oscar's own migrations use

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-gb"
STATIC_URL = "/static/"
MEDIA_URL = "/media/"
MEDIA_ROOT = os.environ.setdefault("DJANGO_MEDIA_ROOT", tempfile.mkdtemp(prefix="visual-search-oscar-media-"))
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# sorl-thumbnail keeps its key-value store in the database; the cache in front of it is per process.
THUMBNAIL_KVSTORE = "sorl.thumbnail.kvstores.cached_db_kvstore.KVStore"

CELERY_BROKER_URL = embedded.test_broker_url()
# One queue per test run, so parallel runs on a shared Redis never steal each other's tasks.
CELERY_TASK_DEFAULT_QUEUE = os.environ.setdefault(
    "VISUAL_SEARCH_TEST_QUEUE", f"vs-oscar-{uuid.uuid4().hex[:10]}"
)
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

VISUAL_SEARCH_PRODUCT_MODEL = "catalogue.Product"
VISUAL_SEARCH = {
    "ADAPTER": "visual_search.contrib.oscar.adapters.OscarProductAdapter",
    "BASE_TEMPLATE": "visual_search_oscar/layout.html",
    "TASK_RETRY_BACKOFF_MAX": 1,
}
