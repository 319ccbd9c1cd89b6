"""The only writer of call state, by sub-domain:

- operations.py: the Operation (one locked call), batches, and the
  OperationRecord handed to `register_record_handler` handlers in the
  operation's transaction (the seam for webhooks and push);
- calls.py: PROTOCOL's call operations and the operator's end;
- deadlines.py: timeouts, the not-received check, caller offline, the sweep;
- presence.py: connections, server processes, delivery on connect;
- tokens.py: API tokens.

Callers write `services.call_invite(...)`; the names below are the public ones.
"""
from .calls import (
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
from .deadlines import callers_offline_cancel, invitations_expire_due, invitations_mark_not_received, sweep
from .operations import MemberChange, OperationRecord, register_record_handler
from .presence import (
    connection_close,
    connection_open,
    invitations_deliver,
    server_process_heartbeat,
    server_process_stopped,
    server_processes_reap,
)
from .tokens import api_token_create, api_token_revoke

__all__ = [
    "MemberChange", "OperationRecord", "api_token_create", "api_token_revoke", "call_accept", "call_cancel",
    "call_end", "call_end_by_operator", "call_invite", "call_join", "call_quit", "call_reject", "calling_invite",
    "callers_offline_cancel", "connection_close", "connection_open", "invitations_deliver",
    "invitations_expire_due", "invitations_mark_not_received", "register_record_handler",
    "server_process_heartbeat", "server_process_stopped", "server_processes_reap", "sweep",
]
