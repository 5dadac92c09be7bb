"""The embedding admin, its progress page and JSON feed, and the product admin's re-embed action."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from shop.models import Product
from tests.conftest import photo_bytes
from visual_search.indexing.sync import sync_products
from visual_search.indexing.tasks import drain_owed
from visual_search.models import BulkJob, EmbeddingStatus, ProductImageEmbedding, SyncRequest

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:visual_search_productimageembedding_changelist"
PROGRESS = "admin:visual_search_productimageembedding_progress"
JOBS = "admin:visual_search_bulkjob_changelist"


@pytest.fixture
def embedded(settings, make_product):
    """One ready product, one failed (truncated JPEG), one never embedded; no work owed by the saves."""
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "AUTO_EMBED": False}
    ready, failed = make_product("chelsea"), make_product(photo_bytes("coffee")[:900])
    sync_products([ready.pk, failed.pk])
    return {"ready": ready, "failed": failed, "never": make_product("rocket")}


def staff_user(*codenames: str) -> User:
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def test_changelist_shows_rows_read_only(admin_client, embedded):
    response = admin_client.get(reverse(CHANGELIST))

    html = response.content.decode()
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 2
    assert "&#9679; Failed" in html and "&#9679; Ready" in html
    assert 'class="vs-status vs-status-failed"' in html and "visual_search/admin/progress.css" in html
    assert " style=" not in html  # colours from the stylesheet: the Content-Security-Policy blocks style attributes
    # The error column is cut to 80 characters; the row's page has it whole.
    error = ProductImageEmbedding.objects.get(product=embedded["failed"]).error
    assert len(error) > 80 and f"{error[:60]}" in html and f">{error}<" not in html
    assert reverse(PROGRESS) in html  # the object-tools link
    assert "Re-embed the products of the selected rows" in html
    assert "Add product image embedding" not in html


def test_changelist_searches_by_product_pk(admin_client, embedded):
    response = admin_client.get(reverse(CHANGELIST), {"q": str(embedded["failed"].pk)})

    assert [row.product_id for row in response.context["cl"].result_list] == [embedded["failed"].pk]


def test_row_detail_is_view_only(admin_client, embedded):
    row = ProductImageEmbedding.objects.get(product=embedded["ready"])
    url = reverse("admin:visual_search_productimageembedding_change", args=[row.pk])

    response = admin_client.get(url)

    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
    assert admin_client.post(url, {"status": "failed"}).status_code == 403


def test_progress_page_renders_the_numbers(admin_client, embedded):
    response = admin_client.get(reverse(PROGRESS))

    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["progress"].total == 3
    assert response.context["bar"] == {"ready": 33.33, "failed": 33.33}
    assert '<span data-field="percent_ready">33.3</span>% ready' in html
    assert 'data-url="%s?format=json"' % reverse(PROGRESS) in html
    assert "visual_search/admin/progress.js" in html and "<script>" not in html  # no inline script (CSP)
    assert '<span class="vs-ready" data-width="33.33"></span>' in html and " style=" not in html
    assert f'href="{reverse(JOBS)}"' in html  # re-embeds are jobs now


def test_progress_json(admin_client, embedded):
    data = admin_client.get(reverse(PROGRESS), {"format": "json"}).json()

    assert (data["total"], data["ready"], data["failed"], data["not_embedded"]) == (3, 1, 1, 1)
    assert data["rows"] == {"ready": 1, "pending": 0, "failed": 1}
    assert data["percent_ready"] == 33.3 and data["hnsw_index_exists"] is True


def test_non_staff_users_are_sent_to_the_login_page(client, embedded):
    client.force_login(User.objects.create_user("shopper", password="pw"))

    for url in (reverse(PROGRESS), reverse(PROGRESS) + "?format=json"):
        response = client.get(url)
        assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_row_action_re_embeds_the_products(admin_client, embedded, django_capture_on_commit_callbacks):
    row = ProductImageEmbedding.objects.get(product=embedded["ready"])
    before = row.embedded_at

    with django_capture_on_commit_callbacks(execute=True):  # the task is sent once the work is committed
        response = admin_client.post(
            reverse(CHANGELIST), {"action": "reembed_rows", "_selected_action": [row.pk]}, follow=True
        )

    assert "1 product will be re-embedded" in response.content.decode()
    row.refresh_from_db()
    assert row.embedded_at > before  # forced: re-embedded although unchanged


def test_product_action_and_status_column(admin_client, embedded, django_capture_on_commit_callbacks):
    url = reverse("admin:shop_product_changelist")
    html = admin_client.get(url).content.decode()
    assert "Re-embed images of selected products" in html
    assert "&#9679; Not embedded" in html and "&#9679; Failed" in html
    # Colours from the stylesheet the mixin's Media adds, never a style attribute (CSP).
    assert '<td class="field-embedding_status"><span class="vs-status vs-status-none">' in html
    assert "visual_search/admin/progress.css" in html

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            url, {"action": "reembed_products", "_selected_action": [embedded["never"].pk]}, follow=True
        )

    assert "1 product will be re-embedded" in response.content.decode()
    assert ProductImageEmbedding.objects.get(product=embedded["never"]).status == EmbeddingStatus.READY


def test_product_changelist_filters_by_embedding_status(admin_client, embedded):
    response = admin_client.get(reverse("admin:shop_product_changelist"), {"embedding_status": "none"})

    assert [p.pk for p in response.context["cl"].result_list] == [embedded["never"].pk]
    assert Product.objects.count() == 3




# The bulk re-embed jobs page. Saves record no work here (AUTO_EMBED off), so a job owns what it selects,
# and kick() publishes to the real broker instead of draining inline: each step can be looked at.

START = "admin:visual_search_bulkjob_start"
STATUS = "admin:visual_search_bulkjob_status"


@pytest.fixture
def catalogue(settings, make_product):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "AUTO_EMBED": False}
    return [make_product(name) for name in ("chelsea", "coffee", "rocket")] + [make_product(None)]



@pytest.fixture
def runner(client):
    client.force_login(staff_user("run_bulkjob"))
    return client


def status_of(client, job_id: int) -> dict:
    [data] = [job for job in client.get(reverse(STATUS)).json()["jobs"] if job["id"] == job_id]
    return data


def assert_matches_database(data: dict) -> None:
    job = BulkJob.objects.get(pk=data["id"])
    owed = SyncRequest.objects.filter(job=job).count()
    assert (data["state"], data["total"], data["done"], data["failed"]) == (job.state, job.total, job.done, job.failed)
    assert (data["remaining"], data["processed"]) == (owed, job.total - owed)


def test_staff_with_the_permission_start_pause_resume_and_cancel(runner, catalogue, not_eager):
    response = runner.post(reverse(START), {"mode": "missing"}, follow=True)

    job = BulkJob.objects.get()
    assert response.redirect_chain == [(reverse(JOBS), 302)]
    assert f"Started job #{job.pk}: 4 products to re-embed." in response.content.decode()
    assert job.created_by.username == "staff"
    data = status_of(runner, job.pk)
    assert data["active"] and data["remaining"] == 4
    assert_matches_database(data)
    page = runner.get(reverse(JOBS)).content.decode()
    assert f'<tr data-job="{job.pk}">' in page and "visual_search/admin/jobs.js" in page and "<script>" not in page

    drain_owed(product_pks=[catalogue[0].pk])  # a worker gets through one product...
    data = status_of(runner, job.pk)
    assert (data["processed"], data["remaining"], data["done"]) == (1, 3, 1)
    assert_matches_database(data)

    runner.post(reverse("admin:visual_search_bulkjob_pause", args=[job.pk]))  # ...then the job is paused
    drain_owed()
    data = status_of(runner, job.pk)
    assert (data["state"], data["remaining"]) == ("paused", 3)
    assert_matches_database(data)

    runner.post(reverse("admin:visual_search_bulkjob_resume", args=[job.pk]))
    assert status_of(runner, job.pk)["state"] == "running"
    drain_owed(product_pks=[catalogue[1].pk])
    response = runner.post(reverse("admin:visual_search_bulkjob_cancel", args=[job.pk]), follow=True)

    assert f"Job #{job.pk} is cancelled now." in response.content.decode()
    data = status_of(runner, job.pk)
    assert (data["state"], data["done"], data["remaining"], data["active"]) == ("cancelled", 2, 2, False)
    assert not SyncRequest.objects.exists()
    assert ProductImageEmbedding.objects.filter(status=EmbeddingStatus.READY).count() == 2


def test_a_second_identical_job_does_no_work(runner, catalogue, not_eager):
    runner.post(reverse(START), {"mode": "all"})
    rows_before = list(SyncRequest.objects.order_by("pk").values_list("pk", "requested_at", "job"))

    response = runner.post(reverse(START), {"mode": "all"}, follow=True)

    job = BulkJob.objects.get()
    assert f"Job #{job.pk} (All: every searchable product, unchanged images skipped) is already queued: nothing new " \
           "was started." in response.content.decode()
    assert list(SyncRequest.objects.order_by("pk").values_list("pk", "requested_at", "job")) == rows_before


def test_nothing_to_do_is_said_plainly(runner, catalogue):
    runner.post(reverse(START), {"mode": "missing"})  # eager: the job runs to the end at once

    response = runner.post(reverse(START), {"mode": "missing"}, follow=True)

    assert "Nothing to do: no searchable product needs this re-embed." in response.content.decode()
    assert [job.state for job in BulkJob.objects.order_by("pk")] == ["finished", "finished"]


def test_staff_without_the_permission_see_the_jobs_but_get_403_for_changes(client, catalogue, not_eager):
    job = BulkJob.objects.create(mode="all", encoder="efficientnet-lite0", state="running", total=4)
    client.force_login(staff_user("view_bulkjob"))

    page = client.get(reverse(JOBS))
    assert page.status_code == 200 and "Start job" not in page.content.decode()
    assert client.get(reverse(STATUS)).status_code == 200
    assert client.post(reverse(START), {"mode": "all"}).status_code == 403
    for action in ("pause", "resume", "cancel"):
        assert client.post(reverse(f"admin:visual_search_bulkjob_{action}", args=[job.pk])).status_code == 403
    job.refresh_from_db()
    assert job.state == "running" and BulkJob.objects.count() == 1 and not SyncRequest.objects.exists()


def test_staff_with_no_job_permission_get_403_and_shoppers_the_login(client, catalogue):
    client.force_login(staff_user())
    assert client.get(reverse(JOBS)).status_code == 403
    assert client.post(reverse(START), {"mode": "all"}).status_code == 403

    client.force_login(User.objects.create_user("shopper", password="pw"))
    response = client.post(reverse(START), {"mode": "all"})
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]
    assert not BulkJob.objects.exists()


def test_the_jobs_page_shows_an_encoder_switch_and_switches_on_request(runner, catalogue, settings):
    from visual_search.indexing.encoder_switch import get_search_encoder  # noqa: PLC0415
    from visual_search.indexing.sync import sync_products  # noqa: PLC0415
    from visual_search.models import StoredEncoder  # noqa: PLC0415

    sync_products([p.pk for p in catalogue])  # vectors under the default encoder, which serves searches
    assert get_search_encoder().id == "efficientnet-lite0"
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH,
                              "ENCODER": {"BACKEND": "visual_search.encoders.thumbnail.ThumbnailEncoder"}}

    page = runner.get(reverse(JOBS)).content.decode()

    assert "Searches answer from <strong>efficientnet-lite0</strong> while <strong>thumbnail</strong>" in page
    assert "<strong>0.0%</strong> of\n        3 products covered" in page
    response = runner.post(reverse("admin:visual_search_bulkjob_switch"), follow=True)
    assert "Searches now answer from thumbnail." in response.content.decode()
    assert StoredEncoder.objects.get(serving=True).encoder == "thumbnail"
    assert "Encoder switch" not in response.content.decode()


def test_switching_encoders_needs_the_run_permission(client, catalogue):
    client.force_login(staff_user("view_bulkjob"))
    assert client.post(reverse("admin:visual_search_bulkjob_switch")).status_code == 403
