"""Which database a search reads: the replica ``SEARCH_DATABASE`` names, once it holds the latest vectors.

Read your own writes, by WAL position: after embedding rows commit, sync raises
``EmbeddingWriteMark`` on the primary to the primary's WAL position. A search
reads the replica when the replica has replayed at least that far
(``pg_last_wal_replay_lsn()``), else the primary, so a product embedded a
moment ago is found however far the replica lags. A replica that cannot be
reached is skipped too. The check costs two one-row queries, one on each server.
"""

from __future__ import annotations

import logging

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from visual_search.conf import vs_settings
from visual_search.models import EmbeddingWriteMark

logger = logging.getLogger(__name__)


def replayed_lsn(alias: str) -> int | None:
    """How far ``alias`` has replayed the primary's WAL (bytes); None for a server that is not a standby."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() - '0/0'::pg_lsn END"
        )
        value = cursor.fetchone()[0]
    return None if value is None else int(value)


def read_database() -> str:
    """The alias a search reads now: ``SEARCH_DATABASE`` if it holds every embedding written, else the primary.

    The check runs on the connection the search then uses, so with a pooler or
    load balancer in front of several replicas the alias must keep one session
    on one server (Django's persistent connections do; transaction pooling does not).
    """
    alias = vs_settings.SEARCH_DATABASE
    if alias == DEFAULT_DB_ALIAS:
        return alias
    # The mark first: every write recorded before this moment must be on the replica.
    mark = EmbeddingWriteMark.current(DEFAULT_DB_ALIAS)
    try:
        replayed = replayed_lsn(alias)
    except DatabaseError as exc:
        logger.warning("Search database %r cannot be read (%s); searching the primary.", alias, exc)
        connections[alias].close()  # a broken connection is opened again by the next search
        return DEFAULT_DB_ALIAS
    return alias if replayed is None or replayed >= mark else DEFAULT_DB_ALIAS
