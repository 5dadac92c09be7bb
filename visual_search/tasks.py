"""Celery's ``autodiscover_tasks()`` imports this module; the tasks live in ``visual_search.indexing.tasks``.

Task names (``visual_search.embed_products``, ``visual_search.drain``,
``visual_search.sweep``) do not depend on where the code lives.
"""

from visual_search.indexing.tasks import drain, embed_products, sweep

__all__ = ["drain", "embed_products", "sweep"]
