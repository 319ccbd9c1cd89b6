"""Browser tests: Debian's Chromium driven by Playwright against a real daphne
and a real rqworker on the test database.

Fixtures: `site` (base URL, and `restart_daphne()` on the same port), `browser`
(a Chromium per test), `login(name)` (a new context signed in
through the real login form, on the call page, connected). On failure every
open page is saved as a PNG under test-artifacts/.
"""

import contextlib
import os
import re
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.processes import ROOT, Proc, free_port, process_env, start_worker

ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    # media: a fake microphone and camera (beep and test pattern), no permission prompt,
    # and WebRTC over loopback (the sandbox may have no other interface)
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
]
# generous: two cores shared with other work
TIMEOUT_MS = 15000


# Playwright's sync API keeps an asyncio loop set on the main thread, which trips
# Django's async-safety guard for the test's own (synchronous) ORM calls.
UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


@contextlib.contextmanager
def _guard_on_in_children():
    """The servers we start must keep Django's guard: spawn them without the flag."""
    saved = os.environ.pop(UNSAFE, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[UNSAFE] = saved


class Site:
    """A daphne on a fixed port (so it can be restarted under the pages) and a worker;
    `env`: more settings for both (e.g. a media server)."""

    def __init__(self, log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.log_dir = log_dir
        self.env = env or {}
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        with _guard_on_in_children():
            self.worker = start_worker(log_dir, **self.env)
        self.daphne: Proc | None = None
        self.starts = 0
        try:
            self.start_daphne()
        except BaseException:
            self.stop()  # a Daphne that never came up leaves no worker behind either
            raise

    def start_daphne(self) -> None:
        import requests

        self.starts += 1
        # A silent socket (a page whose network dropped) is noticed within 15 s, not Daphne's
        # default 50 s (ping after 20 s idle, 30 s for the pong): the members-away tests wait on it.
        args = [
            sys.executable,
            "-m",
            "callsite.daphne_server",
            "-b",
            "127.0.0.1",
            "-p",
            str(self.port),
            "--ping-interval",
            "5",
            "--ping-timeout",
            "10",
            "callsite.asgi:application",
        ]
        with _guard_on_in_children():
            self.daphne = Proc(f"daphne-{self.starts}", args, process_env(**self.env), self.log_dir)
        deadline = time.time() + 60  # start-up takes seconds; far longer on a machine at load 30+
        while time.time() < deadline:
            if self.daphne.popen.poll() is not None:
                raise RuntimeError(f"daphne exited:\n{self.daphne.output()}")
            try:
                requests.get(self.base + "/login/", timeout=1)
                return
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or slow to answer under load
                time.sleep(0.1)
        raise RuntimeError(f"daphne did not start:\n{self.daphne.output()}")

    def stop_daphne(self) -> None:
        if self.daphne is not None:
            self.daphne.stop()

    def stop(self) -> None:
        self.stop_daphne()
        self.worker.stop()


@pytest.fixture
def site(transactional_db, process_logs):
    s = Site(process_logs)
    yield s
    s.stop()


# Module scope: the async-safety flag must not outlive the browser tests.
@pytest.fixture(scope="module")
def playwright():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get(UNSAFE)
    os.environ[UNSAFE] = "true"
    try:
        with sync_playwright() as p:
            yield p
    finally:
        if previous is None:
            os.environ.pop(UNSAFE, None)
        else:
            os.environ[UNSAFE] = previous


@pytest.fixture
def browser(playwright):
    """A Chromium of this test's own: what one test leaves in the browser process (its
    first push through the DevTools protocol, notifications, push-service and media
    state, which contexts share) cannot reach the next, in whatever order they run."""
    b = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def browser_that_asks(browser):
    """A second Chromium without --use-fake-ui-for-media-stream: a permission it was not
    given is refused, as when a user clicks "Block" (fake devices all the same)."""
    b = browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[a for a in CHROMIUM_ARGS if a != "--use-fake-ui-for-media-stream"],
    )
    yield b
    b.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def login(request, browser, site):
    """login("bob") -> a Page on the call page, signed in through the form and connected."""
    contexts = []
    console = []  # every page's console, saved beside the screenshots when the test fails

    def sign_in(username: str, *, context=None, viewport=None, in_browser=None, permissions=None):
        if context is None:
            context = (in_browser or browser).new_context(
                viewport=viewport or {"width": 1280, "height": 800},
                permissions=["notifications", "microphone", "camera"] if permissions is None else permissions,
                base_url=site.base,
            )
            context.set_default_timeout(TIMEOUT_MS)
            contexts.append(context)
            # the page logs its media signaling to the console (saved when a test fails)
            context.add_init_script("localStorage.setItem('call.debug', '1')")
            page = context.new_page()
            page.goto("/login/")
            page.fill("#id_username", username)
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(site.base + "/")
        else:
            page = context.new_page()
            page.goto("/")
        page.on("console", lambda message: console.append(f"{username} {message.type}: {message.text}"))
        page.wait_for_selector("#conn-state[data-state=connected]")
        return page

    yield sign_in
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
        (ARTIFACTS / f"{name}-console.txt").write_text("\n".join(console))
        for i, context in enumerate(contexts):
            for j, page in enumerate(context.pages):
                try:
                    page.screenshot(path=str(ARTIFACTS / f"{name}-{i}-{j}.png"), full_page=True)
                except Exception as exc:  # a crashed page must not hide the real failure
                    print(f"screenshot failed: {exc}", file=sys.stderr)
    for context in contexts:
        context.close()


@pytest.fixture
def shoot():
    """shoot(page, "name"): save a documentation screenshot when SCREENSHOTS=1."""

    def take(page, name: str) -> None:
        if os.environ.get("SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))

    return take
