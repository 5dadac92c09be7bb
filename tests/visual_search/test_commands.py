"""The visual_search_reembed, visual_search_status and visual_search_index commands."""

from __future__ import annotations

import io
import json

from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import photo_bytes
from visual_search.encoders import get_encoder
from visual_search.models import EmbeddingStatus, ProductImageEmbedding
from visual_search.vector_index import drop_hnsw_index, index_exists, index_name


def run(name: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def statuses() -> list[str]:
    return sorted(ProductImageEmbedding.objects.values_list("status", flat=True))


@pytest.mark.django_db
def test_sync_embeds_with_a_progress_bar_and_is_idempotent(make_product):
    make_product("chelsea", gallery=["coffee"])
    make_product("rocket")
    make_product(photo_bytes("astronaut")[:900])

    out, err = run("visual_search_reembed", "--sync", "--batch-size", "2")

    assert "3 products, 3 images embedded, 0 unchanged, 1 failed, 0 removed" in out
    assert "Embedding" in err and "3/3" in err  # the tqdm bar
    assert statuses() == ["failed", "ready", "ready", "ready"]

    out, _ = run("visual_search_reembed", "--sync", "--mode", "all")
    assert "3 products, 0 images embedded, 4 unchanged, 0 failed, 0 removed" in out


@pytest.mark.django_db
def test_sync_missing_with_nothing_to_do_says_so(make_product):
    make_product("chelsea")
    run("visual_search_reembed", "--sync")

    out, _ = run("visual_search_reembed", "--sync")

    assert "Nothing to re-embed" in out


@pytest.mark.django_db
def test_sync_force_re_embeds_unchanged_images(make_product):
    product = make_product("chelsea")
    run("visual_search_reembed", "--sync")
    before = ProductImageEmbedding.objects.get(product=product).embedded_at

    out, _ = run("visual_search_reembed", "--sync", "--mode", "all", "--force")

    assert "1 images embedded, 0 unchanged" in out
    assert ProductImageEmbedding.objects.get(product=product).embedded_at > before


@pytest.mark.django_db
def test_default_mode_queues_tasks(make_product):
    products = [make_product(name) for name in ("chelsea", "coffee", "rocket")]

    out, _ = run("visual_search_reembed", "--batch-size", "2")

    assert "Queued 3 products in 2 tasks." in out
    # Celery runs tasks eagerly in unit tests, so the rows exist once the command returns.
    assert statuses() == ["ready"] * 3
    assert {r.product_id for r in ProductImageEmbedding.objects.all()} == {p.pk for p in products}


@pytest.mark.django_db
def test_default_mode_warns_when_the_broker_refuses_tasks(make_product):
    make_product("chelsea")
    with mock.patch("visual_search.bulk.enqueue_products", return_value=False):
        out, err = run("visual_search_reembed")

    assert "Queued 1 products in 0 tasks." in out
    assert "1 of 1 tasks could not be sent: is the broker running?" in err
    assert not ProductImageEmbedding.objects.exists()


@pytest.mark.django_db
def test_failed_mode_retries_only_failed_products(make_product):
    good = make_product("chelsea")
    bad = make_product(photo_bytes("coffee")[:900])
    run("visual_search_reembed", "--sync")
    good_row = ProductImageEmbedding.objects.get(product=good)

    out, _ = run("visual_search_reembed", "--mode", "failed")

    assert "Queued 1 products in 1 tasks." in out
    assert ProductImageEmbedding.objects.get(product=bad).status == EmbeddingStatus.FAILED
    assert ProductImageEmbedding.objects.get(product=good).updated_at == good_row.updated_at


@pytest.fixture
def fast_polls(monkeypatch):
    from visual_search.management.commands import visual_search_reembed  # noqa: PLC0415

    monkeypatch.setattr(visual_search_reembed.Command, "poll_interval", 0.05)
    monkeypatch.setattr(visual_search_reembed.Command, "stall_seconds", 0.3)


@pytest.mark.django_db
def test_wait_returns_once_the_catalogue_is_settled(make_product, fast_polls):
    make_product("chelsea")
    make_product(photo_bytes("coffee")[:900])

    out, _ = run("visual_search_reembed", "--wait")

    assert "50.0% of 2 products ready (1 ready, 0 pending, 1 with failed images, 0 not embedded)" in out


@pytest.mark.django_db
def test_wait_stops_when_nothing_moves(make_product, fast_polls):
    make_product("chelsea")
    make_product(None)  # no image: it never gets a row

    out, err = run("visual_search_reembed", "--wait")

    assert "No progress for 0 s and nothing pending: 1 products outstanding" in err
    assert "50.0% of 2 products ready" in out


@pytest.mark.django_db
def test_wait_times_out_while_tasks_are_pending(make_product, fast_polls):
    product = make_product("chelsea")
    ProductImageEmbedding.objects.create(product=product, image_key="main", encoder=get_encoder().id,
                                         encoder_version=get_encoder().version)  # pending, as after a retry
    with mock.patch("visual_search.bulk.enqueue_products", return_value=True):  # sent, but nobody runs it
        with pytest.raises(CommandError, match="Timed out after 0 s with 1 products outstanding"):
            run("visual_search_reembed", "--wait", "--timeout", "0.2")


@pytest.mark.django_db
def test_forced_wait_waits_for_ready_rows_to_be_rewritten(make_product, fast_polls):
    make_product("chelsea")
    run("visual_search_reembed", "--sync")
    with mock.patch("visual_search.bulk.enqueue_products", return_value=True):  # the rewrite never happens
        with pytest.raises(CommandError, match="1 products outstanding"):
            run("visual_search_reembed", "--mode", "all", "--force", "--wait", "--timeout", "0.2")

    out, _ = run("visual_search_reembed", "--mode", "all", "--force", "--wait")  # eager: rewritten at once
    assert "100.0% of 1 products ready" in out


@pytest.mark.django_db
def test_bad_arguments_are_refused(db):
    with pytest.raises(CommandError, match="batch-size"):
        run("visual_search_reembed", "--batch-size", "0")
    with pytest.raises(CommandError):
        run("visual_search_reembed", "--sync", "--wait")


@pytest.mark.django_db
def test_status_prints_a_table(make_product):
    make_product("chelsea")
    make_product(None)
    run("visual_search_reembed", "--sync")

    out, _ = run("visual_search_status")

    lines = dict(line.split("  ", 1) for line in out.splitlines() if "  " in line)
    assert lines["Searchable products"].strip() == "2"
    assert lines["Ready"].strip() == "1 (50.0%)"
    assert lines["Not embedded"].strip() == "1"
    assert lines["Encoder"].strip().startswith(get_encoder().id)


@pytest.mark.django_db
def test_status_json_includes_the_index(make_product):
    make_product("chelsea")

    data = json.loads(run("visual_search_status", "--json")[0])

    assert (data["total"], data["ready"], data["not_embedded"], data["percent_ready"]) == (1, 0, 1, 0.0)
    assert data["hnsw_index_exists"] is True  # migrate created it
    assert data["dimensions"] == get_encoder().dimensions


@pytest.mark.django_db
def test_index_command_creates_then_reports_existing(db):
    encoder = get_encoder()
    drop_hnsw_index(encoder.id, encoder.dimensions)
    assert not index_exists(encoder.id, encoder.dimensions)

    assert "Created HNSW index" in run("visual_search_index")[0]
    assert index_exists(encoder.id, encoder.dimensions)
    assert "already exists" in run("visual_search_index")[0]


@pytest.mark.django_db
def test_index_command_rebuilds_with_new_parameters(settings):
    from django.db import connection

    encoder = get_encoder()
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "HNSW_M": 8}
    assert "Created HNSW index" in run("visual_search_index", "--rebuild")[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s",
                       [index_name(encoder.id, encoder.dimensions)])
        assert "m='8'" in cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_index_command_concurrently(db):
    encoder = get_encoder()
    drop_hnsw_index(encoder.id, encoder.dimensions)
    try:
        out, _ = run("visual_search_index", "--concurrently")
        assert "Created HNSW index" in out
        assert index_exists(encoder.id, encoder.dimensions)
    finally:
        if not index_exists(encoder.id, encoder.dimensions):  # leave the test database as migrate made it
            call_command("visual_search_index", stdout=io.StringIO())


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_wait_follows_a_real_worker_until_the_catalogue_is_ready(worker, make_product, settings):
    # Products saved without auto-embedding, so only the command's tasks embed them.
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "AUTO_EMBED": False}
    products = [make_product(name) for name in ("chelsea", "coffee", "rocket")]
    assert not ProductImageEmbedding.objects.exists()

    out, err = run("visual_search_reembed", "--wait", "--timeout", "150", "--batch-size", "2")

    assert "Queued 3 products in 2 tasks." in out
    assert "100.0% of 3 products ready (3 ready, 0 pending" in out
    assert "Waiting for workers" in err
    rows = ProductImageEmbedding.objects.filter(product__in=products)
    assert sorted(rows.values_list("status", flat=True)) == ["ready"] * 3
