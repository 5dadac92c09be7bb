"""Fixtures for the Oscar host: catalogue products with real photos, a staff user, a real worker."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile

from tests.conftest import photo_bytes, running_celery_worker

if os.environ.get("DJANGO_SETTINGS_MODULE") != "tests.contrib.oscar.settings":
    raise pytest.UsageError("Run these tests with --ds tests.contrib.oscar.settings (make test does).")

THUMBNAIL_ENCODER = {"BACKEND": "visual_search.encoders.thumbnail.ThumbnailEncoder"}


def pytest_configure(config):
    # Noise from Oscar's own code paths, not ours: Haystack's simple backend has no index to
    # update, and Oscar 4.2 still calls treebeard's deprecated class-level tree methods.
    config.addinivalue_line("filterwarnings", "ignore:.*is not implemented in this backend:UserWarning")
    config.addinivalue_line("filterwarnings", "ignore::treebeard.deprecation.RemovedInTreebeard8Warning")


@pytest.fixture
def thumbnail_encoder(settings):
    """The tiny deterministic encoder, for tests where the encoder is not the point."""
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "ENCODER": THUMBNAIL_ENCODER}


@pytest.fixture
def category(db):
    from oscar.apps.catalogue.categories import create_from_breadcrumbs  # noqa: PLC0415

    return create_from_breadcrumbs("Clothing > Cats")


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """``with commit(): ...`` runs the block's on-commit hooks (embedding tasks, eager here) at its end.

    As after a real commit, the hooks are then gone: visual_search reuses a hook still queued
    in the transaction, and the test's transaction never commits.
    """
    from django.db import connection  # noqa: PLC0415

    @contextmanager
    def committed():
        start = len(connection.run_on_commit)
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            yield callbacks
        del connection.run_on_commit[start:]

    return committed


@pytest.fixture
def make_product(db, commit):
    """An Oscar product with a stock record and ProductImages from scikit-image's photos."""
    from oscar.core.loading import get_model  # noqa: PLC0415
    from oscar.test.factories import create_product  # noqa: PLC0415

    product_image = get_model("catalogue", "ProductImage")
    product_category = get_model("catalogue", "ProductCategory")
    counter = iter(range(1, 10_000))

    def make(title=None, photos=("chelsea",), *, category=None, price="10.00", num_in_stock=5, **fields):
        with commit():
            return _make(next(counter), title, photos, category, price, num_in_stock, fields)

    def _make(n, title, photos, category, price, num_in_stock, fields):
        stock = {"price": Decimal(price), "num_in_stock": num_in_stock}
        if fields.get("structure") == "parent":
            stock = {}  # a parent has no stock records: its children do
        upc = f"upc-{n}-{uuid.uuid4().hex[:6]}"
        product = create_product(title=title or f"Product {n}", upc=upc, **stock, **fields)
        if category is not None:
            product_category.objects.create(product=product, category=category)
        for order, photo in enumerate(photos):
            data = photo if isinstance(photo, bytes) else photo_bytes(photo)
            image = product_image(product=product, display_order=order)
            image.original.save(f"p{n}-{order}.jpg", ContentFile(data), save=False)
            image.save()
        return product

    return make


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user(
        username="staff", email="staff@example.com", password="pw", is_staff=True, is_superuser=True
    )
    client.force_login(user)
    return client


@pytest.fixture(scope="session")
def oscar_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real ``celery worker`` running the Oscar host's settings and Celery app."""
    from tests.contrib.oscar.celery_app import app  # noqa: PLC0415

    with running_celery_worker(
        "tests.contrib.oscar.settings", "tests.contrib.oscar.celery_app", app, tmp_path_factory.mktemp("worker")
    ) as process:
        yield process


@pytest.fixture
def oscar_worker(oscar_worker_process):
    """Send tasks to the real worker instead of running them eagerly."""
    from celery import current_app  # noqa: PLC0415

    app = current_app._get_current_object()
    app.conf.task_always_eager = False
    yield oscar_worker_process
    app.conf.task_always_eager = True
