"""Keeping vectors in step with the catalogue: from a product save to stored, indexed embeddings.

A save enqueues work owed (``signal_handlers`` -> ``outbox``), a Celery task
drains it (``tasks``), and ``sync`` plans, decodes, embeds and writes each
product's rows. ``vector_index`` owns the HNSW indexes, ``encoder_switch``
which encoder serves searches, ``jobs``/``bulk``/``progress`` bulk re-embeds,
and ``health`` whether all of this is moving.
"""
