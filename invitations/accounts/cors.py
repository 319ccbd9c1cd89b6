"""CORS for the registered origins of enabled apps, under /api/ only (PROTOCOL "Apps":
cross-origin). django-cors-headers asks this through its check_request_enabled
signal (settings allow no origin statically), so an app's origins take effect in
every web process as soon as they are saved. The signal bypasses CORS_URLS_REGEX,
hence the path check here; it is sent twice per request, hence one lookup, kept
on the request."""

from typing import Any

from corsheaders.signals import check_request_enabled
from django.dispatch import receiver
from django.http import HttpRequest

from invitations.accounts.apps import app_origin_registered


@receiver(check_request_enabled, dispatch_uid="cors_allow_app_origins")
def cors_allow_app_origins(sender: Any, request: HttpRequest, **kwargs: Any) -> bool:
    if not request.path_info.startswith("/api/"):
        return False
    allowed = getattr(request, "app_origin_allowed", None)
    if allowed is None:
        origin = request.headers.get("Origin", "")
        allowed = bool(origin) and app_origin_registered(origin)
        request.app_origin_allowed = allowed  # type: ignore[attr-defined]
    return allowed
