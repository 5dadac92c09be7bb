"""Celery application for the demo project (``celery -A config worker``).

``celery -A config beat`` (or a worker started with ``-B``) runs the sweep that
re-sends work owed whose task was lost: every minute, or every
``VISUAL_SEARCH_SWEEP_SECONDS``. The encoder is loaded in each worker child as
it starts, by the app's own ``worker_process_init`` receiver (``visual_search.indexing.tasks``).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.conf.beat_schedule = {
    "visual-search-sweep": {
        "task": "visual_search.sweep",
        "schedule": float(os.environ.get("VISUAL_SEARCH_SWEEP_SECONDS", "60")),
    },
}
