"""The hot statements of the call operations: raw SQL through Django's connection.

An operation's statements go to PostgreSQL in one round trip, as one text
(Django's psycopg cursor binds parameters client-side). Each statement is
PREPAREd once per connection (the first time it is used there, in a round trip
of its own) and the round trip carries `EXECUTE name(parameters)`, so the
server neither parses nor plans the statements again: PostgreSQL's CPU per
operation fell by about half (docs/performance.md). The statements run in
order, each with its own snapshot (READ COMMITTED), so a read placed after a
`FOR UPDATE` sees what the lock holder committed, as a separate ORM query
would. With prepared statements off (`DB_PREPARED_STATEMENTS=0`, for a pooler
in transaction mode) the same text goes with the statements themselves.

This is the only path of these operations: services (operations.py, calls.py,
presence.py) call this module, and the token check and the list page use
`fetch`. A record handler's statements (push, webhooks) ride in the writes'
round trip (`save_operation`, `flush_batch` take them and return their rows).

Rows become model instances through `Model.from_db` (rows.py, the one row
reader); users are loaded slim: id, username, is_active and the names payloads
show, the other fields deferred as with `.only()`, one instance per user per read.

Users are named here by username, never by a request's userID: the actions
map userIDs to usernames within the acting user's tenant (accounts/tenancy.py)
before they ask, and a group is looked up by its groupID within that tenant.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

import psycopg
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import JSONField, Model

from invitations.calls.rows import RowReader, reader
from invitations.calls.states import PENDING, CallState
from invitations.calls.states import CallUserState as S
from invitations.models import (
    Call,
    CallEvent,
    CallUser,
    Connection,
    Group,
    OutboxStatus,
    PushMessage,
    PushSubscription,
    WebhookEndpoint,
    WebhookMessage,
)

if TYPE_CHECKING:
    from invitations.calls.operation import Batch, Operation

User = get_user_model()

# --- the round trip ---------------------------------------------------------------------------------


Rows = list[tuple]


class Statement(NamedTuple):
    """One statement and its parameters (`%s` placeholders), carried in another's round trip."""

    text: str
    params: list[Any]


def run(statements: Sequence[str], params: Sequence[Any]) -> list[Rows]:
    """Run `statements` in order in one round trip and return each one's rows ([] for a
    statement that returns none). `params` are all the statements' parameters in order
    (`%s` placeholders, split by count). Django's execute wrappers and query log see the
    round trip as one execute of the statements joined by "; " (the query log with the
    parameters in place, as Django logs a query); database errors come out as Django's."""
    text = "; ".join(statements)
    executor: Callable[..., Any] = _run_prepared
    for wrapper in reversed(connection.execute_wrappers):
        executor = functools.partial(wrapper, executor)
    context = {"connection": connection, "cursor": None}
    if not connection.queries_logged:
        return executor(text, (statements, params), False, context)
    start = time.monotonic()
    try:
        return executor(text, (statements, params), False, context)
    finally:
        # as Django's debug cursor logs a query: with its parameters in place
        duration = time.monotonic() - start
        connection.queries_log.append({"sql": _with_params(statements, params), "time": f"{duration:.3f}"})


def _with_params(statements: Sequence[str], params: Sequence[Any]) -> str:
    mogrify = psycopg.ClientCursor(connection.connection).mogrify
    return "; ".join(mogrify(s, values) for s, values in zip(statements, _split(statements, params)))


def _split(statements: Sequence[str], params: Sequence[Any]) -> list[Sequence[Any]]:
    """Each statement's own parameters, by its count of placeholders."""
    slices, at = [], 0
    for statement in statements:
        n = statement.count("%s")
        slices.append(params[at : at + n])
        at += n
    if at != len(params):
        raise ValueError(f"{len(params)} parameters for {at} placeholders")
    return slices


def fetch(statement: str, params: Sequence[Any]) -> Rows:
    """One raw statement's rows, prepared as `run` prepares them."""
    return run([statement], params)[0]


# What each connection has PREPAREd: (statement, parameter types) -> name. A prepared
# statement outlives the transaction that made it (a rollback keeps it) and dies with
# its connection, as this entry does (the pool keeps connections across requests).
_prepared: weakref.WeakKeyDictionary[Any, dict[tuple[str, tuple[str, ...]], str]] = weakref.WeakKeyDictionary()
MAX_PREPARED = 500  # per connection; past it all are deallocated and prepared again as used
# Names are never reused in a process: a round trip of PREPAREs that fails part way
# leaves the ones before the error on the server, unrecorded, and harmless.
_names = itertools.count()
# A statement with more parameters carries many rows (a batch, a large group) and its row
# count seldom repeats: preparing it would cost a round trip and server memory for nothing.
MAX_PREPARED_PARAMS = 100


