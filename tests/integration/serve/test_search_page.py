"""The search page in a real browser (Debian's chromium driven by Playwright): a search by
URL and one by typing, k result images that loaded, each with its gallery id, the same ids
`POST /search` answers. Screenshots are kept in test-artifacts/browser/."""

from __future__ import annotations

import httpx
import pytest
from helpers.browser import ARTIFACTS

pytestmark = [pytest.mark.integration, pytest.mark.browser]

K = 3


def _results(page) -> list[str]:
    """The result images' ids, once all K have loaded (naturalWidth > 0)."""
    page.wait_for_function(
        f"""() => {{
            const imgs = [...document.querySelectorAll('#results img')];
            return imgs.length === {K} && imgs.every(i => i.complete && i.naturalWidth > 0);
        }}""", timeout=60_000)
    return page.eval_on_selector_all("#results img", "els => els.map(e => e.dataset.imageId)")


def _api(url: str, image_id: str, text: str) -> list[str]:
    r = httpx.post(url + "/search", json={"image_id": image_id, "text": text, "k": K},
                   timeout=60)
    assert r.status_code == 200, r.text
    return [h["image_id"] for h in r.json()["results"]]


def test_a_search_by_url_and_one_by_typing_show_the_api_results(served, browser):
    url, split = served["url"], served["split"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    q = split.queries[0]
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(f"{url}/ui?" + httpx.QueryParams({"image_id": q.reference, "text": q.caption,
                                                "k": K}).__str__())
    by_url = _results(page)
    page.screenshot(path=str(ARTIFACTS / "search-by-url.png"), full_page=True)
    assert by_url == _api(url, q.reference, q.caption)

    # typing: pick another reference in the gallery grid, type the change, press Search
    other = next(x for x in split.queries if x.reference != q.reference)
    page.goto(f"{url}/ui")
    page.wait_for_selector(f'#gallery img[data-image-id="{other.reference}"]')
    page.click(f'#gallery img[data-image-id="{other.reference}"]')
    page.fill("#text", other.caption)
    page.fill("#k", str(K))
    page.click("#go")
    by_typing = _results(page)
    page.screenshot(path=str(ARTIFACTS / "search-by-typing.png"), full_page=True)
    assert by_typing == _api(url, other.reference, other.caption)
    assert "image_id=" in page.url  # the search is now a link
    gallery_loaded = page.eval_on_selector_all(
        "#gallery img", "els => els.filter(e => e.complete && e.naturalWidth > 0).length")
    assert gallery_loaded == min(len(split.gallery_names), 24)
    assert errors == []
