"""HTTP through Django (callsite/asgi_http.py; /static/ open to every origin, for apps' pages
that import the call kit); WebSocket through token-or-session auth (with an Origin check for
browsers, and apps' origins) to the call consumer."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callsite.settings")
django.setup(set_prefix=False)  # as get_asgi_application() does

from callsite.asgi_http import OneHopASGIHandler, StaticForEveryOrigin  # noqa: E402

django_asgi_app = OneHopASGIHandler()  # Django's ASGI handler, the request in one thread hop

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from invitations.accounts.auth import TokenOrSessionAuthMiddleware  # noqa: E402
from invitations.realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": StaticForEveryOrigin(ASGIStaticFilesHandler(django_asgi_app))
        if settings.SERVE_STATIC
        else django_asgi_app,
        "websocket": TokenOrSessionAuthMiddleware(URLRouter(websocket_urlpatterns)),
    }
)
