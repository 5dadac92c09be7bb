"""Celery application for the demo project (``celery -A config worker``).

``celery -A config beat`` (or a worker started with ``-B``) runs the sweep that
re-sends work owed that nobody is working on (a lost task, a dead worker's
expired leases): every 5 s, or every ``VISUAL_SEARCH_SWEEP_SECONDS``. A sweep is
one or two indexed queries, and one not run in time is dropped, not queued. The
encoder is loaded in each worker child as it starts, by the app's own
``worker_process_init`` receiver (``visual_search.indexing.tasks``).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
SWEEP_SECONDS = float(os.environ.get("VISUAL_SEARCH_SWEEP_SECONDS", "5"))
app.conf.beat_schedule = {
    "visual-search-sweep": {
        "task": "visual_search.sweep",
        "schedule": SWEEP_SECONDS,
        # Sweeps that waited behind a busy worker are stale: the next one looks again anyway.
        "options": {"expires": max(5.0, 2 * SWEEP_SECONDS)},
    },
}
