"""Under /api/: an empty body is the empty object, and every failure is
PROTOCOL's error object, never HTML."""

import logging
from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from invitations.calls.errors import CallError

logger = logging.getLogger(__name__)

_REASON_BY_STATUS = {
    400: "invalid_argument",
    403: "csrf_failed",
    404: "not_found",
    405: "method_not_allowed",
    413: "invalid_argument",
}


class ApiMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/") and request.method == "POST":
            try:
                empty = not request.body.strip()
            except RequestDataTooBig:  # else Django answers with an HTML 400
                error = CallError("invalid_argument", "The request body is too large.")
                return JsonResponse({"error": error.as_dict()}, status=error.status)
            if empty:
                request._body = b"{}"  # `POST .../accept` needs no body
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code in _REASON_BY_STATUS
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            error = CallError(_REASON_BY_STATUS[response.status_code])
            return JsonResponse({"error": error.as_dict()}, status=error.status)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith("/api/"):
            return None
        logger.exception("unexpected error on %s %s", request.method, request.path)
        body = {"error": {"code": None, "reason": "internal_error", "message": "Unexpected server error."}}
        return JsonResponse(body, status=500)
