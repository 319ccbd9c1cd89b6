"""The site's ASGI HTTP handler (callsite/asgi_http.py): Django's handler with each
request's middleware and view in one hop to a thread of the request's own, the
thread kept for a later request; its database connection is given back when the
request ends, in that thread."""

import asyncio
import json
import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from callsite.asgi import application, django_asgi_app
from callsite.asgi_http import OneHopASGIHandler
from invitations.accounts import token_actions

pytestmark = pytest.mark.django_db(transaction=True)


async def request(
    path: str, token: str = "", method: str = "GET", body: bytes = b"", extra: list | None = None
) -> tuple[int, bytes]:
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
    }
    sent = []
    delivered = False

    async def receive():
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected

    async def send(message):
        sent.append(message)

    await application(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def test_requests_reuse_one_thread_and_give_back_their_connection(alice, bob):
    assert isinstance(django_asgi_app, OneHopASGIHandler)
    token = await sync_to_async(token_actions.api_token_create)(user=alice)
    call_id = json.loads((await request("/api/calls", token, "POST", b'{"invitees": ["bob"]}'))[1])["callID"]
    django_asgi_app._idle.clear()
    for _ in range(5):
        status, body = await request("/api/calls?count=5", token)
        assert status == 200 and json.loads(body)["callList"][0]["callID"] == call_id
    assert len(django_asgi_app._idle) == 1  # sequential requests: one thread, kept
    thread = django_asgi_app._idle[0]
    # the view ran there, not on the event loop; the request's end closed its connection (back to the pool)
    ran_in, open_after = thread.submit(lambda: (threading.current_thread().name, connection.connection)).result()
    assert ran_in.startswith("http") and ran_in != threading.current_thread().name
    assert open_after is None
    status, body = await request("/api/calls", "not-a-token")
    assert status == 401 and json.loads(body)["error"]["reason"] == "unauthenticated"
    status, body = await request("/api/calls/nope/accept", token, "POST")  # empty body: the empty object
    assert status == 404 and json.loads(body)["error"]["reason"] == "call_not_found"


async def test_concurrent_requests_each_get_a_thread(alice):
    token = await sync_to_async(token_actions.api_token_create)(user=alice)
    django_asgi_app._idle.clear()
    answers = await asyncio.gather(*(request("/api/calls", token) for _ in range(4)))
    assert [status for status, _ in answers] == [200] * 4
    assert len(django_asgi_app._idle) == 4  # none waited for another's thread


async def test_session_pages_and_csrf_unchanged(alice, bob):
    """The browser's side goes through the same middleware as before: a page redirects to
    sign-in without a session and renders with one; a session write to the API needs the
    CSRF token (cookie and header), as it did."""
    from django.middleware.csrf import _get_new_csrf_string
    from django.test import Client

    status, _ = await request("/calls/")
    assert status == 302
    browser = Client()
    await sync_to_async(browser.force_login)(alice, backend="django.contrib.auth.backends.ModelBackend")
    session = f"sessionid={browser.cookies['sessionid'].value}"
    status, body = await request("/calls/", extra=[(b"cookie", session.encode())])
    assert status == 200 and b"My calls" in body
    invite = b'{"invitees": ["bob"]}'
    status, body = await request("/api/calls", method="POST", body=invite, extra=[(b"cookie", session.encode())])
    assert status == 403 and json.loads(body)["error"]["reason"] == "csrf_failed"
    csrf = _get_new_csrf_string()
    status, body = await request(
        "/api/calls",
        method="POST",
        body=invite,
        extra=[
            (b"cookie", f"{session}; csrftoken={csrf}".encode()),
            (b"x-csrftoken", csrf.encode()),
            (b"origin", b"http://127.0.0.1"),
            (b"referer", b"http://127.0.0.1/"),
        ],
    )
    assert status == 200, body
    assert json.loads(body)["callID"]
