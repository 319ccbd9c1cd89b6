"""The site as an installable app, in real Chromium:

- the manifest the page links to, fetched by the page and validated (name, start_url, scope,
  display standalone, theme colour, icons decoded by the browser at their stated sizes, a
  maskable one), in the page's language;
- the service worker serves the offline page for a navigation when the site cannot be
  reached (the site's server is stopped);
- on an iPhone or iPad in a Safari tab, "Ring me when this site is closed" says that Web Push
  needs the Home Screen and how to add it, instead of failing;
- Lighthouse 11.7.1's installability audits (scripts/lighthouse.sh, about 20 s) pass.
"""

import json
import os
import shutil
import subprocess

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CHROMIUM, TIMEOUT_MS
from tests.conftest import PASSWORD
from tests.processes import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

IPHONE_IOS_17 = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
IPAD_IOS_15 = (
    "Mozilla/5.0 (iPad; CPU OS 15_7 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/15.6 Mobile/15E148 Safari/604.1"
)

READ_MANIFEST = """async () => {
  const link = document.querySelector('link[rel="manifest"]');
  const response = await fetch(link.href);
  const manifest = await response.json();
  const icons = [];
  for (const icon of manifest.icons) {
    const blob = await (await fetch(new URL(icon.src, link.href))).blob();
    const bitmap = await createImageBitmap(blob);
    icons.push({ ...icon, type_served: blob.type, width: bitmap.width, height: bitmap.height });
  }
  return { contentType: response.headers.get("content-type"), manifest, icons,
           themeMeta: document.querySelector('meta[name="theme-color"]').content };
}"""


def test_the_manifest_makes_the_site_installable(login, alice):
    page = login("alice")
    got = page.evaluate(READ_MANIFEST)
    assert got["contentType"].startswith("application/manifest+json")
    manifest = got["manifest"]
    assert manifest["name"] == "Callsite: calls in the browser"
    assert manifest["short_name"] == "Callsite" and len(manifest["short_name"]) <= 12
    assert manifest["start_url"] == "/" and manifest["scope"] == "/" and manifest["id"] == "/"
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"] == got["themeMeta"] == "#3b5bdb"
    assert manifest["background_color"].startswith("#")
    sizes = {(icon["sizes"], icon["purpose"]) for icon in got["icons"]}
    assert sizes == {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")}
    for icon in got["icons"]:
        assert icon["type"] == icon["type_served"] == "image/png"
        assert f"{icon['width']}x{icon['height']}" == icon["sizes"], icon
    # the service worker that makes it an app: active, controlling the page, with a fetch handler
    assert page.evaluate(
        "navigator.serviceWorker.ready.then((r) => Boolean(r.active) && r.active.scriptURL.endsWith('/sw.js'))"
    )

    # in Chinese, the app is named in Chinese
    page.click(".settings summary")
    page.select_option("#language-choice", "zh-hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    manifest = page.evaluate(READ_MANIFEST)["manifest"]
    assert manifest["name"] == "Callsite：在浏览器里通话" and manifest["lang"] == "zh-hans"


def test_a_page_opened_without_the_site_shows_the_offline_page(login, site, alice):
    page = login("alice")
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    # the worker kept the offline page at its install
    page.wait_for_function("caches.open('callsite-sw').then((c) => c.match('/offline/')).then(Boolean)")
    site.stop_daphne()
    page.goto("/calls/")
    expect(page.locator("h1")).to_have_text("No connection")
    expect(page.locator("main a")).to_have_attribute("href", "/")
    assert page.url.endswith("/calls/")  # the address stays; reloading brings the page back
    site.start_daphne()
    page.reload()
    expect(page.locator("h1")).to_have_text("My calls")


def sign_in_on(browser, site, user_agent: str, **device):
    context = browser.new_context(user_agent=user_agent, base_url=site.base, **device)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/login/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#conn-state[data-state=connected]")
    page.click(".settings summary")
    return context, page


def test_on_an_iphone_the_push_setting_shows_the_home_screen_way(browser, site, bob):
    context, page = sign_in_on(
        browser, site, IPHONE_IOS_17, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    try:
        note = page.locator("#push-homescreen")
        expect(note).to_be_visible()
        expect(note).to_contain_text("only once it is on the Home Screen (iOS 16.4 or later)")
        expect(note).to_contain_text("tap Share")
        expect(note).to_contain_text("“Add to Home Screen”")
        expect(note.get_by_role("img", name="Share")).to_be_visible()
        expect(page.locator("#push-ring")).to_be_disabled()
        expect(page.locator("#push-ring")).not_to_be_checked()
        expect(page.locator("#push-state")).to_have_text("")  # no failure shown
    finally:
        context.close()


def test_an_ios_too_old_for_push_says_so(browser, site, bob):
    context, page = sign_in_on(browser, site, IPAD_IOS_15, has_touch=True)
    try:
        expect(page.locator("#push-homescreen")).to_contain_text("older than 16.4")
        expect(page.locator("#push-ring")).to_be_disabled()
    finally:
        context.close()


def test_a_desktop_browser_shows_no_home_screen_note(login, bob):
    page = login("bob")
    page.click(".settings summary")
    expect(page.locator("#push-homescreen")).to_be_hidden()


def test_lighthouse_finds_the_site_installable(site):
    if shutil.which("npx") is None:
        pytest.skip("npx is not installed (scripts/test installs Debian's npm)")
    done = subprocess.run(
        [str(ROOT / "scripts" / "lighthouse.sh"), site.base + "/login/"],
        cwd=ROOT,
        env={**os.environ, "CHROME_PATH": CHROMIUM},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "installable: yes" in done.stdout
    report = json.loads((ROOT / "var" / "lighthouse" / "pwa.json").read_text())
    assert report["lighthouseVersion"] == "11.7.1"
    failed = [
        audit_id
        for audit_id in ("installable-manifest", "splash-screen", "themed-omnibox", "maskable-icon", "viewport")
        if report["audits"][audit_id]["score"] != 1
    ]
    assert not failed, done.stdout
