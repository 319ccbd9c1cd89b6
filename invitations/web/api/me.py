"""/api/me/status: do not disturb (PROTOCOL "Do not disturb"), the same commands as
the WebSocket's setUserStatus and queryUserStatus."""

from ninja import Router

from invitations.accounts.requests import ApiRequest
from invitations.accounts.status import StatusAnswer
from invitations.web import schemas
from invitations.web.commands import COMMANDS

router = Router(tags=["status"])


@router.get("/status", summary="queryUserStatus")
def user_status_get(request: ApiRequest) -> StatusAnswer:
    return COMMANDS["queryUserStatus"].run(user=request.auth, device_id="", body=schemas.QueryUserStatusCmd())


@router.put("/status", summary="setUserStatus")
def user_status_set(request: ApiRequest, body: schemas.UserStatusIn) -> StatusAnswer:
    return COMMANDS["setUserStatus"].run(user=request.auth, device_id="", body=body)
