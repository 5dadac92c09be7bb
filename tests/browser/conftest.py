"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

Chromium comes from apt (``apt-get install chromium``), installed here when it is
missing; Playwright never downloads a browser. The catalogue is a slice of the
committed demo photos, embedded with the encoder the demo serves. Screenshots go to
``$VISUAL_SEARCH_SCREENSHOTS`` when set (``make screenshots`` sets docs/images),
else to a temporary folder.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from shop.catalogue import DEMO_PHOTOS

CHROMIUM = Path("/usr/bin/chromium")
#: Products seeded per category; photos after these in the manifest are never in the catalogue.
SEEDED_PER_CATEGORY = 8


def _install_chromium() -> None:
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if not shutil.which("apt-get") or (sudo and not shutil.which("sudo")):
        pytest.skip("Chromium is missing and cannot be installed here (apt-get install chromium).")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        result = subprocess.run([*sudo, *command], check=False, capture_output=True, text=True, timeout=900)
        if result.returncode:
            pytest.skip(f"Could not install Chromium ({' '.join(command)}): {result.stderr[-500:]}")


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        _install_chromium()
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # between browser steps are ordinary synchronous ones. Set only while the browser runs,
    # so subprocesses started by other tests (check --deploy) never inherit it.
    unset = "DJANGO_ALLOW_ASYNC_UNSAFE" not in os.environ
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        # --no-sandbox: Chromium's sandbox refuses to run as root, as in CI containers.
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield browser
        browser.close()
    if unset:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.js_errors = errors
    return page


@pytest.fixture
def screenshot(tmp_path):
    """Save a screenshot as NAME.png in $VISUAL_SEARCH_SCREENSHOTS (or tmp_path)."""
    folder = Path(os.environ.get("VISUAL_SEARCH_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, **options) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), **options)
        return path

    return take


@pytest.fixture
def server(live_server, settings, tmp_path):
    """The live server, serving media, without the page throttle (tests search many times a minute)."""
    settings.ROOT_URLCONF = "tests.browser.urls"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.VISUAL_SEARCH = {
        **settings.VISUAL_SEARCH,
        "AUTO_EMBED": False,
        "PAGE_THROTTLE_RATES": {"anon": None, "user": None},
    }
    return live_server


def manifest() -> list[dict[str, str]]:
    with (DEMO_PHOTOS / "manifest.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def unseen_photo(category: str, index: int = 0) -> Path:
    """A demo photo of ``category`` that the seeded catalogue does not hold."""
    rows = [row for row in manifest() if row["category"] == category]
    return DEMO_PHOTOS / rows[SEEDED_PER_CATEGORY + index]["file"]


@pytest.fixture
def catalogue(server, settings):
    """The first photos of each class from the demo, embedded with the encoder the demo serves."""
    from shop.catalogue import import_demo_photos
    from tests.settings import DEMO_ENCODER

    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "ENCODER": DEMO_ENCODER}
    from shop.models import Product
    from visual_search.indexing.bulk import reembed_in_process

    import_demo_photos(per_category=SEEDED_PER_CATEGORY)
    result = reembed_in_process(list(Product.objects.values_list("pk", flat=True)))
    assert result.failed == 0
    return Product.objects.all()


def log_in(page, server) -> None:
    """A new superuser, logged in to the admin through its own login page."""
    from django.contrib.auth.models import User  # noqa: PLC0415

    User.objects.create_superuser("boss", "boss@example.com", "pw")
    page.goto(f"{server.url}/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_url(f"{server.url}/admin/")
