"""The PostgreSQL fast path of the hot operations: the same reads and writes as
the ORM path, as raw SQL through Django's connection, several statements per
round trip.

Why: an invite or an accept is a handful of index lookups that take well
under a millisecond in PostgreSQL, but each ORM statement costs more CPU in
Python than the query costs the database, and each is a round trip of its
own (bench/waterfall.py, bench/profile_cpu.py). Django's psycopg cursor binds
parameters client-side, so several statements go in one `execute` and their
results are read with `nextset()`; each statement still runs in order and gets
its own snapshot, so a read placed after a `FOR UPDATE` sees what the lock
holder committed.

Every function has an ORM twin, used on SQLite (the embedded default) and any
other backend; both paths are tested (tests/services run on either database).
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Model
from django.utils import timezone

from ..models import Call, CallEvent, CallUser, Connection
from ..states import PENDING, CallState, CallUserState as S

User = get_user_model()


def fast() -> bool:
    return connection.vendor == "postgresql"


# --- columns and rows ---------------------------------------------------------------------------


def _fields(model: type[Model]) -> list[Any]:
    if model is User:  # what operations and payloads read of a user; any other field loads on access
        return [User._meta.pk, User._meta.get_field(User.USERNAME_FIELD), User._meta.get_field("is_active")]
    return list(model._meta.concrete_fields)


def _select(model: type[Model], alias: str) -> str:
    return ", ".join(f'{alias}."{f.column}"' for f in _fields(model))


def _instance(model: type[Model], row: Sequence[Any]) -> Model:
    """A model instance from a row of _select(model) (as the ORM would load it; fields
    not selected are deferred, as with `.only()`)."""
    values = []
    for f, value in zip(_fields(model), row):
        if value is not None and hasattr(f, "from_db_value"):  # JSONField: jsonb arrives as text
            value = f.from_db_value(value, None, connection)
        values.append(value)
    return model.from_db(connection.alias, [f.attname for f in _fields(model)], values)


def _user(row: Sequence[Any], seen: dict[int, Any]) -> Any:
    """A User from a row of _select(User), one instance per user within one read (a page
    names the same few users many times)."""
    user = seen.get(row[0])
    if user is None:
        user = seen[row[0]] = _instance(User, row)
    return user


def _db_values(obj: Model, fields: Iterable[Any]) -> list[Any]:
    return [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]


def _results(cursor: Any) -> Iterable[list[tuple]]:
    """The rows of each statement of a multi-statement execute, in order."""
    while True:
        yield cursor.fetchall() if cursor.description else []
        if not cursor.nextset():
            return


# --- reads ----------------------------------------------------------------------------------------


def lock_call_with_members(call_id: str) -> tuple[Call, list[CallUser]] | None:
    """The call locked (FOR UPDATE), with its caller, and its members with their users
    and inviters in pk order: one round trip (None if there is no such call)."""
    users: dict[int, Any] = {}
    n_call, n_user, n_member = len(_fields(Call)), len(_fields(User)), len(_fields(CallUser))
    call_t, member_t, user_t = Call._meta.db_table, CallUser._meta.db_table, User._meta.db_table
    sql = (
        f'SELECT {_select(Call, "c")}, {_select(User, "u")} FROM "{call_t}" c '
        f'JOIN "{user_t}" u ON u.id = c.caller_id WHERE c.call_id = %s FOR UPDATE OF c; '
        f'SELECT {_select(CallUser, "m")}, {_select(User, "u")}, {_select(User, "i")} FROM "{member_t}" m '
        f'JOIN "{user_t}" u ON u.id = m.user_id LEFT JOIN "{user_t}" i ON i.id = m.inviter_id '
        f'WHERE m.call_id = (SELECT id FROM "{call_t}" WHERE call_id = %s) ORDER BY m.id'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [call_id, call_id])
        call_rows, member_rows = list(_results(cursor))
    if not call_rows:
        return None
    row = call_rows[0]
    call = _instance(Call, row[:n_call])
    call.caller = _user(row[n_call:], users)
    members = []
    for row in member_rows:
        member = _instance(CallUser, row[:n_member])
        member.call = call
        member.user = _user(row[n_member:n_member + n_user], users)
        if member.inviter_id is not None:
            member.inviter = _user(row[n_member + n_user:], users)
        members.append(member)
    return call, members


def invite_checks(user: Any, names: list[str]) -> tuple[bool, dict[str, Any], set[int]]:
    """callInvite's reads, the caller's row locked first (it serializes one user's
    callInvite/callJoin): (already in an accepted running call, active users by
    username, which of them and the caller have a device connected)."""
    users: dict[int, Any] = {}
    if not fast():
        User.objects.select_for_update().filter(pk=user.pk).exists()
        busy = CallUser.objects.filter(user=user, state=S.ACCEPTED, call__state=CallState.STARTED).exists()
        if busy:
            return True, {}, set()
        found = {u.username: u for u in User.objects.filter(username__in=names, is_active=True)}
        ids = [user.pk] + [u.pk for u in found.values()]
        online = set(Connection.objects.filter(user_id__in=ids).values_list("user_id", flat=True))
        return False, found, online
    member_t, call_t, user_t = CallUser._meta.db_table, Call._meta.db_table, User._meta.db_table
    conn_t = Connection._meta.db_table
    sql = (
        f'SELECT 1 FROM "{user_t}" WHERE id = %s FOR UPDATE; '
        f'SELECT EXISTS (SELECT 1 FROM "{member_t}" m JOIN "{call_t}" c ON c.id = m.call_id '
        f'WHERE m.user_id = %s AND m.state = %s AND c.state = %s); '
        f'SELECT {_select(User, "u")}, EXISTS (SELECT 1 FROM "{conn_t}" x WHERE x.user_id = u.id) '
        f'FROM "{user_t}" u WHERE (u.username = ANY(%s) AND u.is_active) OR u.id = %s'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk, user.pk, int(S.ACCEPTED), int(CallState.STARTED), list(names), user.pk])
        _, busy_rows, user_rows = list(_results(cursor))
    if busy_rows[0][0]:
        return True, {}, set()
    found: dict[str, Any] = {}
    online: set[int] = set()
    for row in user_rows:
        other = _user(row[:-1], users)
        if row[-1]:
            online.add(other.pk)
        if other.username in names and other.is_active:
            found[other.username] = other
    return False, found, online


# --- writes ---------------------------------------------------------------------------------------


def save(call: Call, call_fields: list[str], members: list[CallUser], events: list[CallEvent]) -> None:
    """Write one operation: the call (insert, or update of call_fields), each changed
    member (insert, or update of every column, as Model.save() does) and the log
    rows: one round trip. Sets the pks of what it inserts."""
    call_t, member_t, event_t = Call._meta.db_table, CallUser._meta.db_table, CallEvent._meta.db_table
    statements: list[str] = []
    params: list[Any] = []
    new_call = call.pk is None
    if new_call:
        fields = [f for f in _fields(Call) if not f.primary_key]
        statements.append(f'INSERT INTO "{call_t}" ({", ".join(chr(34) + f.column + chr(34) for f in fields)}) '
                          f'VALUES ({", ".join(["%s"] * len(fields))}) RETURNING id')
        params += _db_values(call, fields)
        call_id_sql = f"currval(pg_get_serial_sequence('{call_t}', 'id'))"
    else:
        fields = [Call._meta.get_field(name) for name in call_fields]
        statements.append(f'UPDATE "{call_t}" SET {", ".join(chr(34) + f.column + chr(34) + " = %s" for f in fields)} '
                          f"WHERE id = %s")
        params += _db_values(call, fields) + [call.pk]
        call_id_sql = "%s"
    member_fields = [f for f in _fields(CallUser) if not f.primary_key]
    for member in members:
        if not member._state.adding:
            statements.append(f'UPDATE "{member_t}" SET '
                              f'{", ".join(chr(34) + f.column + chr(34) + " = %s" for f in member_fields)} WHERE id = %s')
            params += _db_values(member, member_fields) + [member.pk]
    new = [m for m in members if m._state.adding]
    if new:
        statements.append(_insert_rows(member_t, member_fields, new, call_id_sql, call, params))
    if events:
        event_fields = [f for f in _fields(CallEvent) if not f.primary_key]
        statements.append(_insert_rows(event_t, event_fields, events, call_id_sql, call, params))
    with connection.cursor() as cursor:
        cursor.execute("; ".join(statements), params)
        results = list(_results(cursor))
    if new_call:
        call.pk = results[0][0][0]
        call._state.adding = False
        for obj in [*members, *events]:
            obj.call_id = call.pk
    if events:
        _set_pks(events, results[-1])
    if new:
        _set_pks(new, results[-2] if events else results[-1])


def _insert_rows(table: str, fields: list[Any], objs: list[Model], call_id_sql: str, call: Call,
                 params: list[Any]) -> str:
    rows = []
    for obj in objs:
        cells = []
        for f in fields:
            if f.attname == "call_id":
                cells.append(call_id_sql)
                if call_id_sql == "%s":
                    params.append(call.pk)
            else:
                cells.append("%s")
                params.append(f.get_db_prep_save(getattr(obj, f.attname), connection))
        rows.append(f"({', '.join(cells)})")
    return (f'INSERT INTO "{table}" ({", ".join(chr(34) + f.column + chr(34) for f in fields)}) '
            f"VALUES {', '.join(rows)} RETURNING id")


def _set_pks(objs: list[Model], rows: list[tuple]) -> None:
    for obj, row in zip(objs, rows):
        obj.pk = row[0]
        obj._state.adding = False
        obj._state.db = connection.alias


def calls_with_members(ids: list[int]) -> dict[int, Call]:
    """Calls by pk, each with its caller, ended_by and members (with user and inviter)
    loaded as `with_members()` loads them, in one statement (the list page)."""
    if not ids:
        return {}
    return _calls_with_members("", [], "c.id = ANY(%s)", [list(ids)])[1]


def member_call_page(*, user_id: int, count: int, next_flag: int) -> tuple[list[int], dict[int, Call]]:
    """A page of the user's calls, newest first (keyset on the call id, through the
    member index): the ids of up to count + 1 calls, and the first `count` calls with
    members as calls_with_members() loads them; one statement, so one snapshot."""
    member_t = CallUser._meta.db_table
    page = (f'SELECT call_id FROM "{member_t}" WHERE user_id = %s'
            + (" AND call_id < %s" if next_flag else "") + " ORDER BY call_id DESC LIMIT %s")
    page_params = [user_id] + ([next_flag] if next_flag else []) + [count + 1]
    # the first `count` of the page: all of it, or all but its oldest when it is full (no sort)
    first = ("c.id IN (SELECT call_id FROM page) AND ((SELECT count(*) FROM page) <= %s "
             "OR c.id <> (SELECT min(call_id) FROM page))")
    return _calls_with_members(page, page_params, first, [count])


def _calls_with_members(page: str, page_params: list[Any], where: str,
                        params: list[Any]) -> tuple[list[int], dict[int, Call]]:
    users: dict[int, Any] = {}
    n_call, n_user, n_member = len(_fields(Call)), len(_fields(User)), len(_fields(CallUser))
    call_t, member_t, user_t = Call._meta.db_table, CallUser._meta.db_table, User._meta.db_table
    sql = (
        (f"WITH page AS ({page}) SELECT (SELECT array_agg(call_id) FROM page), "
         if page else "SELECT NULL, ")
        + f'{_select(Call, "c")}, {_select(User, "cu")}, {_select(User, "eb")}, {_select(CallUser, "m")}, '
        f'{_select(User, "u")}, {_select(User, "i")} FROM "{call_t}" c '
        f'JOIN "{user_t}" cu ON cu.id = c.caller_id LEFT JOIN "{user_t}" eb ON eb.id = c.ended_by_id '
        f'LEFT JOIN "{member_t}" m ON m.call_id = c.id LEFT JOIN "{user_t}" u ON u.id = m.user_id '
        f'LEFT JOIN "{user_t}" i ON i.id = m.inviter_id WHERE {where}'
    )  # ordered here, not by a Sort: the page is read in index order, members by pk below
    with connection.cursor() as cursor:
        cursor.execute(sql, [*page_params, *params])
        raw = cursor.fetchall()
    # every row carries the page's ids (no rows: an empty page)
    page_ids: list[int] = sorted(raw[0][0] or [], reverse=True) if page and raw else []
    member_pk_at = 1 + n_call + 2 * n_user  # (page ids, call, caller, ended_by, member...)
    raw.sort(key=lambda r: (r[1], r[member_pk_at] or 0))  # by call, then member pk
    calls: dict[int, Call] = {}
    at = n_call
    for full_row in raw:
        row = full_row[1:]
        call = calls.get(row[0])
        if call is None:
            call = _instance(Call, row[:n_call])
            call.caller = _user(row[at:at + n_user], users)
            if call.ended_by_id is not None:
                call.ended_by = _user(row[at + n_user:at + 2 * n_user], users)
            call._prefetched_objects_cache = {"members": []}
            calls[call.pk] = call
        m0 = at + 2 * n_user
        if row[m0] is None:  # a call without members (none in practice)
            continue
        member = _instance(CallUser, row[m0:m0 + n_member])
        member.call = call
        member.user = _user(row[m0 + n_member:m0 + n_member + n_user], users)
        if member.inviter_id is not None:
            member.inviter = _user(row[m0 + n_member + n_user:], users)
        call._prefetched_objects_cache["members"].append(member)
    for call in calls.values():  # call.members.all() serves the loaded list
        call._prefetched_objects_cache["members"] = _as_queryset(call, call._prefetched_objects_cache["members"])
    return page_ids, calls


def _as_queryset(call: Call, members: list[CallUser]) -> Any:
    qs = CallUser.objects.all()  # as Django's prefetch stores it: a queryset with its result cache
    qs._result_cache = members
    qs._prefetch_done = True
    return qs


def token_with_user(key_hash: str) -> tuple[int, Any, Any] | None:
    """(token pk, its last_used_at, its active user) for a live token's hash, or None."""
    from ..models import ApiToken

    token_t, user_t = ApiToken._meta.db_table, User._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT t.id, t.last_used_at, {_select(User, "u")} FROM "{token_t}" t '
                       f'JOIN "{user_t}" u ON u.id = t.user_id WHERE t.key_hash = %s AND NOT t.revoked '
                       f"AND u.is_active LIMIT 1", [key_hash])
        row = cursor.fetchone()
    return None if row is None else (row[0], row[1], _instance(User, row[2:]))


