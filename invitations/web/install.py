"""What makes the site an installable app: its web app manifest, and the page the service
worker (static/sw.js) shows for a navigation while the network is gone.

The manifest is a view, not a static file, so that its name and description come in the
request's language; its icons are static/icons/*.png (scripts/make_icons.py makes them).
"""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

# the page's brand colour (static/css/app.css --brand) and background (--bg)
THEME_COLOR = "#3b5bdb"
BACKGROUND_COLOR = "#f4f6fb"

ICONS = [
    {"src": "icons/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any"},
    {"src": "icons/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any"},
    {"src": "icons/icon-maskable-512.png", "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
]


@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    body = {
        "id": "/",
        "name": _("Callsite: calls in the browser"),
        "short_name": "Callsite",
        "description": _("Call people, and answer their calls, in the browser."),
        "lang": translation.get_language(),
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "orientation": "any",
        "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "icons": [{**icon, "src": static(icon["src"])} for icon in ICONS],
    }
    response = JsonResponse(body, content_type="application/manifest+json", json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def offline_page(request: HttpRequest) -> HttpResponse:
    """Kept by the service worker at its install; shown when a page cannot be loaded."""
    return render(request, "offline.html")
