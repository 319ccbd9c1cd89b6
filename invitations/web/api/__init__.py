"""HTTP API (PROTOCOL's table): each endpoint parses with the shared schemas,
runs its command (commands.py), answers. Every refusal is PROTOCOL's error
object. Each router is one module here, registered with one line below.
"""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from invitations.accounts.auth import api_auth
from invitations.calls import errors
from invitations.calls.errors import CallError
from invitations.web.api import auth, calls, groups, media, push, users


class CallsiteAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Any) -> str:
        # stable ids whichever module an endpoint lives in (they were invitations_api_<name>)
        return f"invitations_api_{operation.view_func.__name__}"


api = CallsiteAPI(
    title="Call invitation API",
    version="1",
    description="ZEGO ZIM-style call invitation. See docs/protocol.md.",
    auth=api_auth,
    urls_namespace="api",
)


def error_response(request: HttpRequest, error: CallError) -> HttpResponse:
    return api.create_response(request, {"error": error.as_dict()}, status=error.status)


@api.exception_handler(CallError)
def _call_error(request: HttpRequest, exc: CallError) -> HttpResponse:
    return error_response(request, exc)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return error_response(request, errors.invalid_argument(exc.errors))


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(request, CallError("unauthenticated"))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, CallError("not_found"))


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    by_status = {
        400: "invalid_argument",
        401: "unauthenticated",
        404: "not_found",
        405: "method_not_allowed",
        429: "rate_limited",
    }
    reason = by_status.get(exc.status_code, "invalid_argument")
    return error_response(request, CallError(reason, str(exc) or None))


# One line per router.
api.add_router("/auth", auth.router)
api.add_router("/calls", calls.router)
api.add_router("/calls", media.call_router)
api.add_router("/users", users.router)
api.add_router("/groups", groups.router)
api.add_router("/push", push.router)
api.add_router("/ice-servers", media.router)
