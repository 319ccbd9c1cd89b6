"""The literal statements against the models: every column list written out in
calls/sql.py, writes.py, delivery/sql.py and beside the other raw statements
names exactly the model's concrete fields in their order, so a migration that adds
or renames a column fails here; the constants written into statements are the
models' and states' values."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import JSONField, Model

from invitations.accounts import tokens
from invitations.calls import operation, sql, writes
from invitations.calls.states import PENDING, CallState
from invitations.calls.states import CallUserState as S
from invitations.delivery import sql as delivery_sql
from invitations.media import rooms
from invitations.models import (
    Call,
    CallEvent,
    CallUser,
    Connection,
    Group,
    MediaTask,
    OutboxStatus,
    PushMessage,
    UserStatus,
    WebhookMessage,
)
from invitations.realtime import presence

User = get_user_model()


def columns(model: type[Model], alias: str, names: tuple[str, ...] | None = None) -> str:
    fields = [f for f in model._meta.concrete_fields if names is None or f.name in names or f.attname in names]
    return ", ".join(f"{alias}.{f.column}" for f in fields)


def inserted(model: type[Model]) -> list[str]:
    return [str(f.column) for f in model._meta.concrete_fields if not f.primary_key]


def insert_columns(statement: str) -> tuple[str, list[str]]:
    table, names = re.search(r"INSERT INTO (\w+) \(([^)]*)\)", statement).groups()
    return table, [n.strip() for n in names.split(",")]


def set_columns(statement: str) -> list[str]:
    assignments = re.search(r" SET (.*) WHERE ", statement).group(1)
    return [a.split(" = ")[0].strip() for a in assignments.split(", ")]


def test_column_lists_are_the_models_fields_in_order():
    assert sql.CALL_COLUMNS == columns(Call, "c")
    assert sql.MEMBER_COLUMNS == columns(CallUser, "m")
    assert sql.GROUP_COLUMNS == columns(Group, "g")
    # slim users: the named fields, in the model's order (Model.from_db reads a partial row so)
    assert sql.USER_COLUMNS == columns(User, "u", sql.SLIM_USER_FIELDS)
    assert sql.INVITER_COLUMNS == columns(User, "i", sql.SLIM_USER_FIELDS)
    assert sql.USER_COLUMNS == ", ".join(f"u.{n}" for n in sql.SLIM_USER_FIELDS)


@pytest.mark.parametrize(
    "statement, parts",
    [
        (sql.CALL_SELECT, [sql.CALL_COLUMNS, sql.USER_COLUMNS, sql.GROUP_COLUMNS]),
        (sql.MEMBER_SELECT, [sql.MEMBER_COLUMNS, sql.USER_COLUMNS, sql.INVITER_COLUMNS]),
        (sql.GROUP_OF_MEMBER, [sql.GROUP_COLUMNS]),
        (sql.INVITEES, [sql.USER_COLUMNS]),
        (sql.INVITEES_IN_GROUP, [sql.USER_COLUMNS]),
        (sql.INVITEES_IN_GROUP_ID, [sql.USER_COLUMNS]),
        (tokens.TOKEN_USER, ["t.id, t.last_used_at, " + columns(User, "u")]),
    ],
)
def test_selects_name_every_column(statement, parts):
    select = statement.split(" FROM ")[0]
    assert select == "SELECT " + ", ".join(parts) or select.startswith("SELECT " + ", ".join(parts) + ", EXISTS")


def test_locks_read_the_selects_above():
    assert sql.LOCK_CALL.startswith(sql.CALL_SELECT + " WHERE ")
    assert sql.MEMBERS_OF_CALL.startswith(sql.MEMBER_SELECT + " JOIN ")
    assert sql.MEMBERS_OF_CALLS.startswith(sql.MEMBER_SELECT + " WHERE ")
    for started_only in (False, True):
        for skip_locked in (False, True):
            assert sql.lock_calls(started_only=started_only, skip_locked=skip_locked).startswith(sql.CALL_SELECT)


@pytest.mark.parametrize(
    "statement, model",
    [
        (sql.INSERT_CALL, Call),
        (sql.INSERT_MEMBERS, CallUser),
        (sql.INSERT_EVENTS, CallEvent),
        (delivery_sql.WEBHOOK_ROWS, WebhookMessage),
        (delivery_sql.PUSH_INVITATION_ROWS, PushMessage),
        (delivery_sql.PUSH_CLOSING_ROWS, PushMessage),
        (rooms.TASK_ROWS, MediaTask),
        (presence.INSERT_CONNECTION, Connection),
    ],
)
def test_inserts_name_every_column(statement, model):
    assert insert_columns(statement) == (model._meta.db_table, inserted(model))


def test_written_fields_are_the_models():
    for model, names in writes.WRITTEN.items():
        assert list(names) == [f.attname for f in model._meta.concrete_fields if not f.primary_key], model
    json_fields = {f.attname for m in writes.WRITTEN for f in m._meta.concrete_fields if isinstance(f, JSONField)}
    assert writes.JSON_FIELDS == json_fields
    assert set_columns(sql.UPDATE_MEMBER) == inserted(CallUser)
    # what an operation changes on a call, and on a member in a batch
    assert set_columns(sql.UPDATE_CALL) == [Call._meta.get_field(n).column for n in operation.CALL_FIELDS]
    assert set_columns(sql.UPDATE_CALLS) == ["seq", *set_columns(sql.UPDATE_CALL)[1:]]
    assert set_columns(sql.MOVE_MEMBERS) == [CallUser._meta.get_field(n).column for n in operation.MOVE_FIELDS]
    assert list(sql.MOVE_FIELDS) == operation.MOVE_FIELDS


def test_tables_are_the_models():
    known = {m._meta.db_table for m in apps.get_models()} | {
        f.m2m_db_table() for m in apps.get_models() for f in m._meta.local_many_to_many
    }
    known.add("invitations_call_id_seq")  # the calls' ids (test_the_new_call_sequence_is_the_call_ids)
    statements = [
        v
        for module in (sql, delivery_sql)
        for k, v in vars(module).items()
        if not k.startswith("__") and isinstance(v, str) and ("SELECT" in v or "UPDATE" in v)
    ]
    statements += [*sql._LOCK_CALLS.values(), tokens.TOKEN_USER, rooms.TASK_ROWS]
    statements += [presence.LOCK_USER, presence.INSERT_CONNECTION, presence.PENDING_INVITATION]
    for statement in statements:
        tables = set(re.findall(r"\b(?:invitations|auth)_\w+", statement))
        assert tables and tables <= known, (tables - known, statement)


def test_constants_in_statements_are_the_models_values():
    # the partial index accepted_in_running_call: Accepted in a Started call
    assert "m.state = 1 AND m.call_running AND c.state = 1" in sql.IN_CALL
    assert S.ACCEPTED == 1 and CallState.STARTED == 1
    assert "m.state IN (0, 5, 9) AND c.state = 1" in presence.PENDING_INVITATION
    assert sorted(int(s) for s in PENDING) == [0, 5, 9]
    assert "status = 'dnd'" in sql.DND and UserStatus.DND == "dnd"
    assert f"'{PushMessage.INVITATION}'" in delivery_sql.PUSH_INVITATION_ROWS
    assert f"'{PushMessage.CLOSED}'" in delivery_sql.PUSH_CLOSING_ROWS
    assert Call._meta.db_table == "invitations_call" and Call._meta.pk.column == "id"
    assert OutboxStatus.PENDING == "pending"


@pytest.mark.django_db
def test_the_new_call_sequence_is_the_call_ids():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')::regclass::text", [Call._meta.db_table])
        assert cursor.fetchone()[0] == "invitations_call_id_seq"
    for statement in (sql.CALL_REF, sql.INSERT_MEMBERS, sql.INSERT_EVENTS, delivery_sql.PUSH_INVITATION_ROWS):
        assert "currval('invitations_call_id_seq')" in statement
