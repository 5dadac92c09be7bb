"""A job's rate reads as people say it: 21.8/s, not 21.844/s."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from visual_search.indexing import jobs
from visual_search.models import BulkJob, BulkJobState

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("rate, shown", [
    (21.844, 21.8), (0.41234, 0.412), (3.0, 3.0), (123.6, 124), (2048.4, 2048), (0.06, 0.06),
])
def test_readable_rate(rate, shown):
    assert jobs.readable_rate(rate) == shown


def test_a_job_reports_its_rate_rounded_in_its_progress_and_its_json():
    started = timezone.now() - dt.timedelta(seconds=1000)
    job = BulkJob.objects.create(mode="all", encoder="x", state=BulkJobState.RUNNING, total=30000,
                                 started_at=started)
    progress = jobs.job_progress(job, remaining=30000 - 21844, now=started + dt.timedelta(seconds=1000))
    assert progress.rate == 21.8
    assert progress.as_dict()["rate"] == 21.8
