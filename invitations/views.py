"""Browser pages. Thin: they render templates; the page talks to the WebSocket."""
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

# PROTOCOL: an invitee's timeout is 1..CALL_MAX_TIMEOUT_SECONDS (0, "no deadline", is not offered by the page)
MIN_TIMEOUT_SECONDS = 1


@login_required
@ensure_csrf_cookie
def call_page(request: HttpRequest) -> HttpResponse:
    # the page reads its limits from these (data-* on #app), never from its own constants
    return render(request, "invitations/call.html", {
        "max_participants": settings.CALL_MAX_PARTICIPANTS,
        "max_invitees": settings.CALL_MAX_PARTICIPANTS - 1,
        "min_timeout": MIN_TIMEOUT_SECONDS,
        "max_timeout": settings.CALL_MAX_TIMEOUT_SECONDS,
        "default_timeout": settings.CALL_DEFAULT_TIMEOUT_SECONDS,
    })
