"""/api/users: other users with presence (an addition to PROTOCOL)."""

from django.http import HttpRequest
from ninja import Query, Router

from invitations.accounts import payloads as account_payloads
from invitations.web import schemas
from invitations.web.commands import COMMANDS

router = Router(tags=["users"])


@router.get("", summary="other users with presence (an addition to PROTOCOL)")
def users(request: HttpRequest, query: Query[schemas.UsersQuery]) -> account_payloads.Users:
    return COMMANDS["queryUsers"].run(user=request.auth, device_id="", body=query)
