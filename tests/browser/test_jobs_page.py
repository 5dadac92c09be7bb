"""The admin's bulk re-embed jobs page in Chromium: live numbers from the database, pause, resume, cancel.

The job's messages go to a queue nobody consumes, so the only worker is this
test, which drains products with ``tasks.drain_owed`` (a worker's own code)
while the page is open. The products have no images: draining them is quick and
loads no model.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from shop.models import Category, Product
from tests.browser.conftest import log_in
from visual_search.indexing import jobs
from visual_search.indexing.tasks import drain_owed
from visual_search.models import SyncRequest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def quiet_queue(server, settings):
    """kick() publishes for real, to a queue of this test's that no worker reads; emptied afterwards."""
    from config.celery import app  # noqa: PLC0415

    queue = f"vs-browser-jobs-{uuid.uuid4().hex[:8]}"
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "TASK_QUEUE": queue}
    app.conf.task_always_eager = False
    yield queue
    app.conf.task_always_eager = True
    with app.connection_for_write() as connection:
        connection.SimpleQueue(queue).clear()




def test_the_page_follows_a_job_live_and_controls_it(server, quiet_queue, page, screenshot):
    category = Category.objects.create(name="Hats", slug="hats")
    products = [Product.objects.create(name=f"Hat {i}", slug=f"hat-{i}", category=category, price=Decimal("9"))
                for i in range(3)]
    job, _ = jobs.start_job("all")
    log_in(page, server)
    page.goto(f"{server.url}/admin/visual_search/bulkjob/")
    row = page.locator(f'tr[data-job="{job.pk}"]')
    assert row.locator('[data-field="remaining"]').inner_text() == "3"

    drain_owed(product_pks=[products[0].pk])  # a worker gets through one product

    # The page polls the JSON every 2 s and updates the row in place, from the database.
    row.locator('[data-field="remaining"]').filter(has_text="2").wait_for()
    assert row.locator('[data-field="done"]').inner_text() == "1"
    assert row.locator("td.vs-progress").inner_text().strip() == "1 / 3 (33.3%)"
    assert row.locator('[data-field="state"]').inner_text() == "running"
    assert "Updated" in page.locator("#vs-updated").inner_text()
    screenshot(page, "admin-jobs", full_page=True)

    row.locator("input[value=Pause]").click()
    page.get_by_text(f"Job #{job.pk} is paused now.").wait_for()
    assert row.locator('[data-field="state"]').inner_text() == "paused"
    assert row.locator("input[value=Resume]").is_visible() and not row.locator("input[value=Pause]").is_visible()

    row.locator("input[value=Resume]").click()
    page.get_by_text(f"Job #{job.pk} is running now.").wait_for()
    drain_owed()  # the rest: the job finishes while the page watches

    # A job that ends elsewhere leaves the running list: the page loads itself again.
    page.locator(f'tr[data-finished-job="{job.pk}"]').wait_for()
    assert page.get_by_text("No job is running.").is_visible()
    assert not SyncRequest.objects.exists()
    assert page.js_errors == []


def test_cancel_from_the_page(server, quiet_queue, page):
    category = Category.objects.create(name="Hats", slug="hats")
    for i in range(2):
        Product.objects.create(name=f"Hat {i}", slug=f"hat-{i}", category=category, price=Decimal("9"))
    log_in(page, server)
    page.goto(f"{server.url}/admin/visual_search/bulkjob/")
    page.select_option("#vs-mode", "force")
    page.click("input[value='Start job']")
    page.get_by_text("products to re-embed.").wait_for()
    job = jobs.BulkJob.objects.get()

    page.locator(f'tr[data-job="{job.pk}"] input[value=Cancel]').click()

    page.get_by_text(f"Job #{job.pk} is cancelled now.").wait_for()
    finished = page.locator(f'tr[data-finished-job="{job.pk}"]')
    assert "cancelled" in finished.inner_text() and "Cancelled with 2 products not re-embedded." in finished.inner_text()
    assert not SyncRequest.objects.exists()
    assert page.js_errors == []


def test_the_progress_bar_is_drawn_without_style_attributes(server, page):
    from visual_search.models import ProductImageEmbedding  # noqa: PLC0415

    category = Category.objects.create(name="Hats", slug="hats")
    ready, _ = (Product.objects.create(name=f"Hat {i}", slug=f"hat-{i}", category=category, price=Decimal("9"))
                for i in range(2))
    # One of the two products ready (written by hand: this test is about drawing, not embedding).
    ProductImageEmbedding.objects.create(product=ready, image_key="main", encoder="efficientnet-lite0",
                                         encoder_version="1", status="ready", embedding=[1.0] + [0.0] * 1279)
    log_in(page, server)
    page.goto(f"{server.url}/admin/visual_search/productimageembedding/progress/")

    bar = page.locator(".vs-bar").bounding_box()
    segment = page.locator(".vs-bar .vs-ready")
    page.wait_for_function("document.querySelector('.vs-bar .vs-ready').style.width === '50%'")
    assert abs(segment.bounding_box()["width"] - bar["width"] / 2) < 3
    assert page.js_errors == []