def due_call_ids(*, user_id: int | None = None, call_id: str | None = None) -> list[int]:
    """Running calls with a pending invitee past its deadline, among the user's calls or
    the one call (what a read expires first)."""
    member_t, call_t = CallUser._meta.db_table, Call._meta.db_table
    where, params = "", []
    if user_id is not None:
        where += f' AND EXISTS (SELECT 1 FROM "{member_t}" me WHERE me.call_id = m.call_id AND me.user_id = %s)'
        params.append(user_id)
    if call_id is not None:
        where += " AND c.call_id = %s"
        params.append(call_id)
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT DISTINCT m.call_id FROM "{member_t}" m JOIN "{call_t}" c ON c.id = m.call_id '
                       f"WHERE m.state = ANY(%s) AND m.deadline <= %s AND c.state = %s{where}",
                       [[int(s) for s in PENDING], timezone.now(), int(CallState.STARTED), *params])
        return [row[0] for row in cursor.fetchall()]


def connection_insert(*, user_id: int, device_id: str, channel_name: str, server_id: str) -> bool:
    """Insert a Connection row; True if the user had no other one (their first device)."""
    conn_t = Connection._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f'WITH prior AS (SELECT EXISTS (SELECT 1 FROM "{conn_t}" WHERE user_id = %s) AS others) '
                       f'INSERT INTO "{conn_t}" (channel_name, user_id, device_id, server_id, connected_at) '
                       f"VALUES (%s, %s, %s, %s, %s) RETURNING (SELECT NOT others FROM prior)",
                       [user_id, channel_name, user_id, device_id, server_id, timezone.now()])
        return bool(cursor.fetchone()[0])


