from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from shop import catalogue
from shop.models import Product
from tests.shop.factories import make_fashion_mnist, make_photo_folder

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_import_catalogue(tmp_path):
    root = make_photo_folder(tmp_path / "photos", {"dress": 3, "hat": 1})

    output = run("import_catalogue", str(root), "--per-category", "2")

    assert Product.objects.count() == 3
    assert "Imported 3 new products" in output
    assert "Imported 1 new products" in run("import_catalogue", str(root))
    assert Product.objects.count() == 4


def test_import_catalogue_missing_folder(tmp_path):
    with pytest.raises(CommandError, match="not a folder"):
        run("import_catalogue", str(tmp_path / "missing"))


def test_seed_demo_from_folder_skips_a_filled_catalogue(tmp_path):
    root = make_photo_folder(tmp_path / "photos", {"dress": 2, "hat": 2})

    output = run("seed_demo", "--source", str(root), "--per-category", "1")
    assert Product.objects.count() == 2
    assert "Created 2 products" in output
    assert "2 categories" in output

    assert "already has 2 products" in run("seed_demo", "--source", str(root))
    assert Product.objects.count() == 2

    run("seed_demo", "--source", str(root), "--force")
    assert Product.objects.count() == 4


def test_seed_demo_from_fashion_mnist(tmp_path, monkeypatch):
    monkeypatch.setattr(catalogue, "FASHION_MNIST_ROOT", make_fashion_mnist(tmp_path / "fm", [1, 1, 2]))

    output = run("seed_demo", "--per-category", "5")

    assert Product.objects.count() == 3
    assert "Trouser: 2 new, 2 in total" in output


def test_seed_demo_without_fashion_mnist(tmp_path, monkeypatch):
    monkeypatch.setattr(catalogue, "FASHION_MNIST_ROOT", tmp_path / "absent")

    with pytest.raises(CommandError, match="apt-get install dataset-fashion-mnist"):
        run("seed_demo")
