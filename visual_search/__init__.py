"""Visual search for Django shops: product image embeddings in PostgreSQL/pgvector.

Layers, each importing only those below it: the core at this level (``conf``,
``models``, ``images``, ``filters``, ``adapters``); ``encoders``; ``indexing``
(keeping vectors in step with products); ``search`` (answering queries);
``quality`` (evaluation, training); ``web``, ``api`` and ``templatetags`` (what
people and programs call). ``apps``, ``checks``, ``admin``, ``urls`` and
``tasks`` are the entry points Django and Celery look for. See docs/architecture.md.
"""

from visual_search import _moved

_moved.install()
