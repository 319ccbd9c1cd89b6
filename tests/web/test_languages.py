"""The site in English and Simplified Chinese, through Django's test client: the language
comes from the browser (Accept-Language) or the Settings switch (set_language, a cookie);
the server-rendered pages say no English word in Chinese; the JavaScript catalogs (the
page's /jsi18n/, the kit's JSON under /api/i18n/, readable cross-origin by registered app
origins) answer in the language asked; the manifest and the offline page too."""

import json
import re
import struct
from html.parser import HTMLParser

import pytest
from django.test import Client

from invitations.calls import actions
from invitations.delivery.webhooks import webhook_endpoint_create
from tests.apps_helpers import new_app
from tests.processes import ROOT

pytestmark = pytest.mark.django_db

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}
APP_ORIGIN = "http://127.0.0.1:9000"
NAMES = {"alice", "bob", "carol", "dave", "Callsite"}


class VisibleText(HTMLParser):
    """The text and labels a person meets in an HTML page (not scripts, styles, <code> or <kbd>)."""

    SKIP = {"script", "style", "code", "kbd", "title", "svg", "option"}
    LABELS = {"aria-label", "title", "placeholder", "alt"}

    def __init__(self) -> None:
        super().__init__()
        self.skipping = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        self.parts += [value for name, value in attrs if name in self.LABELS and value]

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)

    def handle_data(self, data: str) -> None:
        if not self.skipping and data.strip():
            self.parts.append(data.strip())


