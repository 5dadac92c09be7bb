"""Celery's ``autodiscover_tasks()`` imports this module; the tasks live in ``indexing/tasks.py`` and ``quality/tasks.py``.

Task names (``visual_search.embed_products``, ``visual_search.drain``,
``visual_search.sweep``, ``visual_search.calibrate``) do not depend on where the code lives.
"""

from visual_search.indexing.tasks import drain, embed_products, sweep
from visual_search.quality.tasks import calibrate, send_calibrate

__all__ = ["calibrate", "drain", "embed_products", "send_calibrate", "sweep"]
