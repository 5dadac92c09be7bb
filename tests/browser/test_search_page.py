"""The search-by-photo page in a real browser: pick, drop or paste a photo and see priced cards."""

from __future__ import annotations

import base64
import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from shop.models import Product
from tests.browser.conftest import unseen_photo
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db(transaction=True)

#: The page's own photo input (the shop's header has a compact search form too).
PHOTO_INPUT = "[data-vs-form] input[name=image]"


def search_url(server) -> str:
    return f"{server.url}/visual-search/"


def result_categories(page) -> list[str]:
    """The category of each product card shown, read from the database by the card's link."""
    hrefs = page.locator(".vs-grid .vs-card__link").evaluate_all("links => links.map(a => a.pathname)")
    pks = [int(href.rstrip("/").rsplit("/", 1)[1]) for href in hrefs]
    names = dict(Product.objects.filter(pk__in=pks).values_list("pk", "category__name"))
    return [names[pk] for pk in pks]


def expect_priced_results(page, category: str) -> None:
    page.locator(".vs-grid .vs-card").first.wait_for()
    cards = page.locator(".vs-grid .vs-card")
    assert cards.count() >= 4
    assert page.locator(".vs-results__heading").inner_text().endswith("similar products")
    prices = cards.locator(".vs-card__price").all_inner_texts()
    assert len(prices) == cards.count() and all(p.startswith("$") for p in prices)
    assert page.locator(".vs-card__stock").count() == cards.count()
    categories = result_categories(page)
    assert categories[0] == category
    assert categories.count(category) >= len(categories) / 2
    # The photo stays shown beside its results, and no raw score is printed.
    assert page.locator("[data-vs-preview-image]").is_visible()
    assert not re.search(r"(?<![\d.$])0\.\d\d", page.locator(".vs-grid").inner_text())


def wait_until_idle(page) -> None:
    page.wait_for_function("() => document.querySelector('[data-vs-results]').ariaBusy === 'false'")


def drop_or_paste(page, path, event: str) -> None:
    """Fire a real drop or paste event carrying the file, as the browser does for a user."""
    data = base64.b64encode(path.read_bytes()).decode()
    page.evaluate(
        """([data, name, event]) => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: "image/jpeg"}));
            if (event === "paste") {
                document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: transfer, bubbles: true}));
            } else {
                const zone = document.querySelector("[data-vs-dropzone]");
                for (const type of ["dragenter", "dragover", "drop"]) {
                    const init = {dataTransfer: transfer, bubbles: true, cancelable: true};
                    zone.dispatchEvent(new DragEvent(type, init));
                }
            }
        }""",
        [data, path.name, event],
    )


def test_file_picker_shows_priced_cards_of_the_right_kind(server, catalogue, page, screenshot):
    page.goto(search_url(server))
    page.set_input_files(PHOTO_INPUT, str(unseen_photo("Pants")))

    expect_priced_results(page, "Pants")
    assert page.url == search_url(server)  # no reload: results came as a fragment
    assert page.locator(PHOTO_INPUT).evaluate("input => input.files.length") == 1
    screenshot(page, "search-results", full_page=True)
    assert page.js_errors == []


@pytest.mark.parametrize("event", ["drop", "paste"])
def test_drop_and_paste(event, server, catalogue, page):
    page.goto(search_url(server))
    drop_or_paste(page, unseen_photo("Shoes"), event)

    expect_priced_results(page, "Shoes")
    assert page.js_errors == []


def test_an_off_catalogue_photo_says_no_close_match(server, catalogue, page, screenshot, tmp_path):
    rocket = tmp_path / "rocket.jpg"
    rocket.write_bytes(photo_bytes("rocket"))
    page.goto(search_url(server))
    page.set_input_files(PHOTO_INPUT, str(rocket))

    page.locator("[data-vs-no-match]").wait_for()
    # A rocket at a clothes shop: its best confidence is low, so the page says the shop lacks it.
    assert page.locator("[data-vs-no-match]").inner_text() == "We don't seem to sell this"
    assert page.locator(".vs-grid--nearest .vs-card").count() > 0  # nearest items, under their own heading
    assert page.get_by_role("heading", name="Nearest items").is_visible()
    screenshot(page, "search-no-match", full_page=True)


