"""/api/auth: bearer tokens for scripts."""

from django.contrib.auth import authenticate
from django.http import HttpRequest
from ninja import Router

from invitations.accounts import payloads as account_payloads
from invitations.accounts import ratelimit, token_actions
from invitations.accounts.auth import bearer_token
from invitations.calls.errors import CallError
from invitations.web import schemas

router = Router(tags=["auth"])


@router.post("/token", auth=None)
def token_create(request: HttpRequest, body: schemas.TokenIn) -> account_payloads.TokenAnswer:
    ratelimit.auth_check(body.username, ratelimit.client_ip(request))
    user = authenticate(request, username=body.username, password=body.password)
    if user is None and ratelimit.refused_by_limit(request):  # a parallel attempt took the last slot
        raise CallError("rate_limited", "too many failed sign-in attempts: wait and try again")
    if user is None:
        raise CallError("unauthenticated", "wrong username or password")
    return account_payloads.token_answer(token_actions.api_token_create(user=user), user)


@router.post("/token/revoke")
def token_revoke(request: HttpRequest) -> account_payloads.RevokeAnswer:
    """Revoke the bearer token this request was made with."""
    raw = bearer_token(request.headers.get("Authorization", ""))
    if not raw or not token_actions.api_token_revoke(user=request.auth, raw_token=raw):
        raise CallError("invalid_argument", "send the token to revoke as the bearer token")
    return account_payloads.RevokeAnswer(revoked=True)