def english_words(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    return [w for part in parser.parts for w in re.findall(r"[A-Za-z]{2,}", part) if w not in NAMES]


def signed_in(user, **headers) -> Client:
    client = Client(**headers)
    client.force_login(user, backend=MODEL_BACKEND)
    return client


def test_the_browsers_language_chooses_and_english_stays_the_default(alice):
    english = signed_in(alice).get("/")
    assert english.status_code == 200 and '<html lang="en">' in english.content.decode()
    assert ">People<" in english.content.decode()
    chinese = signed_in(alice, **ZH).get("/")
    html = chinese.content.decode()
    assert '<html lang="zh-hans">' in html
    assert ">联系人<" in html and "网站关闭时也为我振铃" in html
    # the page's catalog, named, before the page's modules (words.js reads it when it loads)
    assert html.index('src="/jsi18n/zh-hans/"') < html.index("js/app.js")
    assert english_words(html) == [], english_words(html)


def test_the_settings_switch_sets_the_language_for_the_next_pages(alice):
    client = signed_in(alice)
    page = client.get("/").content.decode()
    assert 'action="/i18n/setlang/"' in page and 'name="language"' in page
    token = client.cookies["csrftoken"].value
    switched = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"}, HTTP_X_CSRFTOKEN=token)
    assert switched.status_code == 302 and switched["Location"] == "/"
    assert '<html lang="zh-hans">' in client.get("/").content.decode()
    # a foreign next is not followed
    away = client.post("/i18n/setlang/", {"language": "en", "next": "https://evil.example/"}, HTTP_X_CSRFTOKEN=token)
    assert away["Location"] == "/"
    assert '<html lang="en">' in client.get("/").content.decode()


def test_my_calls_and_a_calls_story_in_chinese(alice, bob, carol):
    answered = actions.call_invite(user=alice, invitees=["bob", "carol"], extended_data='{"type": "voice"}')["callID"]
    actions.call_reject(user=carol, call_id=answered)
    actions.call_accept(user=bob, call_id=answered)
    missed = actions.call_invite(user=bob, invitees=["alice"], extended_data='{"type": "video"}')["callID"]
    actions.call_cancel(user=bob, call_id=missed)
    client = signed_in(alice, **ZH)
    listing = client.get("/calls/").content.decode()
    assert "我的通话" in listing and "2 个通话" in listing and "未接视频通话" in listing
    assert "bob 已接听" in listing and re.search(r"今天 \d\d:\d\d", listing)
    assert english_words(listing) == [], english_words(listing)
    story = client.get(f"/calls/{answered}/").content.decode()
    assert "alice 呼叫了 bob" in story and "carol 拒接了" in story
    assert english_words(story) == [], english_words(story)
    missed_only = client.get("/calls/?show=missed").content.decode()
    assert "1 个未接来电" in missed_only


def test_the_sign_in_and_signed_out_pages_in_chinese():
    sign_in = Client(**ZH).get("/login/").content.decode()
    assert "<h1>登录</h1>" in sign_in
    assert english_words(sign_in) == [], english_words(sign_in)


def test_the_pages_javascript_catalog_in_each_language():
    chinese = Client().get("/jsi18n/zh-hans/")
    assert chinese.status_code == 200 and chinese["Content-Type"].startswith("text/javascript")
    assert '"Accept": "\\u63a5\\u542c"' in chinese.content.decode() or '"Accept": "接听"' in chinese.content.decode()
    assert Client(**ZH).get("/jsi18n/").content == chinese.content  # the request's language
    assert '"Accept"' not in Client().get("/jsi18n/en/").content.decode()
    assert Client().get("/jsi18n/xx/").status_code == 404


def test_the_kits_catalog_is_json_and_readable_by_an_apps_origin(db):
    new_app("Demo", origins=[APP_ORIGIN])
    answer = Client().get("/api/i18n/zh-Hans/", HTTP_ORIGIN=APP_ORIGIN)
    assert answer.status_code == 200
    assert answer["Access-Control-Allow-Origin"] == APP_ORIGIN
    body = answer.json()
    assert body["catalog"]["Accept"] == "接听"
    assert body["catalog"]["Rings for %(count)s more second"] == ["还将振铃 %(count)s 秒"]
    assert body["plural"] == "0"
    # the way browsers and apps name it
    assert Client().get("/api/i18n/zh-CN/").json()["catalog"]["Accept"] == "接听"
    assert Client().get("/api/i18n/en-US/").json()["catalog"].get("Accept") is None
    # an origin no app registered gets no CORS answer
    assert "Access-Control-Allow-Origin" not in Client().get("/api/i18n/zh-hans/", HTTP_ORIGIN="http://evil.example")
    unknown = Client().get("/api/i18n/fr/", HTTP_ORIGIN=APP_ORIGIN)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["reason"] == "not_found" and "zh-hans" in unknown.json()["error"]["message"]
    assert Client().post("/api/i18n/zh-hans/").json()["error"]["reason"] == "method_not_allowed"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_the_manifest_names_the_app_in_the_request_language_and_its_icons_exist():
    answer = Client().get("/manifest.webmanifest")
    assert answer.status_code == 200 and answer["Content-Type"] == "application/manifest+json"
    manifest = json.loads(answer.content)
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/"
    for icon in manifest["icons"]:
        assert icon["src"].startswith("/static/icons/")
        path = ROOT / "static" / icon["src"].removeprefix("/static/")
        width, height = png_size(path.read_bytes())
        assert f"{width}x{height}" == icon["sizes"]
    assert any(icon["purpose"] == "maskable" for icon in manifest["icons"])
    chinese = json.loads(Client(**ZH).get("/manifest.webmanifest").content)
    assert chinese["name"] == "Callsite：在浏览器里通话" and chinese["lang"] == "zh-hans"


def test_the_offline_page_stands_alone_in_each_language():
    english = Client().get("/offline/").content.decode()
    assert "No connection" in english and "<link" not in english  # nothing to load without a network
    chinese = Client(**ZH).get("/offline/").content.decode()
    assert "没有网络连接" in chinese and english_words(chinese) == [], english_words(chinese)


def test_every_page_links_the_manifest_and_the_theme_colour():
    html = Client().get("/login/").content.decode()
    assert '<link rel="manifest" href="/manifest.webmanifest">' in html
    assert '<meta name="theme-color" content="#3b5bdb">' in html
    assert 'rel="apple-touch-icon"' in html


def test_the_admins_own_additions_in_chinese(admin_user, settings):
    """The columns, actions and notes the site adds to Django's admin (Django's own words are
    Django's translation)."""
    new_app("Shop", origins=[APP_ORIGIN])
    settings.CALL_WEBHOOK_PRIVATE_HOSTS = ["127.0.0.1"]
    webhook_endpoint_create(url="http://127.0.0.1:9/calls")
    client = signed_in(admin_user, **ZH)
    apps = client.get("/admin/invitations/app/").content.decode()
    assert "来源" in apps and "立即轮换服务器密钥（旧密钥立即失效）" in apps
    made = client.get("/admin/invitations/app/add/").content.decode()
    assert "保存时生成，只显示一次。" in made and "每行一个" in made
    hooks = client.get("/admin/invitations/webhookendpoint/").content.decode()
    assert "事件类型" in hooks and "全部" in hooks and "投递记录" in hooks and "轮换签名密钥" in hooks
    hook_form = client.get("/admin/invitations/webhookendpoint/add/").content.decode()
    assert "都不勾选：所有类型。" in hook_form and "签名密钥" in hook_form
