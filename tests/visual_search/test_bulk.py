"""Selecting products by embedding state, and re-embedding them through tasks or in process."""

from __future__ import annotations

from unittest import mock

import pytest

from tests.conftest import photo_bytes
from visual_search import bulk
from visual_search.bulk import enqueue_reembed, queue_catalogue, reembed_in_process, select_products
from visual_search.encoders import get_encoder
from visual_search.indexing import SyncResult, TransientEmbeddingError, sync_products
from visual_search.models import EmbeddingStatus, ProductImageEmbedding

pytestmark = pytest.mark.django_db


def rows(product):
    return ProductImageEmbedding.objects.filter(product_id=product.pk)


@pytest.fixture
def states(make_product):
    """Products embedded for real: ready, failed (truncated JPEG), stale (old version), pending, never."""
    p = {
        "ready": make_product("chelsea"),
        "failed": make_product(photo_bytes("coffee")[:900]),
        "stale": make_product("rocket"),
        "pending": make_product("astronaut"),
        "never": make_product("coffee"),
    }
    sync_products([p[name].pk for name in ("ready", "failed", "stale", "pending")])
    rows(p["stale"]).update(encoder_version="0-old")
    rows(p["pending"]).update(status=EmbeddingStatus.PENDING)
    return p


def names(states, pks):
    by_pk = {product.pk: name for name, product in states.items()}
    return sorted(by_pk[pk] for pk in pks)


def test_missing_selects_never_embedded_pending_and_stale(states):
    assert names(states, select_products("missing")) == ["never", "pending", "stale"]


def test_failed_selects_products_with_a_failed_row(states):
    assert names(states, select_products("failed")) == ["failed"]


def test_all_selects_every_searchable_product(states):
    pks = list(select_products("all"))

    assert names(states, pks) == sorted(states)
    assert pks == sorted(pks)  # pk order, so batches are stable between runs


def test_unknown_mode_is_refused(db):
    with pytest.raises(ValueError, match="missing, failed, all"):
        select_products("everything")


def test_enqueue_sends_one_task_per_batch(make_product):
    products = [make_product(None) for _ in range(5)]
    with mock.patch.object(bulk, "enqueue_products", return_value=True) as send:
        sent = enqueue_reembed((p.pk for p in products), batch_size=2, force=True)

    assert sent == 3
    assert [call.args[0] for call in send.call_args_list] == [
        [products[0].pk, products[1].pk], [products[2].pk, products[3].pk], [products[4].pk]
    ]
    assert all(call.kwargs == {"force": True} for call in send.call_args_list)


def test_enqueue_counts_only_the_tasks_the_broker_took(settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "BATCH_SIZE": 2}
    with mock.patch.object(bulk, "enqueue_products", side_effect=[True, False, True]):
        assert enqueue_reembed(range(6)) == 2


def test_queue_catalogue_runs_tasks_and_fills_the_gaps(states):
    # Celery is eager in unit tests, so each task runs as it is sent.
    pks, tasks = queue_catalogue("missing", batch_size=2)

    assert names(states, pks) == ["never", "pending", "stale"]
    assert tasks == 2
    assert list(select_products("missing")) == []
    assert rows(states["stale"]).get().encoder_version == get_encoder().version
    assert rows(states["never"]).get().status == EmbeddingStatus.READY


def test_queue_failed_mode_retries_failed_rows(states):
    # The image stays broken: the retry must really run (not be skipped as unchanged) and fail again.
    before = rows(states["failed"]).get()

    pks, tasks = queue_catalogue("failed")

    after = rows(states["failed"]).get()
    assert (len(pks), tasks) == (1, 1)
    assert after.status == EmbeddingStatus.FAILED
    assert after.updated_at > before.updated_at  # rewritten, not skipped as unchanged


def test_reembed_in_process_reports_progress_and_is_idempotent(states):
    seen: list[tuple[list, SyncResult]] = []
    pks = list(select_products("all"))

    first = reembed_in_process(pks, batch_size=2, progress_callback=lambda chunk, r: seen.append((chunk, r)))
    second = reembed_in_process(pks, batch_size=2)

    assert [len(chunk) for chunk, _ in seen] == [2, 2, 1]
    # never, stale and pending are embedded; ready and failed are unchanged
    assert (first.embedded, first.unchanged, first.failed) == (3, 2, 0)
    assert (second.embedded, second.unchanged, second.failed) == (0, 5, 0)


def test_reembed_in_process_isolates_a_product_with_a_transient_error(make_product):
    good, bad = make_product("chelsea"), make_product("coffee")
    real_sync = bulk.sync_products

    def flaky(pks, **kwargs):
        if bad.pk in pks:
            raise TransientEmbeddingError("storage hiccup", list(pks))
        return real_sync(pks, **kwargs)

    with mock.patch.object(bulk, "sync_products", side_effect=flaky):
        result = reembed_in_process([good.pk, bad.pk], batch_size=10)

    assert (result.embedded, result.failed) == (1, 1)
    assert rows(good).get().status == EmbeddingStatus.READY
    failed = rows(bad).get()
    assert failed.status == EmbeddingStatus.FAILED and "storage hiccup" in failed.error
