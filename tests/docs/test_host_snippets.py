"""Fresh host projects built from the docs' own code blocks, migrated and browsed.

The blocks are read from README.md and docs/oscar.md at test time: a block whose fence follows
``<!-- host: PATH -->`` is appended to PATH in a project made by ``django-admin startproject``
(``<!-- host: PATH (whole file) -->`` replaces the file). Only what a real host would have anyway
is added here: its own product app for the minimal host, and, after the docs' settings, this
machine's test database and broker, eager tasks and the tiny test encoder (the encoder is not
what the docs are tested for). Each host runs in a subprocess on a database of its own on the
test PostgreSQL server; a wrong snippet makes migrate, check or a page fail.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"<!-- host: (?P<path>\S+)(?P<whole> \(whole file\))? -->\n```[a-z]*\n(?P<code>.*?)\n```", re.S)


def host_blocks(document: Path) -> list[tuple[str, bool, str]]:
    """The marked code blocks of ``document``: (path, replaces the whole file, code)."""
    blocks = [(m["path"], bool(m["whole"]), m["code"]) for m in MARKER.finditer(document.read_text())]
    assert blocks, f"{document.name} has no <!-- host: ... --> blocks"
    return blocks


def write_blocks(host: Path, blocks: list[tuple[str, bool, str]]) -> None:
    for path, whole, code in blocks:
        target = host / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if whole or not target.exists():
            target.write_text(code + "\n")
        else:
            with target.open("a") as f:
                f.write("\n" + code + "\n")


def start_project(host: Path, name: str) -> None:
    host.mkdir()
    run([sys.executable, "-m", "django", "startproject", name, str(host)], host, settings_module=None)


def machine_settings(database: str, media: Path) -> str:
    """Appended after the docs' settings: where this machine's services are, nothing the docs say."""
    db = {key: settings.DATABASES["default"].get(key) for key in ("ENGINE", "USER", "PASSWORD", "HOST", "PORT")}
    db["NAME"] = database
    return textwrap.dedent(f"""
        # --- the test machine, not the docs ---
        DATABASES = {{"default": {db!r}}}
        CELERY_BROKER_URL = {settings.CELERY_BROKER_URL!r}
        CELERY_TASK_ALWAYS_EAGER = True
        CELERY_TASK_EAGER_PROPAGATES = True
        VISUAL_SEARCH = {{**VISUAL_SEARCH,
                         "ENCODER": {{"BACKEND": "visual_search.encoders.thumbnail.ThumbnailEncoder"}}}}
        MEDIA_ROOT = {str(media)!r}
        MEDIA_URL = "/media/"
        ALLOWED_HOSTS = ["testserver"]
        PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    """)


def run(args: list[str], host: Path, *, settings_module: str | None, timeout: int = 600) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join([str(host), str(ROOT)])
    if settings_module:
        env["DJANGO_SETTINGS_MODULE"] = settings_module
    done = subprocess.run(args, cwd=host, env=env, capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(args[1:])} failed:\n{output[-6000:]}"
    return output


@pytest.fixture
def database():
    """A database of its own on the test server, dropped afterwards."""
    name = f"vs_docs_{uuid.uuid4().hex[:10]}"
    params = settings.DATABASES["default"]
    connect = dict(host=params.get("HOST") or None, port=params.get("PORT") or None,
                   user=params.get("USER") or None, password=params.get("PASSWORD") or None,
                   dbname="postgres", autocommit=True)
    with psycopg.connect(**connect) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(**connect) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def browse(host: Path, settings_module: str, script: str) -> dict:
    """Run ``script`` (Django set up, the test client at hand) in the host; it prints ``PAGES {json}``."""
    (host / "browse.py").write_text(BROWSE_PRELUDE + textwrap.dedent(script))
    output = run([sys.executable, "browse.py"], host, settings_module=settings_module)
    lines = [line for line in output.splitlines() if line.startswith("PAGES ")]
    assert lines, output[-6000:]
    return json.loads(lines[-1].removeprefix("PAGES "))


BROWSE_PRELUDE = """\
import io, json
import django
django.setup()
from django.test import Client
from PIL import Image


def photo(colour, name):
    buffer = io.BytesIO()
    Image.new("RGB", (96, 96), colour).save(buffer, "JPEG")
    buffer.name = name
    buffer.seek(0)
    return buffer

