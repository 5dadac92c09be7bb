"""Stored bulk jobs: selecting products, starting, pausing, resuming, cancelling, and their progress numbers.

Workers are played by ``tasks.drain_owed`` in this process (the code a worker
runs), so each step can be checked in between; ``not_eager`` makes ``kick``
publish a real message instead of running the drain inline.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.conftest import photo_bytes
from visual_search.encoders import get_encoder
from visual_search.indexing import jobs
from visual_search.indexing.bulk import reembed_in_process
from visual_search.indexing.sync import sync_products
from visual_search.indexing.tasks import drain_owed
from visual_search.models import BulkJob, BulkJobState, EmbeddingStatus, ProductImageEmbedding, SyncRequest

pytestmark = pytest.mark.django_db


def rows(product):
    return ProductImageEmbedding.objects.filter(product_id=product.pk)




@pytest.fixture
def states(quiet_saves, make_product):
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


def check_numbers(job: BulkJob) -> jobs.JobProgress:
    """The progress numbers, checked against the rows in the database."""
    job.refresh_from_db()
    progress = jobs.job_progress(job)
    owed = SyncRequest.objects.filter(job=job).count()
    assert progress.done + progress.failed == progress.processed
    if job.state == BulkJobState.CANCELLED:
        assert owed == 0 and progress.remaining == job.total - progress.processed
    else:
        assert progress.remaining == owed and progress.processed == job.total - owed
    return progress


def test_modes_select_by_embedding_state(states):
    assert names(states, jobs.select_products("missing")) == ["never", "pending", "stale"]
    assert names(states, jobs.select_products("stale")) == ["stale"]
    assert names(states, jobs.select_products("failed")) == ["failed"]
    assert names(states, jobs.select_products("all")) == sorted(states)
    pks = list(jobs.select_products("force"))
    assert names(states, pks) == sorted(states) and pks == sorted(pks)
    with pytest.raises(ValueError, match="missing, stale, failed, all, force"):
        jobs.select_products("everything")


def test_a_job_records_its_products_then_workers_finish_it(states, not_eager):
    job, created = jobs.start_job("missing")

    assert created and job.state == BulkJobState.QUEUED and job.total == 3
    assert names(states, SyncRequest.objects.filter(job=job).values_list("product", flat=True)) == [
        "never", "pending", "stale"]
    assert check_numbers(job).processed == 0

    drain_owed()

    progress = check_numbers(job)
    assert (progress.state, progress.processed, progress.done, progress.failed) == ("finished", 3, 3, 0)
    assert progress.seconds_left == 0.0
    assert rows(states["stale"]).get().encoder_version == get_encoder().version
    assert rows(states["never"]).get().status == EmbeddingStatus.READY
    assert jobs.select_products("missing").count() == 0


def test_an_identical_active_job_is_joined_not_repeated(states, not_eager):
    first, _ = jobs.start_job("all")
    second, created = jobs.start_job("all")

    assert not created and second.pk == first.pk
    assert BulkJob.objects.count() == 1 and SyncRequest.objects.count() == 5
    other, created = jobs.start_job("failed")  # another mode is another job
    assert created and other.total == 0  # its one product is owed by the running job already
    assert "already owed" in other.message


def test_pause_holds_the_rows_and_resume_goes_on(states, not_eager):
    job, _ = jobs.start_job("all")
    assert jobs.pause_job(job) and job.state == BulkJobState.PAUSED
    assert not jobs.pause_job(job)

    drain_owed()  # a worker skips a paused job's rows

    assert check_numbers(job).remaining == 5
    assert jobs.resume_job(job) and job.state == BulkJobState.RUNNING
    drain_owed()
    assert check_numbers(job).state == BulkJobState.FINISHED
    assert not jobs.resume_job(job)


def test_cancel_drops_the_jobs_rows_but_never_work_owed_by_a_save(states, not_eager, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "AUTO_EMBED": True}
    job, _ = jobs.start_job("force")
    saved = states["ready"]
    saved.name = "Renamed"
    saved.save()  # owed by a save now: no longer the job's row
    assert SyncRequest.objects.get(product=saved).job is None

    assert jobs.cancel_job(job)

    progress = check_numbers(job)
    assert progress.state == BulkJobState.CANCELLED and progress.remaining == job.total  # none was done
    assert "Cancelled with 4 products not re-embedded." == job.message
    assert list(SyncRequest.objects.values_list("product", flat=True)) == [saved.pk]
    assert not jobs.cancel_job(job)


def test_a_forced_job_forces_products_already_owed_by_a_save(states, not_eager):
    SyncRequest.objects.create(product=states["ready"], requested_at=timezone.now())

    job, _ = jobs.start_job("force")

    assert job.total == 4 and "1 product already owed by saves or another job is left to them." == job.message
    assert SyncRequest.objects.get(product=states["ready"]).force is True


def test_failed_mode_retries_the_broken_image(states, not_eager):
    before = rows(states["failed"]).get()

    job, _ = jobs.start_job("failed")
    drain_owed()

    after = rows(states["failed"]).get()
    assert check_numbers(job).failed == 1
    assert after.status == EmbeddingStatus.FAILED and after.updated_at > before.updated_at


def test_nothing_to_do_is_said_plainly(quiet_saves, make_product):
    product = make_product("chelsea")
    reembed_in_process([product.pk])

    job, created = jobs.start_job("missing")

    assert created and job.state == BulkJobState.FINISHED and job.total == 0
    assert job.message == jobs.NOTHING_TO_DO
    assert jobs.job_progress(job).percent == 100.0


def test_progress_of_several_jobs_in_one_query(states, not_eager, django_assert_max_num_queries):
    a, _ = jobs.start_job("stale")
    b, _ = jobs.start_job("failed")
    with django_assert_max_num_queries(1):
        listed = jobs.jobs_progress([a, b])
    assert [(p.total, p.remaining) for p in listed] == [(1, 1), (1, 1)]


def test_rate_and_time_left(quiet_saves, make_product):
    products = [make_product(None) for _ in range(10)]
    job = BulkJob.objects.create(mode="all", encoder="x", state=BulkJobState.RUNNING, total=10, done=6,
                                 started_at=timezone.now() - dt.timedelta(seconds=100))
    SyncRequest.objects.bulk_create(SyncRequest(product=p, requested_at=timezone.now(), job=job) for p in products[:4])

    progress = jobs.job_progress(job, now=job.started_at + dt.timedelta(seconds=100))

    assert (progress.processed, progress.remaining, progress.percent) == (6, 4, 60.0)
    assert progress.rate == 0.06 and progress.seconds_left == pytest.approx(66.7, abs=0.1)
    assert progress.time_left == "1 min 07 s"
    assert progress.as_dict()["time_left"] == "1 min 07 s"


def test_durations_read_like_a_clock():
    assert [jobs.format_duration(s) for s in (None, 12.4, 185, 3725)] == ["\u2014", "12 s", "3 min 05 s", "1 h 02 min"]


def test_reembed_in_process_is_idempotent(states):
    pks = list(jobs.select_products("all"))
    seen = []

    first = reembed_in_process(pks, batch_size=2, progress_callback=lambda chunk, r: seen.append(len(chunk)))
    second = reembed_in_process(pks, batch_size=2)

    assert seen == [2, 2, 1]
    assert (first.embedded, first.unchanged) == (3, 2)
    assert (second.embedded, second.unchanged, second.failed) == (0, 5, 0)


def test_job_drains_go_to_the_bulk_queue_when_one_is_set(states, not_eager, settings):
    import os  # noqa: PLC0415

    from config.celery import app  # noqa: PLC0415

    bulk = f"{os.environ['VISUAL_SEARCH_TEST_QUEUE']}-bulk"
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "TASK_QUEUE_BULK": bulk}
    with app.connection_for_write() as connection:
        queue = connection.SimpleQueue(bulk)
        try:
            jobs.start_job("all")
            message = queue.get(timeout=5)  # the real message, read back from the real broker
            assert message.headers["task"] == "visual_search.drain"
            assert message.headers["argsrepr"] == "(True,)"  # it sends its next link to the bulk queue too
            message.ack()
            with pytest.raises(queue.Empty):  # one message for the job, nothing more
                queue.get(block=False)
        finally:
            queue.clear()
            queue.close()


def test_a_drain_claims_bulk_batches_while_all_its_work_is_a_jobs(states, not_eager, settings, monkeypatch):
    from visual_search.indexing import outbox  # noqa: PLC0415

    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "BATCH_SIZE": 2, "BULK_BATCH_SIZE": 3}
    sizes, claim = [], outbox.claim
    monkeypatch.setattr(outbox, "claim", lambda limit, **kw: sizes.append(limit) or claim(limit, **kw))
    job, _ = jobs.start_job("all")  # five products

    drain_owed()

    assert check_numbers(job).state == BulkJobState.FINISHED
    assert sizes == [2, 3, 3]  # BATCH_SIZE first (saves' work would come first), then the job's batches
    sizes.clear()
    outbox.request_sync([states["ready"].pk])  # a save's work: batches go back to BATCH_SIZE
    outbox.request_sync([states["never"].pk], job=BulkJob.objects.create(encoder=job.encoder, total=1))
    drain_owed()
    assert sizes == [2, 2]
