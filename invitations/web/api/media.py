"""/api/ice-servers: the ICE servers for the page's RTCPeerConnections
(PROTOCOL "Media signaling"; TURN credentials made for the requesting user)."""

from ninja import Router

from invitations.accounts.requests import ApiRequest
from invitations.calls import payloads
from invitations.web import schemas
from invitations.web.commands import COMMANDS

router = Router(tags=["media"])


@router.get("", summary="queryIceServers")
def ice_servers(request: ApiRequest) -> payloads.IceServers:
    return COMMANDS["queryIceServers"].run(user=request.auth, device_id="", body=schemas.QueryIceServersCmd())
