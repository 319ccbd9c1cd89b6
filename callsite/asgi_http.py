"""Django's ASGI handler, with each request's middleware and view run in one
thread hop, on a thread kept from an earlier request.

Every view and every middleware of the site is synchronous. Django's own
handler still builds an async chain for them: the event loop hands the sync
middleware to a thread, which hands back to the loop for the (async) view
resolution, which hands the sync view to the thread again: three hops, each a
wake-up and a GIL hand-over, per request. Here the chain is built synchronously
(load_middleware(is_async=False), as WSGIHandler builds it: the same middleware,
in the same order, the same view) and the asynchronous entry point the ASGI
handler calls, get_response_async, runs the synchronous one, get_response
(chain, resource closers, the log line of an error response), in the request's
thread, once. Only Django's public handler methods are used.

Django also starts a new thread for every request (a ThreadSensitiveContext of
its own) and drops it after. Here each request still has a thread to itself,
for all its thread-sensitive work (request_started, the chain,
request_finished, which closes its database connection in that same thread),
but the thread is an idle one kept from an earlier request when there is one.
(A view still running after its client went away keeps its thread busy; the
request that gets that thread next waits for it, where Django's thread would
have finished alone. Rare, and bounded by the view's own duration.)
"""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest
from django.http.response import HttpResponseBase

MAX_IDLE_THREADS = 32  # beyond this, a burst's extra threads end with their request


class OneHopASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self._idle: list[ThreadPoolExecutor] = []

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)  # the synchronous chain, as under WSGI

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        # one thread, one call at a time: what ThreadSensitiveContext(executor=...) asks for
        thread = self._idle.pop() if self._idle else ThreadPoolExecutor(max_workers=1, thread_name_prefix="http")
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            if len(self._idle) < MAX_IDLE_THREADS:
                self._idle.append(thread)
            else:
                thread.shutdown(wait=False)


class StaticForEveryOrigin:
    """Answers under STATIC_URL carry `Access-Control-Allow-Origin: *`: an app's page on
    another origin imports the call kit (`/static/callkit/`) as an ES module, which a
    browser fetches in CORS mode, module by module. The files are public and no
    credentials are involved. Django's static handler runs no middleware, so
    django-cors-headers cannot add it; with SERVE_STATIC=0 the reverse proxy does
    (deploy/nginx.conf)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(settings.STATIC_URL):
            await self.app(scope, receive, send)
            return

        async def send_for_every_origin(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"access-control-allow-origin"]
                message = {**message, "headers": [*headers, (b"access-control-allow-origin", b"*")]}
            await send(message)

        await self.app(scope, receive, send_for_every_origin)
