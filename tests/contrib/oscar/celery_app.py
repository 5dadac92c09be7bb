"""The Celery app a worker for the Oscar test host runs (``celery -A tests.contrib.oscar.celery_app``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.contrib.oscar.settings")

app = Celery("oscar_tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
