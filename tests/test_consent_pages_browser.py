"""The checkout pages of 03-consent-forms as a browser shows them: Debian's Chromium driven
by Playwright (see tests/test_browser.py for the set-up and when it is skipped).

The grader judges the design each page was rendered from; this proves that a real browser
reads the markup the same way (whatever its spelling: a box ticked or required, the
information list shown or not, the way back), so a learner's parse of the HTML is judged
against what a buyer would see.
"""

from __future__ import annotations

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, _require_chromium

from grading.exercises import m03_consent_forms as forms_ex

pytestmark = pytest.mark.browser
SHARING = '[data-purpose~="antipiracy_sharing"]'
SHOP = "https://leesgraag.example/checkout"


@pytest.fixture(scope="module")
def page():
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.route("**/*", lambda route: route.abort())  # nothing leaves the machine
        yield context.new_page()
        browser.close()


def show(page, html: str) -> None:
    """Open the page as if served by the shop at its checkout address (links resolve
    against the shop's site; the request never leaves the browser)."""
    page.route(SHOP, lambda route: route.fulfill(body=html, content_type="text/html"))
    page.goto(SHOP)
    page.unroute(SHOP)


@pytest.mark.parametrize("seed", [20130927, 1734029117])
def test_a_browser_sees_each_page_as_its_design_says(page, seed: int) -> None:
    for form in forms_ex.make_forms(seed):
        show(page, form["html"])
        design, label = form["sharing"], form["label"]
        boxes = page.locator(SHARING)
        if design is None:
            assert boxes.count() == 0, label
            terms = page.locator("#terms").inner_text()
            assert ("Stichting Kopieerwacht" in terms) == (form["terms"] == "clause"), label
            continue
        assert boxes.count() == 1, label
        box = boxes.first
        tick = box.locator('input[type="checkbox"]')
        assert tick.count() == 1, label
        assert tick.is_checked() == bool(design["checked"]), label
        assert tick.evaluate("e => e.required") == bool(design["required"]), label
        assert sorted(box.get_attribute("data-purpose").split()) == sorted(design["purposes"])
        info = box.locator("dl")
        assert info.is_visible() == (design["info"] == "shown"), label
        if design["info"] != "shown":
            continue
        shown = {dt.inner_text().strip(): dt.evaluate(
            "e => e.nextElementSibling ? e.nextElementSibling.innerText.trim() : ''")
            for dt in info.locator("dt").all()}
        told = {title for title, text in shown.items() if text}
        rows = forms_ex.texts()["rows"]
        missing = {rows[r] for r in design["missing"] + design["empty"]}
        assert told == set(rows.values()) - missing, label
        if rows["recipient"] in told:
            named = "Stichting Kopieerwacht" in shown[rows["recipient"]]
            assert named == (not design["vague_recipient"]), label
        if rows["withdrawal"] in told:
            links = info.locator("dd a").evaluate_all("els => els.map(e => e.href)")
            easy = any(link.split("#")[0] == "https://leesgraag.example/my-data"
                       for link in links)
            assert easy == forms_ex.texts()["routes"][design["route"]]["easy"], (label, links)
        ticked_newsletter = page.locator('[data-purpose="newsletter"] input[type="checkbox"]')
        if form["newsletter"]:
            assert ticked_newsletter.is_checked() == (form["newsletter"] == "ticked"), label
