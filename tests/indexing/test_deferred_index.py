"""A large bulk job for an encoder no search reads builds its HNSW index after it, and the index always comes back.

Real PostgreSQL, committed for real (transaction=True): the index is dropped
and built ``CONCURRENTLY``, as in production, outside any transaction (inside
one, PostgreSQL refuses to build over rows with pending foreign-key checks).
Workers are played by ``tasks.drain_owed`` in this process; task messages are
recorded, not sent.
"""

from __future__ import annotations

import pytest

from visual_search.encoders import get_encoder
from visual_search.indexing import deferred_index, jobs, tasks
from visual_search.indexing.sync import sync_products
from visual_search.indexing.vector_index import ensure_hnsw_index, index_exists
from visual_search.models import BulkJob, BulkJobState

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent(settings, monkeypatch):
    """Small jobs defer (BULK_DEFER_INDEX_MIN 3); the tasks ``publish`` would send, recorded by name."""
    from config.celery import app  # noqa: PLC0415

    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "AUTO_EMBED": False, "BULK_DEFER_INDEX_MIN": 3}
    app.conf.task_always_eager = False
    names: list[str] = []
    monkeypatch.setattr(tasks, "publish", lambda task, args, **kw: names.append(task.name) or True)
    encoder = get_encoder()
    ensure_hnsw_index(encoder.id, encoder.dimensions)
    yield names
    app.conf.task_always_eager = True
    ensure_hnsw_index(encoder.id, encoder.dimensions)  # the next test finds it as migrate left it


def indexed() -> bool:
    encoder = get_encoder()
    return index_exists(encoder.id, encoder.dimensions)


def test_a_first_load_drops_the_index_and_builds_it_once_the_job_ends(sent, make_product,
                                                                        django_capture_on_commit_callbacks):
    products = [make_product(photo) for photo in ("chelsea", "coffee", "rocket")]

    job, _ = jobs.start_job("force")

    assert job.index_deferred and not indexed()  # dropped before any worker wrote a row
    with django_capture_on_commit_callbacks(execute=True):
        tasks.drain_owed()
    job.refresh_from_db()
    assert job.state == BulkJobState.FINISHED and job.done == len(products)
    assert sent.count("visual_search.build_deferred_indexes") == 1  # sent as the job's last rows settled
    assert not indexed()

    assert tasks.build_deferred_indexes() == [get_encoder().id]  # what the worker runs

    assert indexed()
    job.refresh_from_db()
    assert not job.index_deferred
    assert tasks.build_deferred_indexes() == []  # done: a redelivered task does nothing


def test_never_for_the_encoder_that_answers_searches(sent, make_product):
    products = [make_product(photo) for photo in ("chelsea", "coffee", "rocket")]
    sync_products([p.pk for p in products])  # searches answer from these vectors now

    job, _ = jobs.start_job("force")

    assert not job.index_deferred and indexed()
    assert deferred_index.read_by_searches(get_encoder())


def test_a_small_job_or_one_smaller_than_half_the_index_keeps_it(sent, make_product, settings):
    make_product("chelsea")
    make_product("coffee")

    job, _ = jobs.start_job("force")  # two products: under BULK_DEFER_INDEX_MIN
    assert not job.index_deferred and indexed()

    jobs.cancel_job(job)
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "BULK_DEFER_INDEX_MIN": None}
    make_product("rocket")
    job, _ = jobs.start_job("force")
    assert not job.index_deferred and indexed()


def test_a_cancelled_job_and_a_lost_task_still_bring_the_index_back(sent, make_product,
                                                                     django_capture_on_commit_callbacks):
    for photo in ("chelsea", "coffee", "rocket"):
        make_product(photo)
    job, _ = jobs.start_job("force")
    assert not indexed()

    with django_capture_on_commit_callbacks(execute=True):
        jobs.cancel_job(job)
    assert sent == ["visual_search.drain", "visual_search.build_deferred_indexes"]

    # That task was lost (or its worker died mid-build): the sweep sends it again while the mark is set.
    sent.clear()
    tasks.sweep_now()
    assert sent == ["visual_search.build_deferred_indexes"]
    tasks.build_deferred_indexes()
    assert indexed() and not BulkJob.objects.filter(index_deferred=True).exists()
    sent.clear()
    tasks.sweep_now()
    assert sent == []


def test_the_index_waits_for_every_deferring_job_of_its_encoder(sent, make_product):
    for photo in ("chelsea", "coffee", "rocket"):
        make_product(photo)
    first, _ = jobs.start_job("force")
    encoder = get_encoder().id
    second = BulkJob.objects.create(mode="all", encoder=encoder, total=3, index_deferred=True)
    BulkJob.objects.filter(pk=first.pk).update(state=BulkJobState.FINISHED)

    assert deferred_index.due() == [] and tasks.build_deferred_indexes() == [] and not indexed()

    BulkJob.objects.filter(pk=second.pk).update(state=BulkJobState.CANCELLED)
    assert deferred_index.due() == [encoder]
    assert tasks.build_deferred_indexes() == [encoder] and indexed()


def test_a_mark_over_an_index_that_exists_is_cleared_without_a_build(sent, make_product):
    # A crash between the mark and the drop leaves the index in place: the build finds it.
    job = BulkJob.objects.create(mode="force", encoder=get_encoder().id, total=5, index_deferred=True,
                                 state=BulkJobState.FINISHED)

    assert tasks.build_deferred_indexes() == [get_encoder().id]

    job.refresh_from_db()
    assert indexed() and not job.index_deferred
