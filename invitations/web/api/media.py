"""/api/ice-servers: the ICE servers for the page's RTCPeerConnections (PROTOCOL "Media
signaling"; TURN credentials made for the requesting user), and
/api/calls/{callID}/media: how the member's media flows (PROTOCOL "Media sessions")."""

from ninja import Router

from invitations.accounts.requests import ApiRequest
from invitations.media import payloads as media_payloads
from invitations.web import schemas
from invitations.web.commands import COMMANDS

router = Router(tags=["media"])
call_router = Router(tags=["media"])


@router.get("", summary="queryIceServers")
def ice_servers(request: ApiRequest) -> media_payloads.IceServers:
    return COMMANDS["queryIceServers"].run(user=request.auth, device_id="", body=schemas.QueryIceServersCmd())


@call_router.get("/{call_id}/media", summary="queryMediaSession")
def media_session(request: ApiRequest, call_id: str) -> media_payloads.MediaSession:
    return COMMANDS["queryMediaSession"].handler(user=request.auth, device_id="", call_id=call_id)
