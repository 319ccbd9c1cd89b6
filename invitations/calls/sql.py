"""The statements of the call operations: literal PostgreSQL with named parameters.

Each is written once, here, as it goes to the server; roundtrip.py sends them
(several per round trip, each PREPAREd once per connection), reads.py and
writes.py choose them and map their rows. Column lists are written out in the
models' field order: tests/calls/test_statements.py checks them against the
models, so a migration that adds a column fails there, not in production.

Constants stand where a prepared plan needs them (the partial index
accepted_in_running_call: ACCEPTED = 1, STARTED = 1); the test checks them too.
A new call's id reaches the rows written after it in the same round trip through
currval() of its sequence (this connection's, so it is ours; named as PostgreSQL
names an identity column's sequence, which the test checks): the parameter `call`
is NULL for a new call.
"""

from __future__ import annotations

# --- the columns, in the models' field order --------------------------------------------------------

CALL_COLUMNS = (
    "c.id, c.call_id, c.caller_id, c.mode, c.state, c.extended_data, c.push_config, c.created_at, "
    "c.ended_at, c.ended_by_id, c.seq, c.watch_caller_presence, c.group_id"
)
MEMBER_COLUMNS = (
    "m.id, m.call_id, m.user_id, m.state, m.reason, m.extended_data, m.invitation_extended_data, "
    "m.invitation_push_config, m.inviter_id, m.device_id, m.invited_at, m.deadline, m.not_received_check, "
    "m.accepted_at, m.responded_at, m.quit_at, m.call_running"
)
GROUP_COLUMNS = "g.id, g.group_id, g.app_id, g.name"
# users are read slim: the rest deferred, loaded on demand
SLIM_USER_FIELDS = ("id", "username", "first_name", "last_name", "is_active")
USER_COLUMNS = "u.id, u.username, u.first_name, u.last_name, u.is_active"
INVITER_COLUMNS = "i.id, i.username, i.first_name, i.last_name, i.is_active"

# a new call's id, in the round trip that inserted it (an InitPlan: evaluated once, only if needed)
CALL_REF = "(SELECT COALESCE(%(call)s::bigint, currval('invitations_call_id_seq')))"

# --- one call, or many, locked with their members -------------------------------------------------------

CALL_SELECT = (
    "SELECT c.id, c.call_id, c.caller_id, c.mode, c.state, c.extended_data, c.push_config, c.created_at, "
    "c.ended_at, c.ended_by_id, c.seq, c.watch_caller_presence, c.group_id, "
    "u.id, u.username, u.first_name, u.last_name, u.is_active, "
    "g.id, g.group_id, g.app_id, g.name "
    "FROM invitations_call c JOIN auth_user u ON u.id = c.caller_id "
    "LEFT JOIN invitations_group g ON g.id = c.group_id"
)
MEMBER_SELECT = (
    "SELECT m.id, m.call_id, m.user_id, m.state, m.reason, m.extended_data, m.invitation_extended_data, "
    "m.invitation_push_config, m.inviter_id, m.device_id, m.invited_at, m.deadline, m.not_received_check, "
    "m.accepted_at, m.responded_at, m.quit_at, m.call_running, "
    "u.id, u.username, u.first_name, u.last_name, u.is_active, "
    "i.id, i.username, i.first_name, i.last_name, i.is_active "
    "FROM invitations_calluser m JOIN auth_user u ON u.id = m.user_id "
    "LEFT JOIN auth_user i ON i.id = m.inviter_id"
)

LOCK_CALL = CALL_SELECT + " WHERE c.call_id = %(call_id)s FOR UPDATE OF c"
# read after the lock (a statement of its own, so with a snapshot taken after the wait)
MEMBERS_OF_CALL = (
    MEMBER_SELECT + " JOIN invitations_call c ON c.id = m.call_id WHERE c.call_id = %(call_id)s ORDER BY m.id"
)

_LOCK_CALLS = {
    (False, False): CALL_SELECT + " WHERE c.id = ANY(%(pks)s::bigint[]) ORDER BY c.id FOR UPDATE OF c",
    (False, True): CALL_SELECT + " WHERE c.id = ANY(%(pks)s::bigint[]) ORDER BY c.id FOR UPDATE OF c SKIP LOCKED",
    (True, False): CALL_SELECT
    + " WHERE c.id = ANY(%(pks)s::bigint[]) AND c.state = %(started)s ORDER BY c.id FOR UPDATE OF c",
    (True, True): CALL_SELECT
    + " WHERE c.id = ANY(%(pks)s::bigint[]) AND c.state = %(started)s ORDER BY c.id FOR UPDATE OF c SKIP LOCKED",
}
# the members of every asked call, read after the locks (those of calls not locked are dropped)
MEMBERS_OF_CALLS = MEMBER_SELECT + " WHERE m.call_id = ANY(%(pks)s::bigint[]) ORDER BY m.id"


