"""Leases that prove a worker alive: renewed by their holder only, given back at once after an outage."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from visual_search.indexing import outbox
from visual_search.models import BulkJob, BulkJobState, SyncRequest

pytestmark = pytest.mark.django_db


@pytest.fixture
def owed(make_product):
    products = [make_product(None) for _ in range(4)]  # their saves left them owed (no commit, no task)
    assert SyncRequest.objects.count() == 4
    return products


def test_a_claim_records_its_holder_and_only_the_holder_renews_it(owed, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "SYNC_LEASE_SECONDS": 15}
    claims = outbox.claim(2)
    mine = [c.product_pk for c in claims]
    assert set(SyncRequest.objects.filter(pk__in=mine).values_list("claimed_by", flat=True)) == {outbox.holder()}
    # Almost out: the worker is slow, not dead. Another process's rows are not ours to renew.
    almost = timezone.now() + timedelta(seconds=1)
    SyncRequest.objects.filter(pk__in=mine).update(claimed_until=almost)
    other = SyncRequest.objects.exclude(pk__in=mine).first()
    SyncRequest.objects.filter(pk=other.pk).update(claimed_until=almost, claimed_by="elsewhere:1:x")

    assert outbox.renew_leases() == 2

    for row in SyncRequest.objects.filter(pk__in=mine):
        assert row.claimed_until > timezone.now() + timedelta(seconds=10)
    assert SyncRequest.objects.get(pk=other.pk).claimed_until == almost


def test_a_dead_workers_rows_are_due_once_its_lease_ran_out(owed, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "SYNC_SWEEP_AFTER": 3600}
    claims = outbox.claim(2)
    assert outbox.due_count() == 0  # leased and alive; the other two wait their turn (a worker is busy)
    SyncRequest.objects.filter(pk__in=[c.product_pk for c in claims]).update(
        claimed_until=timezone.now() - timedelta(seconds=1)  # nobody renewed it: the worker died
    )
    assert outbox.due_count() == 2
    assert outbox.due_count(limit=1) == 1  # the sweep counts no further than it would send


def test_after_losing_the_database_a_worker_gives_its_own_rows_back_at_once(owed):
    claims = outbox.claim(3)
    SyncRequest.objects.filter(pk=claims[0].product_pk).update(claimed_by="elsewhere:1:x")  # taken over

    assert outbox.release_mine() == 2

    free = SyncRequest.objects.filter(claimed_until__isnull=True)
    assert set(free.values_list("pk", flat=True)) >= {c.product_pk for c in claims[1:]}
    assert SyncRequest.objects.get(pk=claims[0].product_pk).claimed_until is not None
    assert len(outbox.claim(10)) == 3  # handed out again without waiting for a lease; not as crashed
    assert not any(c.crashed for c in claims[1:])


def test_health_says_degraded_naming_a_job_that_stalled(owed, settings):
    from visual_search.indexing.health import check_backlog  # noqa: PLC0415

    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "HEALTH_STALLED_SECONDS": 60}
    job = BulkJob.objects.create(mode="all", encoder="x", state=BulkJobState.RUNNING, total=4)
    SyncRequest.objects.update(job=job)
    assert check_backlog().ok  # just started

    BulkJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    check = check_backlog()

    assert not check.ok and check.degraded
    assert f"bulk job {job.pk} owe work and settled nothing" in check.detail
    assert check.data["stalled_jobs"] == [job.pk] and check.data["oldest_owed_seconds"] >= 0