"""

# The minimal host's own product app: what a shop has before it adds visual_search.
CATALOGUE_APP = {
    "catalogue/__init__.py": "",
    "catalogue/models.py": '''
        from django.db import models
        from django.urls import reverse


        class Product(models.Model):
            title = models.CharField(max_length=100)
            image = models.ImageField(upload_to="products")

            def __str__(self):
                return self.title

            def get_absolute_url(self):
                return reverse("product", args=[self.pk])
    ''',
    "catalogue/views.py": '''
        from django.shortcuts import get_object_or_404, render

        from catalogue.models import Product


        def product(request, pk):
            return render(request, "catalogue/product_detail.html", {"product": get_object_or_404(Product, pk=pk)})
    ''',
    "catalogue/templates/catalogue/product_detail.html": "<h1>{{ product.title }}</h1>",
}
MINIMAL_HOST_SETTINGS = '\nINSTALLED_APPS.append("catalogue")\n'
MINIMAL_HOST_URLS = '\nfrom catalogue.views import product\nurlpatterns.append(path("products/<int:pk>/", product, name="product"))\n'


def test_readme_snippets_make_a_working_host(tmp_path, database):
    host = tmp_path / "host"
    start_project(host, "yourproject")
    for path, code in CATALOGUE_APP.items():
        (host / path).parent.mkdir(parents=True, exist_ok=True)
        (host / path).write_text(textwrap.dedent(code).lstrip())
    with (host / "yourproject/settings.py").open("a") as f:
        f.write(MINIMAL_HOST_SETTINGS)
    with (host / "yourproject/urls.py").open("a") as f:
        f.write(MINIMAL_HOST_URLS)

    write_blocks(host, host_blocks(ROOT / "README.md"))
    with (host / "yourproject/settings.py").open("a") as f:
        f.write(machine_settings(database, tmp_path / "media"))

    manage = [sys.executable, "manage.py"]
    run([*manage, "makemigrations", "catalogue"], host, settings_module="yourproject.settings")
    run([*manage, "migrate", "--no-input"], host, settings_module="yourproject.settings")
    # The README's snippets leave nothing for visual_search's checks to warn about.
    run([*manage, "check", "--fail-level", "WARNING"], host, settings_module="yourproject.settings")

    pages = browse(host, "yourproject.settings", '''
        from django.core.files.uploadedfile import SimpleUploadedFile
        from rest_framework_api_key.models import APIKey
        from catalogue.models import Product

        products = []
        for title, colour in [("Red shirt", (200, 30, 30)), ("Dark red shirt", (160, 20, 20))]:
            p = Product(title=title)
            p.image.save(f"{title}.jpg", SimpleUploadedFile("x.jpg", photo(colour, "x.jpg").read()))
            products.append(p)
        from visual_search.models import ProductImageEmbedding
        client = Client()
        detail = client.get(products[0].get_absolute_url())
        search = client.post("/visual-search/", {"image": photo((190, 25, 25), "query.jpg")})
        _, key = APIKey.objects.create_key(name="docs")
        api = client.get(f"/api/v1/products/{products[0].pk}/similar/", HTTP_AUTHORIZATION=f"Api-Key {key}")
        print("PAGES", json.dumps({
            "embedded": ProductImageEmbedding.objects.filter(embedding__isnull=False).count(),
            "product": [detail.status_code, "vs-carousel" in detail.text, "Dark red shirt" in detail.text,
                        'action="/visual-search/"' in detail.text],
            "search": [search.status_code, "Red shirt" in search.text],
            "api": [api.status_code, [r["title"] for r in api.json().get("results", [])]],
            "schema": client.get("/api/v1/schema/").status_code,
        }))
    ''')
    assert pages["embedded"] == 2, "saving the products did not embed them"
    assert pages["product"] == [200, True, True, True], "the product page lacks the carousel or the form"
    assert pages["search"] == [200, True]
    assert pages["api"] == [200, ["Dark red shirt"]]
    assert pages["schema"] == 200


def test_oscar_guide_makes_a_working_shop(tmp_path, database):
    host = tmp_path / "host"
    start_project(host, "yourshop")
    write_blocks(host, host_blocks(ROOT / "docs" / "oscar.md"))
    with (host / "yourshop/settings.py").open("a") as f:
        f.write(machine_settings(database, tmp_path / "media"))

    manage = [sys.executable, "manage.py"]
    run([*manage, "migrate", "--no-input"], host, settings_module="yourshop.settings")
    checked = run([*manage, "check"], host, settings_module="yourshop.settings")
    assert "visual_search." not in checked, checked

    pages = browse(host, "yourshop.settings", '''
        from django.contrib.auth import get_user_model
        from django.core.files.base import ContentFile
        from oscar.core.loading import get_model
        from oscar.test.factories import create_product
        from visual_search.models import ProductImageEmbedding

        ProductImage = get_model("catalogue", "ProductImage")
        products = []
        for n, (title, colour) in enumerate([("Red shirt", (200, 30, 30)), ("Dark red shirt", (160, 20, 20))]):
            product = create_product(title=title, upc=f"upc-{n}", price="10.00", num_in_stock=5)
            image = ProductImage(product=product, display_order=0)
            image.original.save(f"p{n}.jpg", ContentFile(photo(colour, "p.jpg").read()), save=False)
            image.save()
            products.append(product)
        admin = get_user_model().objects.create_user(
            username="admin", email="admin@example.com", password="pw", is_staff=True, is_superuser=True)
        client = Client()
        catalogue = client.get("/catalogue/")
        detail = client.get(products[0].get_absolute_url())
        search = client.post("/visual-search/", {"image": photo((190, 25, 25), "query.jpg")})
        client.force_login(admin)
        dashboard = client.get("/dashboard/")
        print("PAGES", json.dumps({
            "embedded": ProductImageEmbedding.objects.filter(embedding__isnull=False).count(),
            # Haystack's simple backend lists no products when browsing: Oscar's page, not ours.
            "catalogue": [catalogue.status_code, "All products" in catalogue.text],
            "product": [detail.status_code, "vs-carousel" in detail.text, "Dark red shirt" in detail.text],
            "search": [search.status_code, "Red shirt" in search.text, "oscar" in search.text.lower()],
            "dashboard": dashboard.status_code,
        }))
    ''')
    assert pages["embedded"] == 2, "saving the products did not embed them"
    assert pages["catalogue"] == [200, True]
    assert pages["product"] == [200, True, True], "the product page lacks the carousel"
    assert pages["search"] == [200, True, True]
    assert pages["dashboard"] == 200
