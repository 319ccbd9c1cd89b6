"""Browser pages. Thin: they render templates; the page talks to the WebSocket."""
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@login_required
@ensure_csrf_cookie
def call_page(request: HttpRequest) -> HttpResponse:
    return render(request, "invitations/call.html", {
        "default_timeout": settings.CALL_DEFAULT_TIMEOUT_SECONDS,
        "max_timeout": settings.CALL_MAX_TIMEOUT_SECONDS,
    })
