"""The record handlers' statements: outbox rows written in an operation's write round trip.

The push and webhook handlers (push.py, webhooks.py) answer an operation's records
with these statements (calls/roundtrip.py Statement), run after the operation's own
writes in the same round trip: INSERT ... SELECT over the subscriptions or endpoints,
so those are never read in a round trip of their own (most operations find none).
Python builds the payloads. Each statement is literal SQL with named parameters,
one array per column where it writes many rows; column lists are written out
(tests/calls/test_statements.py checks them against the models).

A new message is pending, with no attempt yet, due and queued now (its job is queued
on commit).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from invitations.calls.roundtrip import Statement
from invitations.models import Call, CallUser, OutboxStatus

# webhook-id as webhook_signing.message_id_new makes it: "msg_" and 18 random bytes, base64url
# (gen_random_uuid is PostgreSQL's strong random source; two give 18 bytes with ~138 random bits)
_MSG_ID = (
    "'msg_' || translate(encode(substring(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) "
    "FROM 1 FOR 18), 'base64'), '+/', '-_')"
)

# An endpoint of the call's tenant (v.app: the appID, NULL for the site's own) that is
# enabled and wants the event's type (no types: every type), in event then endpoint order.
WEBHOOK_ROWS = (
    "INSERT INTO invitations_webhookmessage (status, attempt_count, next_attempt_at, lease_until, queued_at, "
    "created_at, delivered_at, last_status, endpoint_id, msg_id, event_type, call_id, seq, body) "
    "SELECT %(pending)s::varchar, 0, %(now)s::timestamptz, NULL, %(now)s::timestamptz, %(now)s::timestamptz, "
    "NULL, NULL, e.id, " + _MSG_ID + ", v.event_type, v.call_id, v.seq, v.body "
    "FROM unnest(%(event_type)s::varchar[], %(call_id)s::varchar[], %(seq)s::int[], %(body)s::text[], "
    "%(app)s::varchar[]) WITH ORDINALITY AS v(event_type, call_id, seq, body, app, n) "
    "JOIN invitations_webhookendpoint e ON e.enabled AND e.app_id IS NOT DISTINCT FROM v.app "
    "AND (e.event_types IN ('[]'::jsonb, 'null'::jsonb) OR e.event_types @> jsonb_build_array(v.event_type)) "
    "ORDER BY v.n, e.id RETURNING id"
)

# An invitation push per (offline invitee, payload) for each subscription of the invitee,
# in that order then subscription order. A member made in this round trip (a NULL
# member_id) is found by its call (`call`, NULL for a call made in it too) and user:
# the call's id is an InitPlan, evaluated once, so the lookup uses the (call, user) index.
PUSH_INVITATION_ROWS = (
    "INSERT INTO invitations_pushmessage (status, attempt_count, next_attempt_at, lease_until, queued_at, "
    "created_at, delivered_at, last_status, subscription_id, member_id, kind, payload) "
    "SELECT %(pending)s::varchar, 0, %(now)s::timestamptz, NULL, %(now)s::timestamptz, %(now)s::timestamptz, "
    "NULL, NULL, s.id, v.member_id, 'invitation', v.payload "
    "FROM (SELECT w.n, w.user_id, w.payload, COALESCE(w.member_id, (SELECT m.id FROM invitations_calluser m "
    "WHERE m.call_id = (SELECT COALESCE(%(call)s::bigint, currval('invitations_call_id_seq'))) "
    "AND m.user_id = w.user_id)) AS member_id "
    "FROM unnest(%(user_id)s::int[], %(member_id)s::bigint[], %(payload)s::text[]) "
    "WITH ORDINALITY AS w(user_id, member_id, payload, n)) v "
    "JOIN invitations_pushsubscription s ON s.user_id = v.user_id ORDER BY v.n, s.id RETURNING id"
)

# For members that left a pending state: their current invitation pushes that may have
# reached the push service, locked (delivery's claim and _decide lock the same rows; one
# sent before the member's invited_at belongs to an earlier invitation, already closed);
# those not at the push service (pending, no attempt in flight) are dropped, a closing
# push goes to the subscription of each of the others.
PUSH_CLOSING_ROWS = (
    "WITH sent AS (SELECT p.id, p.subscription_id, p.member_id, p.status, p.lease_until, v.payload "
    "FROM invitations_pushmessage p JOIN unnest(%(member_id)s::bigint[], %(invited_at)s::timestamptz[], "
    "%(payload)s::text[]) AS v(member_id, invited_at, payload) ON p.member_id = v.member_id "
    "WHERE p.kind = 'invitation' AND p.status = ANY(%(reached)s::varchar[]) "
    "AND (v.invited_at IS NULL OR p.created_at >= v.invited_at) FOR UPDATE OF p), "
    "dropped AS (UPDATE invitations_pushmessage SET status = %(dropped)s::varchar FROM sent "
    "WHERE invitations_pushmessage.id = sent.id AND sent.status = %(pending)s::varchar "
    "AND (sent.lease_until IS NULL OR sent.lease_until <= %(now)s::timestamptz)) "
    "INSERT INTO invitations_pushmessage (status, attempt_count, next_attempt_at, lease_until, queued_at, "
    "created_at, delivered_at, last_status, subscription_id, member_id, kind, payload) "
    "SELECT %(pending)s::varchar, 0, %(now)s::timestamptz, NULL, %(now)s::timestamptz, %(now)s::timestamptz, "
    "NULL, NULL, sent.subscription_id, sent.member_id, 'closed', sent.payload FROM sent "
    "WHERE NOT (sent.status = %(pending)s::varchar "
    "AND (sent.lease_until IS NULL OR sent.lease_until <= %(now)s::timestamptz)) ORDER BY sent.id RETURNING id"
)


def webhook_rows(events: Sequence[tuple[str, str, int, str, str | None]], now: datetime) -> Statement:
    """One message per event (event type, callID, seq, body, the call's tenant) for each enabled
    endpoint of that tenant that wants its type. Returns the messages' pks."""
    event_type, call_id, seq, body, app = (list(column) for column in zip(*events))
    return Statement(
        WEBHOOK_ROWS,
        {
            "pending": OutboxStatus.PENDING,
            "now": now,
            "event_type": event_type,
            "call_id": call_id,
            "seq": seq,
            "body": body,
            "app": app,
        },
    )


def push_invitation_rows(invitees: Sequence[tuple[Call, CallUser, str]], now: datetime) -> Statement:
    """An invitation push per (call, offline invitee, payload) for each subscription of the
    invitee. Returns the rows' pks. Members without a pk are made in this round trip, all
    of one call."""
    new_calls = {id(call): call for call, member, _ in invitees if member.pk is None}
    if len(new_calls) > 1:
        raise ValueError("new members of more than one call in one round trip")
    call = next(iter(new_calls.values()), None)
    params: dict[str, Any] = {
        "pending": OutboxStatus.PENDING,
        "now": now,
        "call": call.pk if call is not None else None,
        "user_id": [member.user_id for _, member, _ in invitees],
        "member_id": [member.pk for _, member, _ in invitees],
        "payload": [payload for _, _, payload in invitees],
    }
    return Statement(PUSH_INVITATION_ROWS, params)


def push_closing_rows(closed: dict[int, tuple[datetime | None, str]], now: datetime) -> Statement:
    """For members that left a pending state (member pk: its invited_at and the closing
    payload): a closing push to each subscription their current invitation push reached or
    may have reached; the invitation pushes that never left are dropped instead. Returns
    the closing rows' pks. (The members' rows are written earlier in the same round trip,
    with the invited_at given here.)"""
    return Statement(
        PUSH_CLOSING_ROWS,
        {
            "member_id": list(closed),
            "invited_at": [invited_at for invited_at, _ in closed.values()],
            "payload": [payload for _, payload in closed.values()],
            "reached": [OutboxStatus.PENDING, OutboxStatus.DELIVERED],
            "dropped": OutboxStatus.DROPPED,
            "pending": OutboxStatus.PENDING,
            "now": now,
        },
    )