def lock_calls(*, started_only: bool, skip_locked: bool) -> str:
    """Calls by pk (`pks`), FOR UPDATE in pk order; Started ones only (`started`) if asked."""
    return _LOCK_CALLS[(started_only, skip_locked)]


# --- callInvite's reads -------------------------------------------------------------------------------

# the group by its groupID within the tenant (the appID, NULL for the site's own), if the user is a member
GROUP_OF_MEMBER = (
    "SELECT g.id, g.group_id, g.app_id, g.name FROM invitations_group g "
    "JOIN invitations_group_members gm ON gm.group_id = g.id "
    "WHERE g.group_id = %(group_id)s AND g.app_id IS NOT DISTINCT FROM %(tenant)s::varchar "
    "AND gm.user_id = %(user_id)s LIMIT 1"
)
_OTHER_ID = (
    "(SELECT id FROM auth_user WHERE username = %(other)s AND is_active AND id <> %(user_id)s ORDER BY id LIMIT 1)"
)
# no operation locks a user row after a call row: two crossing invites serialize here
LOCK_USER = "SELECT id FROM auth_user WHERE id = %(user_id)s ORDER BY id FOR NO KEY UPDATE"
LOCK_USER_AND_OTHER = (
    "SELECT id FROM auth_user WHERE id = %(user_id)s OR id = " + _OTHER_ID + " ORDER BY id FOR NO KEY UPDATE"
)
# glare: the other's Started calls where the user is a pending invitee
GLARE_CANDIDATES = (
    "SELECT DISTINCT c.id FROM invitations_call c JOIN invitations_calluser m ON m.call_id = c.id "
    "WHERE c.caller_id = " + _OTHER_ID + " AND c.state = %(started)s AND m.user_id = %(user_id)s "
    "AND m.state = ANY(%(pending)s::int[])"
)
# Accepted (1) in a running call of state Started (1): constants, so the prepared plan
# can use the partial index accepted_in_running_call (a parameter could be any state)
IN_CALL = (
    "SELECT EXISTS (SELECT 1 FROM invitations_calluser m JOIN invitations_call c ON c.id = m.call_id "
    "WHERE m.user_id = %(user_id)s AND m.state = 1 AND m.call_running AND c.state = 1)"
)

# the invitees: active users by username, with whether each is in the call's group
_INVITEES = "SELECT u.id, u.username, u.first_name, u.last_name, u.is_active{} FROM auth_user u WHERE u.username = ANY(%(names)s::text[]) AND u.is_active"
_IN_GROUP = ", EXISTS (SELECT 1 FROM invitations_group_members gm WHERE gm.group_id = {} AND gm.user_id = u.id)"
INVITEES = _INVITEES.format("")
INVITEES_IN_GROUP = _INVITEES.format(_IN_GROUP.format("%(group_pk)s"))
# by groupID: the tenant's group
INVITEES_IN_GROUP_ID = _INVITEES.format(
    _IN_GROUP.format(
        "(SELECT id FROM invitations_group WHERE group_id = %(group_id)s "
        "AND app_id IS NOT DISTINCT FROM %(tenant)s::varchar)"
    )
)
# who of them (and the caller) has a socket open
ONLINE = (
    "SELECT DISTINCT user_id FROM invitations_connection WHERE user_id = %(caller_id)s OR user_id IN "
    "(SELECT id FROM auth_user WHERE username = ANY(%(names)s::text[]) AND is_active)"
)
# who of them is in do-not-disturb (accounts/status.py's rule); the clock is Python's, as
# where the status is read alone
DND = (
    "SELECT user_id FROM invitations_userstatus WHERE status = 'dnd' AND (until IS NULL OR until > %(now)s) "
    "AND user_id IN (SELECT id FROM auth_user WHERE username = ANY(%(names)s::text[]) AND is_active)"
)

# --- an operation's writes ------------------------------------------------------------------------------