def _param_type(value: Any) -> str:
    """The type a parameter is declared with in PREPARE: what the value is, or `unknown`
    (a string, a NULL) for PostgreSQL to infer from where the statement uses it."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double precision"
    if isinstance(value, datetime):
        return "timestamptz" if value.tzinfo is not None else "timestamp"
    if isinstance(value, date):
        return "date"
    if isinstance(value, (list, tuple)):
        first = next((v for v in value if v is not None), None)
        if first is None:
            return "unknown"
        return "text[]" if isinstance(first, str) else f"{_param_type(first)}[]"
    return "unknown"


def _numbered(statement: str) -> str:
    n = iter(range(1, statement.count("%s") + 1))
    return re.sub("%s", lambda _: f"${next(n)}", statement)


def _run_prepared(text: str, args: tuple[Sequence[str], Sequence[Any]], many: bool, context: Any) -> list[Rows]:
    statements, params = args
    slices = _split(statements, params)
    connection.ensure_connection()
    raw = connection.connection
    with connection.wrap_database_errors:
        cursor = psycopg.ClientCursor(raw)
        if raw.prepare_threshold is None:  # DB_PREPARED_STATEMENTS=0
            cursor.execute(text, params)
        else:
            names = _prepared.setdefault(raw, {})
            if len(names) > MAX_PREPARED:
                cursor.execute("DEALLOCATE ALL")
                names.clear()
            executes, new = [], {}
            for statement, values in zip(statements, slices):
                if len(values) > MAX_PREPARED_PARAMS:  # a shape that rarely comes again: inline
                    executes.append(statement)
                    continue
                types = tuple(_param_type(v) for v in values)
                name = names.get((statement, types)) or new.get((statement, types))
                if name is None:
                    name = new[(statement, types)] = f"callsite_{next(_names)}"
                executes.append(f"EXECUTE {name}({', '.join(['%s'] * len(values))})" if values else f"EXECUTE {name}")
            if new:
                cursor.execute(
                    "; ".join(
                        f"PREPARE {name} ({', '.join(types)}) AS {_numbered(statement)}"
                        if types
                        else f"PREPARE {name} AS {statement}"
                        for (statement, types), name in new.items()
                    )
                )
                names.update(new)
            cursor.execute("; ".join(executes), params)
        results = []
        for i in range(len(statements)):
            if i:
                cursor.nextset()
            results.append(cursor.fetchall() if cursor.description is not None else [])
        return results


# --- rows to instances ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shape:
    """One model's columns as selected with a table alias, and the reader that makes them an instance."""

    reader: RowReader
    select: str  # "a.col1, a.col2, ..."

    @property
    def width(self) -> int:
        return len(self.reader.fields)

    def make(self, values: tuple | list) -> Any:
        return self.reader.build(list(values), connection.alias)


@cache
def _shape(model: type[Model], alias: str, only: tuple[str, ...] | None = None) -> _Shape:
    row_reader = reader(model, only)
    return _Shape(reader=row_reader, select=row_reader.select(alias))


# in the model's field order (Model.from_db reads a partial row in that order)
SLIM_USER = ("id", "username", "first_name", "last_name", "is_active")


def _user_shape(alias: str) -> _Shape:
    return _shape(User, alias, SLIM_USER)


class _Users:
    """One slim User instance per user per read."""

    def __init__(self) -> None:
        self.by_id: dict[int, Any] = {}

    def get(self, values: tuple | list) -> Any:
        if values[0] is None:
            return None
        user = self.by_id.get(values[0])
        if user is None:
            user = self.by_id[values[0]] = _user_shape("u").make(values)
        return user


