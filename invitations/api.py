"""HTTP API (PROTOCOL's table): parse with the shared schemas, call one
service or selector, answer. Every refusal is PROTOCOL's error object."""
import logging
from typing import Any

from django.contrib.auth import authenticate
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Query, Router
from ninja.errors import AuthenticationError, HttpError, ValidationError

from . import ratelimit, schemas, selectors, services
from .auth import api_auth, bearer_token
from .errors import CallError

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="Call invitation API",
    version="1",
    description="ZEGO ZIM-style call invitation. See docs/protocol.md.",
    auth=api_auth,
    urls_namespace="api",
)


def error_response(request: HttpRequest, error: CallError) -> HttpResponse:
    return api.create_response(request, {"error": error.as_dict()}, status=error.status)


def _validation_message(errors: list[dict[str, Any]]) -> str:
    parts = []
    for e in errors[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "payload", "query"))
        parts.append(f"{where or 'body'}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


@api.exception_handler(CallError)
def _call_error(request: HttpRequest, exc: CallError) -> HttpResponse:
    return error_response(request, exc)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return error_response(request, CallError("invalid_argument", _validation_message(exc.errors)))


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(request, CallError("unauthenticated"))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, CallError("not_found"))


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    by_status = {400: "invalid_argument", 401: "unauthenticated", 404: "not_found", 405: "method_not_allowed",
                 429: "rate_limited"}
    reason = by_status.get(exc.status_code, "invalid_argument")
    return error_response(request, CallError(reason, str(exc) or None))


def kwargs(body: schemas.Schema, **extra: Any) -> dict[str, Any]:
    """Schema fields as a service's keyword arguments (camelCase -> snake_case)."""
    data = body.model_dump()
    out = {_snake(k): v for k, v in data.items()}
    out.update(extra)
    return out


def _snake(name: str) -> str:
    special = {"callID": "call_id"}
    if name in special:
        return special[name]
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


auth_router = Router(tags=["auth"])


@auth_router.post("/token", auth=None)
def token_create(request: HttpRequest, body: schemas.TokenIn) -> dict[str, Any]:
    ratelimit.auth_check(body.username, ratelimit.client_ip(request))
    user = authenticate(request, username=body.username, password=body.password)
    if user is None:
        raise CallError("unauthenticated", "wrong username or password")
    return {"token": services.api_token_create(user=user), "userID": user.username}


@auth_router.post("/token/revoke")
def token_revoke(request: HttpRequest) -> dict[str, Any]:
    """Revoke the bearer token this request was made with."""
    raw = bearer_token(request.headers.get("Authorization", ""))
    if not raw or not services.api_token_revoke(user=request.auth, raw_token=raw):
        raise CallError("invalid_argument", "send the token to revoke as the bearer token")
    return {"revoked": True}


calls_router = Router(tags=["calls"])


@calls_router.post("", summary="callInvite")
def call_invite(request: HttpRequest, body: schemas.CallInviteIn) -> dict[str, Any]:
    return services.call_invite(user=request.auth, **kwargs(body))


@calls_router.get("", summary="queryCallInvitationList")
def call_invitation_list(request: HttpRequest, query: Query[schemas.CallListQuery]) -> dict[str, Any]:
    services.invitations_expire_due(user=request.auth)
    return selectors.call_invitation_list(user=request.auth, count=query.count, next_flag=query.nextFlag)


@calls_router.get("/{call_id}", summary="call info")
def call_info(request: HttpRequest, call_id: str) -> dict[str, Any]:
    services.invitations_expire_due(call_id=call_id)
    return selectors.call_info(user=request.auth, call_id=call_id)


@calls_router.post("/{call_id}/cancel", summary="callCancel")
def call_cancel(request: HttpRequest, call_id: str, body: schemas.CallCancelIn) -> dict[str, Any]:
    return services.call_cancel(user=request.auth, call_id=call_id, **kwargs(body))


@calls_router.post("/{call_id}/accept", summary="callAccept")
def call_accept(request: HttpRequest, call_id: str, body: schemas.CallAcceptIn) -> dict[str, Any]:
    return services.call_accept(user=request.auth, call_id=call_id, **kwargs(body))


@calls_router.post("/{call_id}/reject", summary="callReject")
def call_reject(request: HttpRequest, call_id: str, body: schemas.CallRejectIn) -> dict[str, Any]:
    return services.call_reject(user=request.auth, call_id=call_id, **kwargs(body))


@calls_router.post("/{call_id}/invite", summary="callingInvite")
def calling_invite(request: HttpRequest, call_id: str, body: schemas.CallingInviteIn) -> dict[str, Any]:
    return services.calling_invite(user=request.auth, call_id=call_id, **kwargs(body))


@calls_router.post("/{call_id}/join", summary="callJoin")
def call_join(request: HttpRequest, call_id: str, body: schemas.CallJoinIn) -> dict[str, Any]:
    return services.call_join(user=request.auth, call_id=call_id, **kwargs(body))


@calls_router.post("/{call_id}/quit", summary="callQuit")
def call_quit(request: HttpRequest, call_id: str, body: schemas.CallQuitIn) -> dict[str, Any]:
    return services.call_quit(user=request.auth, call_id=call_id, **kwargs(body))


@calls_router.post("/{call_id}/end", summary="callEnd")
def call_end(request: HttpRequest, call_id: str, body: schemas.CallEndIn) -> dict[str, Any]:
    return services.call_end(user=request.auth, call_id=call_id, **kwargs(body))


users_router = Router(tags=["users"])


@users_router.get("", summary="other users with presence (an addition to PROTOCOL)")
def users(request: HttpRequest, query: Query[schemas.UsersQuery]) -> dict[str, Any]:
    return {"users": selectors.users_with_presence(user=request.auth, search=query.search, count=query.count)}


api.add_router("/auth", auth_router)
api.add_router("/calls", calls_router)
api.add_router("/users", users_router)
