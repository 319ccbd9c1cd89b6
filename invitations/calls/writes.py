"""The writes of the call operations, one round trip each (calls/sql.py's statements
through roundtrip.py), with the record handlers' statements (their outbox rows,
delivery/sql.py) after the operation's own in the same round trip."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import connection

from invitations.calls import sql
from invitations.calls.roundtrip import Rows, Statement, run
from invitations.models import Call, CallEvent, CallUser

if TYPE_CHECKING:
    from invitations.calls.operation import Batch, Operation

# the columns each write names, but the pk (sql.INSERT_CALL, sql.UPDATE_MEMBER, sql.INSERT_*)
CALL_FIELDS = (
    "call_id",
    "caller_id",
    "mode",
    "state",
    "extended_data",
    "push_config",
    "created_at",
    "ended_at",
    "ended_by_id",
    "seq",
    "watch_caller_presence",
    "group_id",
)
MEMBER_FIELDS = (
    "call_id",
    "user_id",
    "state",
    "reason",
    "extended_data",
    "invitation_extended_data",
    "invitation_push_config",
    "inviter_id",
    "device_id",
    "invited_at",
    "deadline",
    "not_received_check",
    "accepted_at",
    "responded_at",
    "quit_at",
    "call_running",
)
EVENT_FIELDS = (
    "seq",
    "kind",
    "user_id",
    "actor_id",
    "device_id",
    "from_state",
    "to_state",
    "reason",
    "extended_data",
    "created_at",
)
# JSON columns go as their text, as Django writes them
JSON_FIELDS = frozenset({"push_config", "invitation_push_config"})


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _row(obj: Any, names: Sequence[str]) -> dict[str, Any]:
    d = obj.__dict__
    return {n: _json(d[n]) if n in JSON_FIELDS else d[n] for n in names}


def _columns(objs: Sequence[Any], names: Sequence[str]) -> dict[str, list[Any]]:
    """One array per field, for an INSERT ... SELECT FROM unnest."""
    dicts = [o.__dict__ for o in objs]
    return {n: [_json(d[n]) for d in dicts] if n in JSON_FIELDS else [d[n] for d in dicts] for n in names}


def _saved(obj: Any) -> None:
    obj._state.adding = False
    obj._state.db = connection.alias


def save_operation(op: Operation, handler_statements: Sequence[Statement] = ()) -> list[Rows]:
    """An operation's writes: the call (INSERT or UPDATE), each changed member, the new
    members and the log, then `handler_statements` (the record handlers' outbox rows), in
    one round trip; returns those statements' rows. A new call's id reaches its member and
    log rows through currval() of its sequence (this connection's, so it is ours)."""
    call = op.call
    statements: list[Statement] = []
    if call.pk is None:
        statements.append(Statement(sql.INSERT_CALL, _row(call, CALL_FIELDS)))
    else:
        statements.append(
            Statement(
                sql.UPDATE_CALL,
                {
                    "seq": call.seq,
                    "state": call.state,
                    "ended_at": call.ended_at,
                    "ended_by_id": call.ended_by_id,
                    "id": call.pk,
                },
            )
        )
    new = []
    for member in op.changed:
        if member._state.adding:
            new.append(member)
        else:
            statements.append(Statement(sql.UPDATE_MEMBER, {**_row(member, MEMBER_FIELDS), "id": member.pk}))
    members_at = len(statements)
    if new:
        rows = _columns(new, MEMBER_FIELDS[1:])
        rows["call_id"] = [call.pk] * len(new)
        statements.append(Statement(sql.INSERT_MEMBERS, rows))
    if op.log:
        events = _columns(op.log, EVENT_FIELDS)
        events["call_id"] = [call.pk] * len(op.log)
        statements.append(Statement(sql.INSERT_EVENTS, events))
    if op.ended_now():
        statements.append(Statement(sql.END_MEMBERS, {"call": call.pk}))
    own = len(statements)
    results = run([*statements, *handler_statements])
    if call.pk is None:
        call.pk = results[0][0][0]
        _saved(call)
    for member, (pk,) in zip(new, results[members_at] if new else []):
        member.pk = pk
        member.call_id = call.pk
        _saved(member)
    for event in op.log:  # as bulk_create leaves them: pointing at the saved call
        event.call_id = call.pk
    return results[own:]


def flush_batch(batch: Batch, handler_statements: Sequence[Statement] = ()) -> list[Rows]:
    """Batch.flush's writes: one UPDATE per call outcome (seq + 1), one per distinct member
    outcome (sql.MOVE_FIELDS), the log as one INSERT ... SELECT FROM unnest(arrays), then
    `handler_statements` (the record handlers' outbox rows): one round trip; returns those
    statements' rows."""
    statements: list[Statement] = []
    outcomes: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for op in batch.ops:
        outcomes[(op.call.state, op.call.ended_at, op.call.ended_by_id)].append(op.call.pk)
    for (state, ended_at, ended_by_id), pks in outcomes.items():
        statements.append(
            Statement(sql.UPDATE_CALLS, {"state": state, "ended_at": ended_at, "ended_by_id": ended_by_id, "pks": pks})
        )
    same: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for op in batch.ops:
        for m in op.changed:
            d = m.__dict__
            same[tuple(d[name] for name in sql.MOVE_FIELDS)].append(m.pk)
    for values, pks in same.items():
        statements.append(Statement(sql.MOVE_MEMBERS, {**dict(zip(sql.MOVE_FIELDS, values)), "pks": pks}))
    ended = [op.call.pk for op in batch.ops if op.ended_now()]
    if ended:
        statements.append(Statement(sql.END_MEMBERS_OF_CALLS, {"pks": ended}))
    events = [row for op in batch.ops for row in op.log]
    if events:
        columns = _columns(events, EVENT_FIELDS)
        columns["call_id"] = [e.call.pk for e in events]
        statements.append(Statement(sql.INSERT_EVENTS, columns))
    own = len(statements)
    results = run([*statements, *handler_statements])
    for event in events:
        event.call_id = event.call.pk
    return results[own:]


# the models these writes cover, for tests/calls/test_statements.py
WRITTEN = {Call: CALL_FIELDS, CallUser: MEMBER_FIELDS, CallEvent: ("call_id", *EVENT_FIELDS)}
