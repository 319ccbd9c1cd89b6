"""Django's ASGI handler, with each request's middleware and view run in one
thread hop.

Every view and every middleware of the site is synchronous. Django's own
handler still builds an async chain for them: the event loop hands the sync
middleware to a thread, which hands back to the loop for the (async) view
resolution, which hands the sync view to the thread again: three hops, each a
wake-up and a GIL hand-over, per request. Here the chain is built synchronously
(as under WSGI: the same middleware, in the same order, the same view) and
handed to the request's thread once. The thread is the one Django would use
(sync_to_async, thread-sensitive, inside the request's ThreadSensitiveContext),
so a request's database connection stays in one thread as before.
"""
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class OneHopASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)
