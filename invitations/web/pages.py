"""Browser pages. Thin: they render templates; the page talks to the WebSocket."""

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from invitations.delivery.push import push_subscriptions_delete_for_browser

# The ring-time field: 1..CALL_MAX_TIMEOUT_SECONDS; timeout 0 ("no deadline") is the page's "Ring until answered" box
MIN_TIMEOUT_SECONDS = 1


@login_required
@ensure_csrf_cookie
def call_page(request: HttpRequest) -> HttpResponse:
    # the page reads its limits from these (data-* on #app), never from its own constants
    return render(
        request,
        "invitations/call.html",
        {
            "max_participants": settings.CALL_MAX_PARTICIPANTS,
            "max_invitees": settings.CALL_MAX_PARTICIPANTS - 1,
            "min_timeout": MIN_TIMEOUT_SECONDS,
            "max_timeout": settings.CALL_MAX_TIMEOUT_SECONDS,
            "default_timeout": settings.CALL_DEFAULT_TIMEOUT_SECONDS,
        },
    )


def _static_file(name: str, content_type: str) -> HttpResponse:
    """A file of the static folders served at a fixed URL of the site's own."""
    path = finders.find(name)
    if not path:
        raise Http404(name)
    with open(path, "rb") as f:
        return HttpResponse(f.read(), content_type=content_type)


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """static/sw.js at the site's root, so its scope is the whole site (a
    worker's scope is at most the folder it is served from)."""
    response = _static_file("sw.js", "text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    # Browsers check for a new worker on navigation; never serve a stale one.
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """static/favicon.ico at /favicon.ico, where browsers ask for it on pages that
    name no icon (the admin's)."""
    response = _static_file("favicon.ico", "image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response


class SignOutView(auth_views.LogoutView):
    """Django's sign-out, which first removes the user's push subscriptions of this browser
    (the form's push_endpoint and push_device, filled by static/js/signout.js), so the
    browser does not ring the next person for this user's calls. Empty fields (no
    JavaScript, no subscription) sign out all the same."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            push_subscriptions_delete_for_browser(
                user=request.user,
                endpoint=request.POST.get("push_endpoint", "")[:1024],
                device_id=request.POST.get("push_device", "")[:128],
            )
        return super().post(request, *args, **kwargs)
