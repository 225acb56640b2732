"""Open a page in a real headless Chromium (the OS package, `make browser`) through Selenium.

Without Chromium and its driver on PATH the calling test is skipped, and fails instead when
`CROSSSELL_REQUIRE_BROWSER=1` (CI installs both, so there the page is always rendered).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REQUIRE_BROWSER = "CROSSSELL_REQUIRE_BROWSER"
IMAGES_JS = (
    "return Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, "
    "width: i.naturalWidth, height: i.naturalHeight}))"
)


@dataclass(frozen=True)
class RenderedPage:
    title: str
    text: str  # what a reader sees (the body's rendered text)
    headings: list[str]  # h2 texts, in order
    images: list[dict[str, Any]]  # alt, complete, width and height as decoded by the browser
    severe_logs: list[str]  # the console's SEVERE entries (failed loads, script errors)


def render(page: Path) -> RenderedPage:
    """Load `page` from disk in headless Chromium and read back what it rendered."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (chromium and driver_path):
        message = "no chromium / chromedriver on PATH: `make browser` installs them from the OS packages"
        if os.environ.get(REQUIRE_BROWSER) == "1":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        browser.get(page.resolve().as_uri())
        return RenderedPage(
            title=browser.title,
            text=browser.find_element(By.TAG_NAME, "body").text,
            headings=[h.text for h in browser.find_elements(By.TAG_NAME, "h2")],
            images=list(browser.execute_script(IMAGES_JS)),
            severe_logs=[e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"],
        )
    finally:
        browser.quit()
