"""What shoppers and admins meet first, in Chromium: hidden controls, a phone screen, names, icons, widths."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, unseen_photo
from tests.browser.test_jobs_page import quiet_queue  # noqa: F401 - a fixture: jobs published to no worker

pytestmark = pytest.mark.django_db(transaction=True)

PHOTO_INPUT = "[data-vs-form] input[name=image]"


def test_controls_that_cannot_work_stay_hidden_and_crop_without_a_photo_is_harmless(server, catalogue, page):
    page.goto(f"{server.url}/visual-search/")
    # A mouse, no photo yet: no camera to open and nothing to crop.
    assert not page.get_by_role("button", name="Take a photo").is_visible()
    assert not page.get_by_role("button", name="Crop").is_visible()

    # Whatever presses it (a stale page, a script), Crop with no photo does nothing and throws nothing.
    page.locator("[data-vs-crop]").dispatch_event("click")
    page.locator("[data-vs-crop]").dispatch_event("click")
    assert page.locator(".cropper-container").count() == 0
    assert page.js_errors == []

    # With a photo, Crop appears.
    page.set_input_files(PHOTO_INPUT, str(unseen_photo("Pants")))
    page.locator(".vs-grid .vs-card").first.wait_for()
    assert page.get_by_role("button", name="Crop").is_visible()


def test_a_390_pixel_phone_sees_its_results_without_scrolling_by_hand(server, catalogue, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.url}/visual-search/")
    assert page.evaluate("window.scrollY") == 0
    page.set_input_files(PHOTO_INPUT, str(unseen_photo("Shorts")))

    first_card = page.locator(".vs-grid .vs-card").first
    first_card.wait_for()
    # The page brought them up: the heading, not hidden by the shop's sticky header, and the whole first card.
    page.wait_for_function("""() => {
        const heading = document.querySelector('.vs-results__heading');
        const box = heading.getBoundingClientRect();
        return heading.contains(document.elementFromPoint(box.left + 5, box.top + box.height / 2));
    }""")
    expect(first_card).to_be_in_viewport(ratio=1)
    assert page.evaluate("window.scrollY") > 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert errors == []
    context.close()


def test_filter_options_show_names_and_send_slugs(server, catalogue, page):
    from shop.models import Category  # noqa: PLC0415

    page.goto(f"{server.url}/visual-search/")
    options = page.locator("select[name=category] option").evaluate_all(
        "options => options.map(o => [o.value, o.textContent.trim()])"
    )
    expected = [["", "Any"]] + [[c.slug, c.name] for c in Category.objects.filter(products__isnull=False)
                                .distinct().order_by("name")]
    assert options == expected
    assert ["long-sleeves", "Long sleeves"] in options  # a name is not a capitalised slug


def test_no_page_asks_for_something_missing(server, catalogue, page):
    """Every request of the shop, the search page, the admin login and the API docs answers (favicon too)."""
    failed: list[str] = []
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
    for path in ("/", "/visual-search/", "/admin/login/", "/api/v1/docs/", "/favicon.ico"):
        page.goto(f"{server.url}{path}")
        page.wait_for_load_state("networkidle")
    assert failed == []
    icon = page.goto(f"{server.url}/favicon.ico")
    assert icon.ok and "svg" in icon.headers["content-type"]




@pytest.mark.parametrize("path", [
    "/admin/shop/product/",
    "/admin/visual_search/productimageembedding/",
    "/admin/visual_search/bulkjob/",
])
def test_admin_tables_fit_a_1280_pixel_screen(path, server, catalogue, quiet_queue, page):  # noqa: F811
    from visual_search.indexing import jobs  # noqa: PLC0415

    if "bulkjob" in path:
        jobs.start_job("force")  # a running job's row, the widest the page draws
    log_in(page, server)
    violations: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))

    def with_policy(route):  # the admin under a strict CSP: no inline style attributes
        if route.request.resource_type != "document":
            return route.continue_()
        response = route.fetch()
        policy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'"
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": policy})

    page.route(f"{server.url}/**", with_policy)
    page.goto(f"{server.url}{path}")
    page.locator("table").first.wait_for()
    widths = page.evaluate("""() => ({
        page: document.documentElement.scrollWidth,
        tables: [...document.querySelectorAll('table')].map(t => t.getBoundingClientRect().right),
    })""")
    assert widths["page"] <= 1280, widths
    assert max(widths["tables"]) <= 1280, widths
    if path == "/admin/shop/product/":
        # Styled from stylesheets, not style attributes: the thumbnails and the status badges.
        assert page.locator("img.shop-thumb").first.evaluate("e => getComputedStyle(e).objectFit") == "cover"
        badge = page.locator(".vs-status-ready").first
        assert badge.evaluate("e => getComputedStyle(e).color") == "rgb(46, 157, 74)"
    assert violations == []
    assert page.js_errors == []