INSERT_CALL = (
    "INSERT INTO invitations_call (call_id, caller_id, mode, state, extended_data, push_config, created_at, "
    "ended_at, ended_by_id, seq, watch_caller_presence, group_id) VALUES (%(call_id)s, %(caller_id)s, %(mode)s, "
    "%(state)s, %(extended_data)s, %(push_config)s, %(created_at)s, %(ended_at)s, %(ended_by_id)s, %(seq)s, "
    "%(watch_caller_presence)s, %(group_id)s) RETURNING id"
)
# what an operation may change on a call (operation.CALL_FIELDS)
UPDATE_CALL = (
    "UPDATE invitations_call SET seq = %(seq)s, state = %(state)s, ended_at = %(ended_at)s, "
    "ended_by_id = %(ended_by_id)s WHERE id = %(id)s"
)
# every column of a changed member but its pk
UPDATE_MEMBER = (
    "UPDATE invitations_calluser SET call_id = %(call_id)s, user_id = %(user_id)s, state = %(state)s, "
    "reason = %(reason)s, extended_data = %(extended_data)s, invitation_extended_data = %(invitation_extended_data)s, "
    "invitation_push_config = %(invitation_push_config)s, inviter_id = %(inviter_id)s, device_id = %(device_id)s, "
    "invited_at = %(invited_at)s, deadline = %(deadline)s, not_received_check = %(not_received_check)s, "
    "accepted_at = %(accepted_at)s, responded_at = %(responded_at)s, quit_at = %(quit_at)s, "
    "call_running = %(call_running)s WHERE id = %(id)s"
)
# new members, one array per column (a NULL call_id: the call inserted in this round trip),
# inserted and returned in array order
INSERT_MEMBERS = (
    "INSERT INTO invitations_calluser (call_id, user_id, state, reason, extended_data, invitation_extended_data, "
    "invitation_push_config, inviter_id, device_id, invited_at, deadline, not_received_check, accepted_at, "
    "responded_at, quit_at, call_running) "
    "SELECT COALESCE(v.call_id, currval('invitations_call_id_seq')), v.user_id, v.state, "
    "v.reason, v.extended_data, v.invitation_extended_data, v.invitation_push_config, v.inviter_id, v.device_id, "
    "v.invited_at, v.deadline, v.not_received_check, v.accepted_at, v.responded_at, v.quit_at, v.call_running "
    "FROM unnest(%(call_id)s::bigint[], %(user_id)s::int[], %(state)s::smallint[], %(reason)s::varchar[], "
    "%(extended_data)s::text[], %(invitation_extended_data)s::text[], %(invitation_push_config)s::jsonb[], "
    "%(inviter_id)s::int[], %(device_id)s::varchar[], %(invited_at)s::timestamptz[], %(deadline)s::timestamptz[], "
    "%(not_received_check)s::boolean[], %(accepted_at)s::timestamptz[], %(responded_at)s::timestamptz[], "
    "%(quit_at)s::timestamptz[], %(call_running)s::boolean[]) "
    "AS v(call_id, user_id, state, reason, extended_data, invitation_extended_data, invitation_push_config, "
    "inviter_id, device_id, invited_at, deadline, not_received_check, accepted_at, responded_at, quit_at, "
    "call_running) RETURNING id"
)
# the log, one array per column (a NULL call_id: the call inserted in this round trip)
INSERT_EVENTS = (
    "INSERT INTO invitations_callevent (call_id, seq, kind, user_id, actor_id, device_id, from_state, to_state, "
    "reason, extended_data, created_at) "
    "SELECT COALESCE(v.call_id, currval('invitations_call_id_seq')), v.seq, v.kind, "
    "v.user_id, v.actor_id, v.device_id, v.from_state, v.to_state, v.reason, v.extended_data, v.created_at "
    "FROM unnest(%(call_id)s::bigint[], %(seq)s::int[], %(kind)s::varchar[], %(user_id)s::int[], "
    "%(actor_id)s::int[], %(device_id)s::varchar[], %(from_state)s::smallint[], %(to_state)s::smallint[], "
    "%(reason)s::varchar[], %(extended_data)s::text[], %(created_at)s::timestamptz[]) "
    "AS v(call_id, seq, kind, user_id, actor_id, device_id, from_state, to_state, reason, extended_data, created_at)"
)
# an ended call's members not written above (each row once: a second version of a row costs)
END_MEMBERS = "UPDATE invitations_calluser SET call_running = false WHERE call_id = " + CALL_REF + " AND call_running"

# --- a batch's writes -----------------------------------------------------------------------------------

# one per call outcome
UPDATE_CALLS = (
    "UPDATE invitations_call SET seq = seq + 1, state = %(state)s, ended_at = %(ended_at)s, "
    "ended_by_id = %(ended_by_id)s WHERE id = ANY(%(pks)s::bigint[])"
)
# Every field move() and end() write on an existing member, in this statement's order:
# what a batch writes back, one statement per distinct outcome.
MOVE_FIELDS = (
    "state",
    "reason",
    "extended_data",
    "accepted_at",
    "responded_at",
    "device_id",
    "quit_at",
    "call_running",
)
MOVE_MEMBERS = (
    "UPDATE invitations_calluser SET state = %(state)s, reason = %(reason)s, extended_data = %(extended_data)s, "
    "accepted_at = %(accepted_at)s, responded_at = %(responded_at)s, device_id = %(device_id)s, "
    "quit_at = %(quit_at)s, call_running = %(call_running)s WHERE id = ANY(%(pks)s::bigint[])"
)
END_MEMBERS_OF_CALLS = (
    "UPDATE invitations_calluser SET call_running = false WHERE call_id = ANY(%(pks)s::bigint[]) AND call_running"
)