def waiting_call_ids(*, user_id: int, states: Iterable[int]) -> list[int]:
    """Running calls where the user is an invitee in one of `states` whose deadline is ahead."""
    member_t, call_t = CallUser._meta.db_table, Call._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT m.call_id FROM "{member_t}" m JOIN "{call_t}" c ON c.id = m.call_id '
                       f"WHERE m.user_id = %s AND m.state = ANY(%s) AND m.deadline > %s AND c.state = %s",
                       [user_id, [int(s) for s in states], timezone.now(), int(CallState.STARTED)])
        return [row[0] for row in cursor.fetchall()]


def lock_calls_with_members(pks: list[int], *, skip_locked: bool) -> list[tuple[Call, list[CallUser]]]:
    """The running calls among pks, locked (FOR UPDATE, optionally SKIP LOCKED) in pk
    order, each with its caller and members: one round trip (a batch of expiries)."""
    users: dict[int, Any] = {}
    n_call, n_user, n_member = len(_fields(Call)), len(_fields(User)), len(_fields(CallUser))
    call_t, member_t, user_t = Call._meta.db_table, CallUser._meta.db_table, User._meta.db_table
    sql = (
        f'SELECT {_select(Call, "c")}, {_select(User, "u")} FROM "{call_t}" c '
        f'JOIN "{user_t}" u ON u.id = c.caller_id WHERE c.id = ANY(%s) AND c.state = %s ORDER BY c.id '
        f'FOR UPDATE OF c{" SKIP LOCKED" if skip_locked else ""}; '
        f'SELECT {_select(CallUser, "m")}, {_select(User, "u")}, {_select(User, "i")} FROM "{member_t}" m '
        f'JOIN "{user_t}" u ON u.id = m.user_id LEFT JOIN "{user_t}" i ON i.id = m.inviter_id '
        f"WHERE m.call_id = ANY(%s) ORDER BY m.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(pks), int(CallState.STARTED), list(pks)])
        call_rows, member_rows = list(_results(cursor))
    calls: dict[int, tuple[Call, list[CallUser]]] = {}
    for row in call_rows:
        call = _instance(Call, row[:n_call])
        call.caller = _user(row[n_call:], users)
        calls[call.pk] = (call, [])
    call_id_at = [f.attname for f in _fields(CallUser)].index("call_id")
    for row in member_rows:
        entry = calls.get(row[call_id_at])  # members of calls not locked (skipped) are dropped
        if entry is None:
            continue
        member = _instance(CallUser, row[:n_member])
        member.call = entry[0]
        member.user = _user(row[n_member:n_member + n_user], users)
        if member.inviter_id is not None:
            member.inviter = _user(row[n_member + n_user:], users)
        entry[1].append(member)
    return list(calls.values())


def flush_batch(call_outcomes: dict[tuple, list[int]], member_fields: list[str], member_outcomes: dict[tuple, list[int]],
                events: list[CallEvent]) -> None:
    """A batch's writes (operations.Batch.flush) in one round trip: each call's seq + 1 and
    end, one UPDATE per outcome; the members, one UPDATE per distinct set of values; the
    log rows in one INSERT from arrays (one parameter per column, however many rows)."""
    call_t, member_t, event_t = Call._meta.db_table, CallUser._meta.db_table, CallEvent._meta.db_table
    statements: list[str] = []
    params: list[Any] = []
    for (state, ended_at, ended_by_id), pks in call_outcomes.items():
        statements.append(f'UPDATE "{call_t}" SET seq = seq + 1, state = %s, ended_at = %s, ended_by_id = %s '
                          f"WHERE id = ANY(%s)")
        params += [state, ended_at, ended_by_id, pks]
    fields = [CallUser._meta.get_field(name) for name in member_fields]
    for values, pks in member_outcomes.items():
        statements.append(f'UPDATE "{member_t}" SET {", ".join(chr(34) + f.column + chr(34) + " = %s" for f in fields)}'
                          f" WHERE id = ANY(%s)")
        params += [f.get_db_prep_save(v, connection) for f, v in zip(fields, values)] + [pks]
    if events:
        event_fields = [f for f in _fields(CallEvent) if not f.primary_key]
        columns = ", ".join(chr(34) + f.column + chr(34) for f in event_fields)
        arrays = ", ".join(f"%s::{f.cast_db_type(connection)}[]" for f in event_fields)
        statements.append(f'INSERT INTO "{event_t}" ({columns}) SELECT * FROM unnest({arrays})')
        params += [[f.get_db_prep_save(getattr(e, f.attname), connection) for e in events] for f in event_fields]
    with connection.cursor() as cursor:
        cursor.execute("; ".join(statements), params)
