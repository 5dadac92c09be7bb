"""A product created in Oscar's dashboard, with a photo upload, is embedded by a real Celery worker.

Runs last in this folder: its transactional test empties the tables afterwards.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.conftest import photo_bytes, wait_for
from tests.contrib.oscar.forms import form_fields
from visual_search.models import ProductImageEmbedding

pytestmark = pytest.mark.worker


@pytest.mark.django_db(transaction=True)
def test_dashboard_product_is_embedded_by_a_real_worker(staff_client, oscar_worker):
    from oscar.apps.catalogue.categories import create_from_breadcrumbs
    from oscar.core.loading import get_model

    product_class = get_model("catalogue", "ProductClass").objects.create(name="Prints", track_stock=True)
    partner = get_model("partner", "Partner").objects.create(name="Cat prints ltd")
    category = create_from_breadcrumbs("Prints")
    url = reverse("dashboard:catalogue-product-create", kwargs={"product_class_slug": product_class.slug})

    # Post what Oscar's dashboard form offers, filled in as a shop manager would.
    fields = form_fields(staff_client.get(url).content.decode(), "create_update_product_form")
    fields.update({
        "title": "Tabby cat print",
        "upc": "TABBY-1",
        "productcategory_set-0-category": str(category.pk),
        "stockrecords-0-partner": str(partner.pk),
        "stockrecords-0-partner_sku": "TABBY-1",
        "stockrecords-0-price": "12.00",
        "stockrecords-0-num_in_stock": "4",
        "images-0-original": SimpleUploadedFile("tabby.jpg", photo_bytes("chelsea"), "image/jpeg"),
    })
    response = staff_client.post(url, fields)
    assert response.status_code == 302, _form_errors(response)

    product = get_model("catalogue", "Product").objects.get(upc="TABBY-1")
    image = product.images.get()
    row = wait_for(
        lambda: ProductImageEmbedding.objects.filter(product=product, status="ready").first(),
        timeout=180, message=f"the worker to embed the dashboard's product (log: {oscar_worker.log_path})",
    )
    assert row.image_key == f"image:{image.pk}"
    assert row.encoder.startswith("efficientnet-lite0") and len(row.embedding) == 1280  # the real encoder
    assert "embed_products" in oscar_worker.log_path.read_text()

    # Shoppers now find it by photo, on the search page inside Oscar's layout.
    upload = SimpleUploadedFile("query.jpg", photo_bytes("chelsea", size=300), content_type="image/jpeg")
    html = staff_client.post("/visual-search/", {"image": upload}).content.decode()
    assert "Tabby cat print" in html and product.get_absolute_url() in html


def _form_errors(response) -> dict:
    context = response.context
    errors = {"form": context["form"].errors}
    for name in ("category_formset", "image_formset", "recommended_formset", "stockrecord_formset"):
        formset = context.get(name)
        if formset is not None:
            errors[name] = [formset.non_form_errors(), *formset.errors]
    return errors
