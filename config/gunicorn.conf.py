"""gunicorn settings for the demo: ``gunicorn -c config/gunicorn.conf.py config.wsgi:application``.

Each worker loads TensorFlow and the encoder right after it starts, so the
first search it serves is as fast as the rest (without this: 3.8-6.6 s). The
app is not preloaded: TensorFlow must never be loaded in the parent that forks.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
preload_app = False


def post_worker_init(worker):
    """Warm the worker: URL patterns imported, encoder loaded and run once."""
    from django.db import connections
    from django.urls import get_resolver

    import time

    from visual_search.search import warm_up

    start = time.perf_counter()
    get_resolver().url_patterns  # noqa: B018 - imports every view module now, not on the first request
    warm_up()
    connections.close_all()  # the worker's requests open their own
    worker.log.info("Worker %s warmed up in %.1f s", worker.pid, time.perf_counter() - start)
