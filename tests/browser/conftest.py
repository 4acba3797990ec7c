"""Playwright (sync API) driving Debian's Chromium against pytest-django's live server.

Never downloads a browser: ``/usr/bin/chromium`` comes from apt (``.ci/run`` installs it when
missing) and is started with ``executable_path``. Without it the browser tests skip locally and
fail in CI (``CI=true``), so CI can never pass by silently skipping them. axe-core comes from the
npm registry (``package.json``; ``npm ci`` in ``.ci/run``) and is injected into the page.

Each test gets a fresh browser context with a phone-sized viewport (360 x 740), records every
request and console message, and fails if a page asked for anything outside the live server or
broke the Content-Security-Policy. Screenshots go to ``test-artifacts/browser/<test>-<step>.png``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 360, "height": 740}


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI: a missing browser must never turn CI green by skipping."""
    if _in_ci():
        pytest.fail(f"{reason} (CI=true: browser tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def _playwright():
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is missing: pip install -e '.[dev]'")
    # Playwright's sync API keeps an asyncio loop running in this thread, so Django would refuse
    # the test's own ORM calls (making patients, checking what was saved) as "async unsafe".
    # They are plain blocking calls between browser steps; allow them only while the browser
    # tests of this module run, then restore Django's check for the rest of the worker.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            yield playwright
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def browser(_playwright):
    browser = _playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@dataclass
class Tab:
    """A page plus what it did: requests made and console messages, checked when the test ends."""

    page: object
    base_url: str
    test_name: str
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    failed_assets: list[str] = field(default_factory=list)
    shots: list[Path] = field(default_factory=list)  # shared by the tabs of one test

    def shot(self, step: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.test_name}-{len(self.shots) + 1:02d}-{step}.png"
        self.shots.append(path)
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith((self.base_url, "data:", "about:", "blob:"))]

    def csp_violations(self) -> list[str]:
        return [m for m in self.console if "Content Security Policy" in m or "Refused to" in m]


@pytest.fixture
def open_tab(browser, live_server, request) -> Iterator:
    """``open_tab(bypass_csp=False)`` -> a Tab in a new phone-sized context (its own cookies)."""
    contexts = []
    tabs: list[Tab] = []
    shots: list[Path] = []
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name).strip("-")

    def make(*, bypass_csp: bool = False, context=None) -> Tab:
        if context is None:
            context = browser.new_context(viewport=PHONE, locale="en-US", bypass_csp=bypass_csp)
            contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        tab = Tab(page=page, base_url=live_server.url, test_name=name, shots=shots)
        page.on("request", lambda r: tab.requests.append(r.url))
        page.on(
            "response",
            lambda r: r.status >= 400 and r.request.resource_type != "document" and tab.failed_assets.append(r.url),
        )
        page.on("console", lambda m: tab.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: tab.console.append(f"pageerror: {e}"))
        tabs.append(tab)
        return tab

    yield make
    for context in contexts:
        context.close()
    for tab in tabs:
        assert not tab.foreign_requests(), f"requests outside the site: {tab.foreign_requests()}"
        assert not tab.csp_violations(), f"CSP violations: {tab.csp_violations()}"
        assert not tab.failed_assets, f"assets that failed to load: {tab.failed_assets}"
        # A 404/410 page is itself logged as a failed load; the assets are checked above.
        errors = [m for m in tab.console if m.startswith(("pageerror", "error")) and "Failed to load resource" not in m]
        assert not errors, f"console errors: {errors}"


@pytest.fixture
def axe_check():
    """``axe_check(page)`` -> serious and critical axe-core violations on the page (WCAG 2.1 A/AA)."""
    if not AXE.exists():
        unavailable(f"{AXE.relative_to(ROOT)} is missing: run `npm ci --no-audit --no-fund`")

    def check(page) -> list[dict]:
        page.add_script_tag(path=str(AXE))
        result = page.evaluate(
            """async () => await axe.run(document, {
                runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
                resultTypes: ["violations"],
            })"""
        )
        return [
            {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]]}
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]

    return check
