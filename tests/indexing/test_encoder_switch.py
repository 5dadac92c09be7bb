"""Switching encoders without downtime: search stays on the old vectors until the new ones cover the catalogue."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from django.utils.connection import ConnectionDoesNotExist

from tests.conftest import photo_bytes
from visual_search.encoders import get_encoder
from visual_search.encoders.thumbnail import ThumbnailEncoder
from visual_search.indexing import encoder_switch
from visual_search.indexing.encoder_switch import get_indexing_encoders, get_search_encoder
from visual_search.indexing.sync import sync_products
from visual_search.indexing.vector_index import ensure_hnsw_index, index_exists
from visual_search.models import EmbeddingStatus, ProductImageEmbedding, StoredEncoder, SyncRequest
from visual_search.search.service import search_by_image

pytestmark = pytest.mark.django_db

OLD = "visual_search.encoders.thumbnail.ThumbnailEncoder"
NEW = "tests.indexing.test_encoder_switch.NewThumbnailEncoder"


class NewThumbnailEncoder(ThumbnailEncoder):
    """Another vector space (another id) with the same cheap arithmetic."""

    id = "thumbnail-new"


def configure(settings, backend: str) -> None:
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "ENCODER": {"BACKEND": backend}, "AUTO_EMBED": False}


def manage(*args: str) -> str:
    out = io.StringIO()
    call_command("visual_search_encoder", *args, stdout=out)
    return out.getvalue()


def top_hit(product) -> int:
    """The best match for the product's own photo, searched from whatever encoder serves searches."""
    return search_by_image(photo_bytes(product.name_photo), k=1)[0].product.pk


@pytest.fixture
def old_catalogue(settings, make_product):
    """Three products embedded under the old encoder, which serves searches."""
    configure(settings, OLD)
    products = [make_product(name) for name in ("chelsea", "coffee", "rocket")]
    for product, name in zip(products, ("chelsea", "coffee", "rocket")):
        product.name_photo = name
    sync_products([p.pk for p in products])
    with connection.cursor() as cursor:  # CREATE INDEX refuses to run with deferred FK checks pending
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    ensure_hnsw_index("thumbnail", ThumbnailEncoder.dimensions)
    assert get_search_encoder().id == "thumbnail"
    return products


def test_search_stays_on_the_old_encoder_until_the_new_one_covers_the_catalogue(settings, old_catalogue):
    cat, coffee, rocket = old_catalogue
    configure(settings, NEW)

    assert get_encoder().id == "thumbnail-new"
    assert get_search_encoder().id == "thumbnail"
    assert [e.id for e in get_indexing_encoders()] == ["thumbnail-new", "thumbnail"]
    assert top_hit(rocket) == rocket.pk  # answered from the old vectors: the new encoder has none yet

    sync_products([cat.pk, coffee.pk], encoder=get_encoder())
    encoder_switch.clear_caches()
    cover = encoder_switch.coverage()
    assert (cover.products_with_old_vectors, cover.not_covered, cover.complete) == (3, 1, False)
    assert get_search_encoder().id == "thumbnail"
    assert top_hit(rocket) == rocket.pk  # still the old vectors: the rocket has no new one
    assert "Switch pending: 66.7% of 3 products covered" in manage("status")

    sync_products([rocket.pk], encoder=get_encoder())
    encoder_switch.clear_caches()
    cover = encoder_switch.coverage()
    assert (cover.not_covered, cover.owed, cover.indexed, cover.complete) == (0, 0, False, False)
    assert get_search_encoder().id == "thumbnail"  # never by itself to an encoder without its index
    assert "no HNSW index yet" in manage("status")

    ensure_hnsw_index("thumbnail-new", NewThumbnailEncoder.dimensions)
    encoder_switch.clear_caches()

    assert get_search_encoder().id == "thumbnail-new"
    assert StoredEncoder.objects.get(serving=True).encoder == "thumbnail-new"
    assert [e.id for e in get_indexing_encoders()] == ["thumbnail-new"]
    assert top_hit(cat) == cat.pk and top_hit(rocket) == rocket.pk


def test_work_owed_holds_the_switch_back(settings, old_catalogue):
    configure(settings, NEW)
    sync_products([p.pk for p in old_catalogue], encoder=get_encoder())
    SyncRequest.objects.create(product=old_catalogue[0], requested_at=timezone.now())  # a save not yet synced
    encoder_switch.clear_caches()

    assert get_search_encoder().id == "thumbnail"
    assert encoder_switch.coverage().owed == 1


def test_an_admin_switches_early_then_prunes_the_old_vectors(settings, old_catalogue):
    configure(settings, NEW)
    with pytest.raises(CommandError, match="Searches still answer from thumbnail"):
        manage("prune", "thumbnail")

    assert "Searches now answer from thumbnail-new." in manage("switch")
    assert index_exists("thumbnail-new", NewThumbnailEncoder.dimensions)  # built by the switch
    assert "already answer" in manage("switch")
    assert get_search_encoder().id == "thumbnail-new"
    with pytest.raises(CommandError, match="configured encoder"):
        manage("prune", "thumbnail-new")

    assert "Deleted 3 rows of encoder thumbnail" in manage("prune", "thumbnail")
    assert not ProductImageEmbedding.objects.filter(encoder="thumbnail").exists()
    assert not index_exists("thumbnail", ThumbnailEncoder.dimensions)
    assert not StoredEncoder.objects.filter(encoder="thumbnail").exists()


def test_first_use_records_the_configured_encoder_as_serving(settings, db):
    configure(settings, OLD)

    assert get_search_encoder().id == "thumbnail"
    stored = StoredEncoder.objects.get(serving=True)
    assert (stored.encoder, stored.backend, stored.serving, stored.dimensions) == ("thumbnail", OLD, True, 256)
    assert not ProductImageEmbedding.objects.filter(status=EmbeddingStatus.PENDING).exists()


def test_searches_read_the_database_named_by_search_database(settings, old_catalogue):
    cat = old_catalogue[0]
    assert top_hit(cat) == cat.pk

    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "SEARCH_DATABASE": "replica"}

    with pytest.raises(ConnectionDoesNotExist, match="replica"):  # no such alias here: proof of where it reads
        top_hit(cat)
    assert search_by_image(photo_bytes("chelsea"), k=1, using="default")[0].product.pk == cat.pk


def test_an_old_encoder_with_no_vectors_gives_way_at_once(settings, make_product):
    configure(settings, OLD)
    make_product("chelsea")  # never embedded under the old encoder
    assert get_search_encoder().id == "thumbnail"  # recorded as serving

    configure(settings, NEW)

    assert get_search_encoder().id == "thumbnail-new"  # nothing to keep answering from
    assert StoredEncoder.objects.get(serving=True).encoder == "thumbnail-new"
