"""Persistent state, by concern. Fields and constraints only: every write goes
through the actions of its domain (invitations/calls/, realtime/presence.py,
delivery/, accounts/)."""

from invitations.models.accounts import ApiToken
from invitations.models.calls import PENDING_VALUES, Call, CallEvent, CallUser
from invitations.models.delivery import (
    OutboxRow,
    OutboxStatus,
    PushMessage,
    PushSubscription,
    VapidKey,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)
from invitations.models.groups import Group
from invitations.models.media import MediaGrant, MediaRoom, MediaServer, MediaTask
from invitations.models.presence import (
    Connection,
    DeviceAway,
    ServerProcess,
    UserPresence,
)

__all__ = [
    "ApiToken",
    "Call",
    "CallEvent",
    "CallUser",
    "Connection",
    "DeviceAway",
    "Group",
    "MediaGrant",
    "MediaRoom",
    "MediaServer",
    "MediaTask",
    "OutboxRow",
    "OutboxStatus",
    "PENDING_VALUES",
    "PushMessage",
    "PushSubscription",
    "ServerProcess",
    "UserPresence",
    "VapidKey",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookMessage",
]