def test_errors_are_in_words_where_the_eye_is(server, catalogue, page, tmp_path, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "MAX_IMAGE_BYTES": 100 * 1024}
    page.goto(search_url(server))
    big = tmp_path / "big.png"
    big.write_bytes(photo_bytes("astronaut", fmt="PNG"))  # about 400 KB
    page.set_input_files(PHOTO_INPUT, str(big))
    error = page.locator("[data-vs-errors]")
    assert "at most 0.1 MB" in error.inner_text()
    assert error.is_visible()

    text = tmp_path / "notes.jpg"
    text.write_bytes(b"not a photo at all")
    page.set_input_files(PHOTO_INPUT, str(text))
    page.locator("[data-vs-errors] p").filter(has_text="accepted format").wait_for()


def test_more_like_this_and_filters(server, catalogue, page):
    page.goto(search_url(server))
    page.set_input_files(PHOTO_INPUT, str(unseen_photo("T-shirts")))
    page.locator(".vs-grid .vs-card").first.wait_for()
    first_title = page.locator(".vs-grid .vs-card__title").first.inner_text()

    page.locator(".vs-grid .vs-card__more").first.click()
    page.locator(".vs-results__context").wait_for()
    assert first_title in page.locator(".vs-results__context").inner_text()
    assert "like=" in page.url
    assert page.locator("[data-vs-caption]").inner_text() == first_title

    page.select_option("select[name=category]", "Shoes")
    page.locator(".vs-grid .vs-card").first.wait_for()
    wait_until_idle(page)
    assert set(result_categories(page)) <= {"Shoes"}


def test_without_javascript_the_plain_form_works(server, catalogue, browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(search_url(server))
    page.set_input_files(PHOTO_INPUT, str(unseen_photo("Pants")))
    page.get_by_role("button", name="Find similar products").click()

    expect_priced_results(page, "Pants")
    context.close()


def test_narrow_phone_screen(server, catalogue, browser, screenshot):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.goto(search_url(server))
    assert page.get_by_role("button", name="Take a photo").is_visible()  # opens the camera on phones
    assert page.locator("[data-vs-camera-input]").get_attribute("capture") == "environment"
    page.set_input_files(PHOTO_INPUT, str(unseen_photo("Shorts")))

    expect_priced_results(page, "Shorts")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "search-mobile")
    context.close()


def test_keyboard_only(server, catalogue, page):
    page.goto(search_url(server))
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.matches('{PHOTO_INPUT}')"):
            break
    else:
        pytest.fail("The photo input cannot be reached with Tab")
    chooser = None
    # On two busy cores Chromium has now and then dropped the first Space (no chooser within 30 s):
    # press again while the input still has the focus Tab gave it.
    for _ in range(3):
        assert page.evaluate(f"document.activeElement.matches('{PHOTO_INPUT}')")
        try:
            with page.expect_file_chooser(timeout=10_000) as chooser:
                page.keyboard.press("Space")
            break
        except PlaywrightTimeoutError:
            chooser = None
    assert chooser is not None, "Space on the focused photo input opened no file chooser"
    chooser.value.set_files(str(unseen_photo("Pants")))
    page.locator(".vs-grid .vs-card").first.wait_for()

    # Tab on to the first "More like this" and open it with Enter.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('[data-vs-more]')"):
            break
    else:
        pytest.fail("No result can be reached with Tab")
    page.keyboard.press("Enter")
    page.locator(".vs-results__context").wait_for()


def test_strict_content_security_policy_breaks_nothing(server, catalogue, page):
    policy = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'"
    violations: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))

    def with_policy(route):
        if route.request.resource_type != "document":
            return route.continue_()
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": policy})

    page.route(f"{server.url}/**", with_policy)
    page.goto(search_url(server))
    page.set_input_files(PHOTO_INPUT, str(unseen_photo("Pants")))
    page.locator(".vs-grid .vs-card").first.wait_for()
    page.get_by_role("button", name="Crop").click()
    page.locator(".cropper-container").wait_for()
    page.get_by_role("button", name="Search this area").click()
    wait_until_idle(page)
    page.locator(".vs-grid .vs-card").first.wait_for()

    assert violations == []
    assert page.js_errors == []
