"""The only writer of call state, by sub-domain:

- operations.py: the Operation (one locked call), batches, and the
  OperationRecord handed to `register_record_handler` handlers in the
  operation's transaction (the seam for webhooks and push);
- calls.py: PROTOCOL's call operations and the operator's end;
- deadlines.py: timeouts, the not-received check, caller offline, members away, the sweep;
- presence.py: connections, server processes, delivery on connect;
- tokens.py: API tokens;
- groups.py: call groups and their members (operators' group_add);
- signaling.py: media signals between members (relayed, not stored) and ICE servers.

Callers write `services.call_invite(...)`; the names below are the public ones.
"""
from invitations.services.calls import (
    call_accept,
    call_cancel,
    call_end,
    call_end_by_operator,
    call_invite,
    call_join,
    call_quit,
    call_reject,
    calling_invite,
)
from invitations.services.deadlines import (callers_offline_cancel, invitations_expire_due, invitations_mark_not_received,
                        members_away_quit, sweep)
from invitations.services.operations import MemberChange, OperationRecord, register_record_handler
from invitations.services.presence import (
    connection_close,
    connections_restore,
    connection_open,
    invitations_deliver,
    server_process_heartbeat,
    server_process_stopped,
    server_processes_reap,
)
from invitations.services.groups import GroupInputError, group_save
from invitations.services.tokens import api_token_create, api_token_revoke, api_tokens_revoke
# push and webhooks: importing them registers their record handlers (outbox rows)
from invitations.services.push import (
    push_message_deliver,
    push_requeue_due,
    push_subscription_delete,
    push_subscription_save,
    vapid_key_get_or_create,
    vapid_public_key,
)
from invitations.services.webhooks import (
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
    webhook_message_deliver,
    webhook_message_resend,
    webhook_requeue_due,
)
from invitations.services.signaling import call_signal, ice_servers

__all__ = [
    "MemberChange", "OperationRecord", "api_token_create", "api_token_revoke", "api_tokens_revoke", "call_accept",
    "call_cancel",
    "call_end", "call_end_by_operator", "call_invite", "call_join", "call_quit", "call_reject", "calling_invite",
    "callers_offline_cancel", "members_away_quit", "connection_close", "connections_restore", "connection_open", "invitations_deliver",
    "invitations_expire_due", "invitations_mark_not_received", "register_record_handler",
    "server_process_heartbeat", "GroupInputError", "group_save", "server_process_stopped", "server_processes_reap", "sweep",
    "push_message_deliver", "push_requeue_due", "push_subscription_delete", "push_subscription_save",
    "vapid_key_get_or_create", "vapid_public_key", "webhook_endpoint_create", "webhook_endpoint_rotate_secret",
    "webhook_endpoint_update", "webhook_message_deliver", "webhook_message_resend", "webhook_requeue_due",
    "call_signal", "ice_servers",
]
