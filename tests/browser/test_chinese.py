"""The site in Simplified Chinese, walked in real Chromium: bob switches the language in
Settings (Django's set_language, a form with its CSRF token), and every state of the call
page (idle with Settings open, outgoing, incoming, in a call, after it) and the /calls/
pages say no English word but the people's names; a browser that asks for Chinese
(Accept-Language) gets it without switching."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import TIMEOUT_MS
from tests.browser.pagetext import english_words
from tests.browser.test_call_page import call, expect_not_ringing, expect_ringing
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NAMES = {"alice", "bob", "carol", "dave", "Callsite"}  # people, and the site's own name


def says_no_english(page, state: str) -> None:
    leaks = english_words(page, NAMES)
    assert not leaks, f"English in the {state} page:\n" + "\n".join(leaks)


def switch_to_chinese(page) -> None:
    page.click(".settings summary")
    page.select_option("#language-choice", "zh-hans")  # the page sends the form on change
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "connected")


def test_the_call_page_and_my_calls_in_chinese(login, shoot, alice, bob):
    a = login("alice")
    b = login("bob")
    switch_to_chinese(b)
    expect(b.locator("#conn-state")).to_have_text("已连接")
    expect(b.locator('li[data-user="alice"] .presence')).to_have_text("在线")
    b.click(".settings summary")  # the settings open, with the language switch in them
    expect(b.locator("#language-choice")).to_have_value("zh-hans")
    shoot(b, "zh-idle")
    says_no_english(b, "idle, settings open")

    # outgoing: bob calls alice, who declines
    call(b, "alice")
    expect(b.locator("#outgoing")).to_be_visible()
    expect(b.locator("#outgoing-kind")).to_contain_text("呼出的视频通话")
    expect(b.locator('#outgoing-members [data-member="alice"]')).to_contain_text("振铃中")
    says_no_english(b, "outgoing")
    expect_ringing(a, "bob")
    # the control: the same walk finds alice's English, in the kit's shadow root too
    assert any(leak.startswith("#incoming-kind: 'Incoming'") for leak in english_words(a, NAMES))
    a.click("#incoming-reject")
    expect(b.locator(".toast").last).to_contain_text("alice 拒接了")
    says_no_english(b, "after a declined call")

    # incoming: alice calls bob; the dialog, its countdown and keys in Chinese
    call(a, "bob")
    expect_ringing(b, "alice")
    expect(b.locator("#incoming-kind")).to_have_text("视频来电")
    expect(b.locator("#incoming-countdown")).to_contain_text("还将振铃")
    shoot(b, "zh-incoming")
    says_no_english(b, "incoming")
    b.click("#incoming-accept")
    expect_not_ringing(b)

    # in the call
    expect(b.locator("#incall")).to_be_visible()
    expect(b.locator("#incall-title")).to_have_text("正在与 alice 通话")
    expect(b.locator('#incall-members [data-member="alice"]')).to_contain_text("通话中")
    says_no_english(b, "in call")
    b.click("#incall-end")
    expect(b.locator("#incall")).to_be_hidden()
    says_no_english(b, "after the call")

    # My calls, and one call's story
    b.goto("/calls/")
    expect(b.locator("h1")).to_have_text("我的通话")
    expect(b.locator("[data-total]")).to_have_text("2 个通话")
    expect(b.locator(".call-when").first).to_have_text(re.compile(r"^今天 \d\d:\d\d$"))
    says_no_english(b, "My calls")
    b.locator(".call-who").first.click()
    expect(b.locator(".timeline")).to_be_visible()
    says_no_english(b, "a call's story")
    # alice kept English all along
    expect(a.locator("#conn-state")).to_have_text("Connected")


def test_a_browser_that_asks_for_chinese_gets_it(browser, site, bob):
    context = browser.new_context(locale="zh-CN", base_url=site.base)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto("/login/")
        expect(page.locator("h1")).to_have_text("登录")
        says_no_english(page, "sign-in")
        page.fill("#id_username", "bob")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("#conn-state")).to_have_text("已连接")
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
        says_no_english(page, "idle")
    finally:
        context.close()