@cache
def _t(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


# --- one call, or many, locked with their members -------------------------------------------------


@cache
def _call_select() -> str:
    c, u, g = _shape(Call, "c"), _user_shape("u"), _shape(Group, "g")
    return (
        f"SELECT {c.select}, {u.select}, {g.select} FROM {_t(Call)} c "
        f"JOIN {_t(User)} u ON u.id = c.caller_id LEFT JOIN {_t(Group)} g ON g.id = c.group_id"
    )


@cache
def _member_select() -> str:
    m, u, i = _shape(CallUser, "m"), _user_shape("u"), _user_shape("i")
    return (
        f"SELECT {m.select}, {u.select}, {i.select} FROM {_t(CallUser)} m "
        f"JOIN {_t(User)} u ON u.id = m.user_id LEFT JOIN {_t(User)} i ON i.id = m.inviter_id"
    )


def _read_call(row: tuple, users: _Users) -> Call:
    cs, us, gs = _shape(Call, "c"), _user_shape("u"), _shape(Group, "g")
    call = cs.make(row[: cs.width])
    call.caller = users.get(row[cs.width : cs.width + us.width])
    rest = row[cs.width + us.width :]
    call.group = gs.make(rest) if rest[0] is not None else None
    return call


def _read_member(row: tuple, users: _Users, calls: dict[int, Call]) -> CallUser:
    ms, us = _shape(CallUser, "m"), _user_shape("u")
    member = ms.make(row[: ms.width])
    member.call = calls[member.call_id]
    member.user = users.get(row[ms.width : ms.width + us.width])
    member.inviter = users.get(row[ms.width + us.width :])
    return member


def lock_call_with_members(call_id: str) -> tuple[Call, list[CallUser]] | None:
    """The call FOR UPDATE with its caller and group, then its members with users and
    inviters (pk order): one round trip. None if there is no such call."""
    call_rows, member_rows = run(
        [
            f"{_call_select()} WHERE c.call_id = %s FOR UPDATE OF c",
            f"{_member_select()} JOIN {_t(Call)} c ON c.id = m.call_id WHERE c.call_id = %s ORDER BY m.id",
        ],
        [call_id, call_id],
    )
    if not call_rows:
        return None
    users = _Users()
    call = _read_call(call_rows[0], users)
    calls = {call.pk: call}
    return call, [_read_member(r, users, calls) for r in member_rows]


def lock_calls_with_members(
    pks: list[int], *, started_only: bool, skip_locked: bool
) -> tuple[list[Call], dict[int, list[CallUser]]]:
    """Calls by pk, FOR UPDATE in pk order (SKIP LOCKED if asked), then the members of
    those it locked: one round trip."""
    lock = "FOR UPDATE OF c SKIP LOCKED" if skip_locked else "FOR UPDATE OF c"
    state = " AND c.state = %s" if started_only else ""
    params: list[Any] = [list(pks)] + ([CallState.STARTED] if started_only else []) + [list(pks)]
    # the members of every asked call are read after the locks; those of calls not locked are dropped
    call_rows, member_rows = run(
        [
            f"{_call_select()} WHERE c.id = ANY(%s){state} ORDER BY c.id {lock}",
            f"{_member_select()} WHERE m.call_id = ANY(%s) ORDER BY m.id",
        ],
        params,
    )
    users = _Users()
    calls = [_read_call(r, users) for r in call_rows]
    by_pk = {c.pk: c for c in calls}
    members: dict[int, list[CallUser]] = defaultdict(list)
    for r in member_rows:
        if r[1] in by_pk:  # m.call_id
            members[r[1]].append(_read_member(r, users, by_pk))
    return calls, members


# --- one operation's writes ------------------------------------------------------------------------


CALL_UPDATE = ("seq", "state", "ended_at", "ended_by_id")  # operations.CALL_FIELDS as columns


def _values(obj: Model, attnames: Iterable[str], json_names: frozenset[str]) -> list[Any]:
    d = obj.__dict__
    return [_json(d[a]) if a in json_names else d[a] for a in attnames]


@cache
def _insert_columns(model: type[Model]) -> tuple[tuple[str, ...], str, frozenset[str]]:
    """Everything but the pk: attnames, the quoted column list, and which are JSON."""
    qn = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    return (
        tuple(f.attname for f in fields),
        ", ".join(qn(f.column) for f in fields),
        frozenset(f.attname for f in fields if isinstance(f, JSONField)),
    )


def _rows(n: int, width: int, first: str = "") -> str:
    one = "(" + first + ", ".join(["%s"] * width) + ")"
    return ", ".join([one] * n)


@cache
def _member_sql() -> tuple[tuple[str, ...], str, str]:
    """A member row's attnames after call_id, its INSERT column list (call_id first), its UPDATE SET."""
    qn = connection.ops.quote_name
    names, _, _ = _insert_columns(CallUser)
    rest = tuple(n for n in names if n != "call_id")
    return (
        rest,
        ", ".join(qn(CallUser._meta.get_field(n).column) for n in ("call_id",) + rest),
        ", ".join(f"{qn(CallUser._meta.get_field(n).column)} = %s" for n in names),
    )


@cache
def _event_sql() -> tuple[tuple[str, ...], str, frozenset[str]]:
    """A log row's attnames after call_id, its INSERT column list (call_id first), its JSON attnames."""
    qn = connection.ops.quote_name
    names, _, js = _insert_columns(CallEvent)
    rest = tuple(n for n in names if n != "call_id")
    return rest, ", ".join(qn(CallEvent._meta.get_field(n).column) for n in ("call_id",) + rest), js


def call_ref(call: Call) -> str:
    """The call's id as SQL in its operation's write round trip: a saved call's pk, or a new
    call's through currval() of its sequence (this connection's, so it is ours)."""
    if call.pk is None:
        return f"currval(pg_get_serial_sequence('{Call._meta.db_table}', 'id'))"
    return str(int(call.pk))


def save_operation(op: Operation, handler_statements: Sequence[Statement] = ()) -> list[Rows]:
    """An operation's writes: the call (INSERT or UPDATE), each changed member, the new
    members and the log, then `handler_statements` (the record handlers' outbox rows), in
    one round trip; returns those statements' rows. A new call's id reaches its member and
    log rows through currval() of its sequence (this connection's, so it is ours)."""
    call = op.call
    statements: list[str] = []
    params: list[Any] = []
    returning: list[str] = []  # what each statement's rows are, in order ("" for none)
    new_call = call.pk is None
    if new_call:
        names, columns, js = _insert_columns(Call)
        statements.append(f"INSERT INTO {_t(Call)} ({columns}) VALUES {_rows(1, len(names))} RETURNING id")
        params += _values(call, names, js)
        returning.append("call")
        call_sql = call_ref(call)
    else:
        statements.append(f"UPDATE {_t(Call)} SET seq = %s, state = %s, ended_at = %s, ended_by_id = %s WHERE id = %s")
        params += [call.seq, call.state, call.ended_at, call.ended_by_id, call.pk]
        returning.append("")
        call_sql = "%s"
    m_names, m_columns, m_js = _insert_columns(CallUser)
    m_rest, m_cols, m_set = _member_sql()
    new = []
    for member in op.changed:
        if member._state.adding:
            new.append(member)
            continue
        statements.append(f"UPDATE {_t(CallUser)} SET {m_set} WHERE id = %s")
        params += _values(member, m_names, m_js) + [member.pk]
        returning.append("")
    if new:
        statements.append(
            f"INSERT INTO {_t(CallUser)} ({m_cols}) VALUES {_rows(len(new), len(m_rest), call_sql + ', ')} RETURNING id"
        )
        for member in new:
            if not new_call:
                params.append(call.pk)
            params += _values(member, m_rest, m_js)
        returning.append("members")
    if op.log:
        e_rest, e_cols, e_js = _event_sql()
        statements.append(
            f"INSERT INTO {_t(CallEvent)} ({e_cols}) VALUES {_rows(len(op.log), len(e_rest), call_sql + ', ')}"
        )
        for event in op.log:
            if not new_call:
                params.append(call.pk)
            params += _values(event, e_rest, e_js)
        returning.append("")
    if op.ended_now():
        # the members not written above (each row once: a second version of a row costs)
        statements.append(f"UPDATE {_t(CallUser)} SET call_running = false WHERE call_id = {call_sql} AND call_running")
        if not new_call:
            params.append(call.pk)
        returning.append("")
    results = run(*_with_handlers(statements, params, handler_statements))
    for what, rows in zip(returning, results):
        if what == "call":
            call.pk = rows[0][0]
            call._state.adding = False
            call._state.db = connection.alias
        elif what == "members":
            for member, (pk,) in zip(new, rows):
                member.pk = pk
                member.call_id = call.pk
                member._state.adding = False
                member._state.db = connection.alias
    for event in op.log:  # as bulk_create leaves them: pointing at the saved call
        event.call_id = call.pk
    return results[len(returning) :]


# --- a batch's writes ------------------------------------------------------------------------------


def flush_batch(batch: Batch, move_fields: list[str], handler_statements: Sequence[Statement] = ()) -> list[Rows]:
    """Batch.flush's writes: one UPDATE per call outcome (seq + 1), one per distinct member
    outcome, the log as one INSERT ... SELECT FROM unnest(arrays), then `handler_statements`
    (the record handlers' outbox rows): one round trip; returns those statements' rows."""
    qn = connection.ops.quote_name
    statements: list[str] = []
    params: list[Any] = []
    outcomes: dict[tuple, list[int]] = defaultdict(list)
    for op in batch.ops:
        outcomes[(op.call.state, op.call.ended_at, op.call.ended_by_id)].append(op.call.pk)
    for (state, ended_at, ended_by_id), pks in outcomes.items():
        statements.append(
            f"UPDATE {_t(Call)} SET seq = seq + 1, state = %s, ended_at = %s, ended_by_id = %s WHERE id = ANY(%s)"
        )
        params += [state, ended_at, ended_by_id, pks]
    json_names = {f.attname for f in CallUser._meta.concrete_fields if isinstance(f, JSONField)}
    same: dict[tuple, list[int]] = defaultdict(list)
    for op in batch.ops:
        for m in op.changed:
            same[tuple(getattr(m, name) for name in move_fields)].append(m.pk)
    columns = [CallUser._meta.get_field(n).column for n in move_fields]
    for values, pks in same.items():
        statements.append(f"UPDATE {_t(CallUser)} SET {', '.join(f'{qn(c)} = %s' for c in columns)} WHERE id = ANY(%s)")
        params += [_json(v) if n in json_names else v for n, v in zip(move_fields, values)] + [pks]
    ended = [op.call.pk for op in batch.ops if op.ended_now()]
    if ended:
        statements.append(f"UPDATE {_t(CallUser)} SET call_running = false WHERE call_id = ANY(%s) AND call_running")
        params.append(ended)
    events = [row for op in batch.ops for row in op.log]
    if events:
        fields = [f for f in CallEvent._meta.concrete_fields if not f.primary_key]
        arrays = ", ".join(f"%s::{f.cast_db_type(connection)}[]" for f in fields)
        statements.append(
            f"INSERT INTO {_t(CallEvent)} ({', '.join(qn(f.column) for f in fields)}) SELECT * FROM unnest({arrays})"
        )
        for f in fields:
            if f.attname == "call_id":
                params.append([e.call.pk for e in events])
            else:
                params.append([e.__dict__[f.attname] for e in events])
    skip = len(statements)
    results = run(*_with_handlers(statements, params, handler_statements))
    for event in events:
        event.call_id = event.call.pk
    return results[skip:]


# --- callInvite's reads ----------------------------------------------------------------------------


@dataclass
class InviteeFacts:
    """What resolving invitees needs: the active users by name, which of them are in the
    call's group (None: not a group call), and who of them (and the caller) is online."""

    found: dict[str, Any]
    in_group: set[int] | None
    online: set[int]


@dataclass
class InviteReads:
    """callInvite's reads before the call is made (see calls.call_invite)."""

    group: Group | None = None
    group_missing: bool = False
    other_id: int | None = None  # the one invitee, for glare
    in_call: bool = False
    candidates: list[int] = field(default_factory=list)  # glare: the other's Started calls ringing the user
    facts: InviteeFacts | None = None


@cache
def _in_call_sql() -> str:
    # the states as constants: a prepared statement's plan can then use the partial index
    # accepted_in_running_call (a parameter could be any state)
    return (
        f"SELECT EXISTS (SELECT 1 FROM {_t(CallUser)} m JOIN {_t(Call)} c ON c.id = m.call_id "
        f"WHERE m.user_id = %s AND m.state = {int(S.ACCEPTED)} AND m.call_running "
        f"AND c.state = {int(CallState.STARTED)})"
    )


@cache
def _facts_sql(by_group_id: bool, group: bool) -> tuple[str, str]:
    f = Group._meta.get_field("members")
    through, g_col, u_col = (
        connection.ops.quote_name(x) for x in (f.m2m_db_table(), f.m2m_column_name(), f.m2m_reverse_name())
    )
    u = _user_shape("u")
    # by groupID: the tenant's group (the appID, or NULL for the site's own)
    target = (
        f"(SELECT id FROM {_t(Group)} WHERE group_id = %s AND app_id IS NOT DISTINCT FROM %s)" if by_group_id else "%s"
    )
    in_group = (
        f", EXISTS (SELECT 1 FROM {through} gm WHERE gm.{g_col} = {target} AND gm.{u_col} = u.id)" if group else ""
    )
    return (
        f"SELECT {u.select}{in_group} FROM {_t(User)} u WHERE u.username = ANY(%s) AND u.is_active",
        f"SELECT DISTINCT user_id FROM {_t(Connection)} WHERE user_id = %s OR user_id IN "
        f"(SELECT id FROM {_t(User)} WHERE username = ANY(%s) AND is_active)",
    )


def _facts_params(group_ref: list[Any], names: list[str], caller_id: int | None) -> list[Any]:
    """`group_ref`: the group's pk, or its groupID and tenant, or [] for no group."""
    return [*group_ref, names, caller_id, names]


def _read_facts(user_rows: Rows, online_rows: Rows, group: bool) -> InviteeFacts:
    users = _Users()
    width = _user_shape("u").width
    found, in_group = {}, set()
    for row in user_rows:
        user = users.get(row[:width])
        found[user.username] = user
        if group and row[width]:
            in_group.add(user.pk)
    online = {r[0] for r in online_rows}
    return InviteeFacts(found=found, in_group=in_group if group else None, online=online)


def invitee_facts(names: list[str], *, group_pk: int | None, caller_id: int | None) -> InviteeFacts:
    """The invitees by username, their group membership and presence (with the caller's): one round trip."""
    group_ref = [group_pk] if group_pk is not None else []
    user_rows, online_rows = run(_facts_sql(False, group_pk is not None), _facts_params(group_ref, names, caller_id))
    return _read_facts(user_rows, online_rows, group_pk is not None)


@cache
def _invite_reads_sql(group: bool, other: bool) -> tuple[str, ...]:
    """invite_reads' statements (its parameters are made in the same order there)."""
    qn = connection.ops.quote_name
    statements = []
    if group:
        f = Group._meta.get_field("members")
        through, g_col, u_col = (qn(x) for x in (f.m2m_db_table(), f.m2m_column_name(), f.m2m_reverse_name()))
        g = _shape(Group, "g")
        statements.append(
            f"SELECT {g.select} FROM {_t(Group)} g JOIN {through} gm ON gm.{g_col} = g.id "
            f"WHERE g.group_id = %s AND g.app_id IS NOT DISTINCT FROM %s AND gm.{u_col} = %s LIMIT 1"
        )
    other_id = f"(SELECT id FROM {_t(User)} WHERE username = %s AND is_active AND id <> %s ORDER BY id LIMIT 1)"
    if other:
        # no operation locks a user row after a call row: two crossing invites serialize here
        statements.append(f"SELECT id FROM {_t(User)} WHERE id = %s OR id = {other_id} ORDER BY id FOR NO KEY UPDATE")
    else:
        statements.append(f"SELECT id FROM {_t(User)} WHERE id = %s ORDER BY id FOR NO KEY UPDATE")
    if other:
        statements.append(
            f"SELECT DISTINCT c.id FROM {_t(Call)} c JOIN {_t(CallUser)} m ON m.call_id = c.id "
            f"WHERE c.caller_id = {other_id} AND c.state = %s AND m.user_id = %s "
            f"AND m.state = ANY(%s)"
        )
    # after the candidates (each statement has its own snapshot): see calls.py _invite_reads
    statements.append(_in_call_sql())
    statements += _facts_sql(True, group)
    return tuple(statements)


def invite_reads(
    *, user_id: int, tenant: str | None, group_id: str, other_name: str | None, names: list[str]
) -> InviteReads:
    """callInvite's reads in one round trip, in this order: the group check (`group_id`
    within `tenant`); both users' rows locked FOR NO KEY UPDATE in pk order (the user and
    the one invitee, for glare); glare's candidate calls; already in a call; then the
    invitees, their group membership and who is online (used only if there is no
    glare candidate: after a wait for a candidate's lock they are read again)."""
    params: list[Any] = []
    if group_id:
        params += [group_id, tenant, user_id]
    if other_name is not None:
        params += [user_id, other_name, user_id]
    else:
        params.append(user_id)
    if other_name is not None:
        params += [other_name, user_id, CallState.STARTED, user_id, [int(s) for s in PENDING]]
    params.append(user_id)
    params += _facts_params([group_id, tenant] if group_id else [], names, user_id)
    reads = InviteReads()
    results = iter(run(_invite_reads_sql(bool(group_id), other_name is not None), params))
    if group_id:
        rows = next(results)
        if not rows:
            reads.group_missing = True
            return reads
        reads.group = _shape(Group, "g").make(rows[0])
    reads.other_id = next((pk for (pk,) in next(results) if pk != user_id), None)
    if other_name is not None:
        reads.candidates = [pk for (pk,) in next(results)]
    reads.in_call = next(results)[0][0]
    reads.facts = _read_facts(next(results), next(results), bool(group_id))
    return reads


def in_call(user_id: int) -> bool:
    """Whether the user is Accepted in a Started call."""
    [[(found,)]] = run([_in_call_sql()], [user_id])
    return found


# --- outbox rows carried in an operation's write round trip ---------------------------------------
#
# The push and webhook record handlers (push.py, webhooks.py): their rows are written by
# INSERT ... SELECT statements appended to the operation's writes, so the endpoints and
# subscriptions are never read in a round trip of their own (most operations find none).
# Python builds the payloads.


def _with_handlers(
    statements: list[str], params: list[Any], handler_statements: Iterable[Statement]
) -> tuple[list[str], list[Any]]:
    """The handlers' statements after an operation's own, for the same round trip."""
    for statement in handler_statements:
        statements.append(statement.text)
        params += statement.params
    return statements, params


def _outbox_insert(model: type[Model], exprs: dict[str, str]) -> str:
    """INSERT INTO model (every column but the pk) SELECT exprs: a model field no expression
    covers fails here, rather than being left to its database default."""
    names, columns, _ = _insert_columns(model)
    missing = set(names) ^ set(exprs)
    if missing:
        raise RuntimeError(f"{model.__name__}: no outbox expression for {sorted(missing)}")
    return f"INSERT INTO {_t(model)} ({columns}) SELECT {', '.join(exprs[n] for n in names)}"


# A new message: pending, no attempt yet, due and queued now (its job is queued on commit).
_FRESH = {
    "status": "%s",
    "attempt_count": "0",
    "next_attempt_at": "%s",
    "lease_until": "NULL",
    "queued_at": "%s",
    "created_at": "%s",
    "delivered_at": "NULL",
    "last_status": "NULL",
}


def _fresh(now: Any) -> list[Any]:
    """_FRESH's parameters, in column order (OutboxRow's fields come first in both outboxes)."""
    return [OutboxStatus.PENDING, now, now, now]


@cache
def _fresh_exprs() -> dict[str, str]:
    for model in (PushMessage, WebhookMessage):
        names, _, _ = _insert_columns(model)
        assert [n for n in names if _FRESH.get(n) == "%s"] == [
            "status",
            "next_attempt_at",
            "queued_at",
            "created_at",
        ], names
        assert list(names[: len(_FRESH)]) == list(_FRESH), names
    return dict(_FRESH)


# webhook-id as webhook_signing.message_id_new makes it: "msg_" and 18 random bytes, base64url
# (gen_random_uuid is PostgreSQL's strong random source; two give 18 bytes with ~138 random bits)
_MSG_ID = (
    "'msg_' || translate(encode(substring(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) "
    "FROM 1 FOR 18), 'base64'), '+/', '-_')"
)


@cache
def _webhook_sql(n: int) -> str:
    qn = connection.ops.quote_name
    values = ", ".join(["(%s::int, %s::varchar, %s::varchar, %s::int, %s::text, %s::varchar)"] * n)
    exprs = {
        **_fresh_exprs(),
        "endpoint_id": "e.id",
        "msg_id": _MSG_ID,
        "event_type": "v.event_type",
        "call_id": "v.call_id",
        "seq": "v.seq",
        "body": "v.body",
    }
    enabled, types, app = (qn(WebhookEndpoint._meta.get_field(n).column) for n in ("enabled", "event_types", "app"))
    # an endpoint of the call's tenant (v.app: the appID, NULL for the site's own); no types: every type
    return (
        f"{_outbox_insert(WebhookMessage, exprs)} FROM (VALUES {values}) AS v(n, event_type, call_id, seq, body, app) "
        f"JOIN {_t(WebhookEndpoint)} e ON e.{enabled} AND e.{app} IS NOT DISTINCT FROM v.app "
        f"AND (e.{types} IN ('[]'::jsonb, 'null'::jsonb) "
        f"OR e.{types} @> jsonb_build_array(v.event_type)) ORDER BY v.n, e.id RETURNING id"
    )


def webhook_rows(events: list[tuple[str, str, int, str, str | None]], now: Any) -> Statement:
    """One message per event (event type, callID, seq, body, the call's tenant) for each enabled
    endpoint of that tenant that wants its type, in event order then endpoint order. Returns the
    messages' pks."""
    params: list[Any] = _fresh(now)
    for i, (event_type, call_id, seq, body, tenant) in enumerate(events):
        params += [i, event_type, call_id, seq, body, tenant]
    return Statement(_webhook_sql(len(events)), params)


def push_invitation_rows(invitees: list[tuple[Call, CallUser, str]], now: Any) -> Statement:
    """An invitation push per (call, offline invitee, payload) for each subscription of the
    invitee, in that order then subscription order. A member made in this round trip is
    found by its call and user (one row per user and call). Returns the rows' pks."""
    params: list[Any] = _fresh(now)
    values = []
    for i, (call, member, payload) in enumerate(invitees):
        if member.pk is not None:
            ref = "%s::bigint"
            params += [i, member.user_id, member.pk, payload]
        else:
            # (SELECT currval(...)): evaluated once, so the lookup uses the (call, user) index
            ref = f"(SELECT id FROM {_t(CallUser)} WHERE call_id = (SELECT {call_ref(call)}) AND user_id = %s)"
            params += [i, member.user_id, member.user_id, payload]
        values.append(f"(%s::int, %s::bigint, {ref}, %s::text)")
    exprs = {
        **_fresh_exprs(),
        "subscription_id": "s.id",
        "member_id": "v.member_id",
        "kind": f"'{PushMessage.INVITATION}'",
        "payload": "v.payload",
    }
    text = (
        f"{_outbox_insert(PushMessage, exprs)} FROM (VALUES {', '.join(values)}) AS v(n, user_id, member_id, "
        f"payload) JOIN {_t(PushSubscription)} s ON s.user_id = v.user_id ORDER BY v.n, s.id RETURNING id"
    )
    return Statement(text, params)


@cache
def _push_closing_sql(n: int) -> str:
    pm = _t(PushMessage)
    exprs = {
        **_fresh_exprs(),
        "subscription_id": "sent.subscription_id",
        "member_id": "sent.member_id",
        "kind": f"'{PushMessage.CLOSED}'",
        "payload": "sent.payload",
    }
    values = ", ".join(["(%s::bigint, %s::timestamptz, %s::text)"] * n)
    never_sent = "sent.status = %s AND (sent.lease_until IS NULL OR sent.lease_until <= %s)"
    return (
        # the members' current invitation pushes that may have reached the push service, locked
        # (delivery's claim and _decide lock the same rows); one sent before the member's
        # invited_at belongs to an earlier invitation, already closed
        f"WITH sent AS (SELECT p.id, p.subscription_id, p.member_id, p.status, p.lease_until, v.payload "
        f"FROM {pm} p JOIN (VALUES {values}) AS v(member_id, invited_at, payload) ON p.member_id = v.member_id "
        f"WHERE p.kind = '{PushMessage.INVITATION}' AND p.status = ANY(%s) "
        f"AND (v.invited_at IS NULL OR p.created_at >= v.invited_at) FOR UPDATE OF p), "
        # not at the push service (pending, no attempt in flight): nothing to close, dropped
        f"dropped AS (UPDATE {pm} SET status = %s FROM sent WHERE {pm}.id = sent.id AND {never_sent}) "
        f"{_outbox_insert(PushMessage, exprs)} FROM sent WHERE NOT ({never_sent}) ORDER BY sent.id RETURNING id"
    )


def push_closing_rows(closed: dict[int, tuple[Any, str]], now: Any) -> Statement:
    """For members that left a pending state (member pk: its invited_at and the closing
    payload): a closing push to each subscription their current invitation push reached or
    may have reached; the invitation pushes that never left are dropped instead. Returns
    the closing rows' pks. (The members' rows are written earlier in the same round trip,
    with the invited_at given here.)"""
    params: list[Any] = []
    for pk, (invited_at, payload) in closed.items():
        params += [pk, invited_at, payload]
    params += [[OutboxStatus.PENDING, OutboxStatus.DELIVERED], OutboxStatus.DROPPED, OutboxStatus.PENDING, now]
    params += _fresh(now)
    params += [OutboxStatus.PENDING, now]
    return Statement(_push_closing_sql(len(closed)), params)
