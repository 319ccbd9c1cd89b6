"""The round trip (calls/roundtrip.py): statements prepared once per connection and
executed by name, sent inline when prepared statements are off, values written as
literals that come back exactly, and each statement's rows apart."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext

from invitations.calls import roundtrip
from invitations.calls.roundtrip import Statement, fetch, run

pytestmark = pytest.mark.django_db

ECHO = "SELECT %(value)s::text AS echoed, length(%(value)s::text) AS n"


def on_server() -> dict[str, str]:
    """This session's prepared statements (made by SQL PREPARE): name -> statement."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, statement FROM pg_prepared_statements WHERE from_sql")
        return dict(cursor.fetchall())


@contextmanager
def prepared_statements_off() -> Iterator[None]:
    """DB_PREPARED_STATEMENTS=0: psycopg's prepare_threshold None on this connection."""
    connection.ensure_connection()
    raw = connection.connection
    threshold, raw.prepare_threshold = raw.prepare_threshold, None
    try:
        yield
    finally:
        raw.prepare_threshold = threshold


@pytest.fixture(params=["prepared", "inline"])
def mode(request) -> Iterator[str]:
    if request.param == "inline":
        with prepared_statements_off():
            yield request.param
    else:
        yield request.param


def test_a_statement_is_prepared_once_per_connection_and_executed_by_name():
    text = "SELECT %(a)s::int + %(b)s::int, %(a)s::int"
    assert fetch(text, {"a": 1, "b": 2}) == [(3, 1)]
    name = roundtrip._prepared[connection.connection][text]
    before = on_server()
    assert "SELECT $1::int + $2::int, $1::int" in before[name]  # one $n per name
    for a in range(5):
        assert fetch(text, {"a": a, "b": 10}) == [(a + 10, a)]
    assert roundtrip._prepared[connection.connection][text] == name
    assert on_server() == before  # nothing prepared again


def test_a_new_connection_prepares_again():
    text = "SELECT %(a)s::int * 2"
    assert fetch(text, {"a": 4}) == [(8,)]
    main_raw = connection.connection
    main_name = roundtrip._prepared[main_raw][text]
    seen: dict[str, Any] = {}

    def other_thread() -> None:  # Django gives each thread a connection of its own
        try:
            seen["rows"] = fetch(text, {"a": 5})
            seen["raw"] = connection.connection
            seen["name"] = roundtrip._prepared[connection.connection][text]
            seen["server"] = on_server()
        finally:
            connection.close()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert seen["rows"] == [(10,)]
    assert seen["raw"] is not main_raw
    assert seen["name"] != main_name and seen["name"] in seen["server"]
    assert main_name not in seen["server"]
    assert roundtrip._prepared[main_raw][text] == main_name


def test_inline_when_prepared_statements_are_off():
    text = "SELECT %(a)s::int - 1, %(s)s::text"
    before = on_server()
    with prepared_statements_off(), CaptureQueriesContext(connection) as queries:
        assert fetch(text, {"a": 3, "s": "it's"}) == [(2, "it's")]
    assert on_server() == before  # nothing prepared
    assert text not in roundtrip._prepared.get(connection.connection, {})
    assert queries.captured_queries[0]["sql"] == "SELECT 3::int - 1, 'it''s'::text"


def test_results_come_apart_per_statement(mode):
    rows = run(
        [
            Statement("SELECT generate_series(1, %(n)s)", {"n": 3}),
            Statement("UPDATE auth_user SET is_active = is_active WHERE id = %(id)s", {"id": -1}),
            Statement("SELECT username FROM auth_user WHERE id = %(id)s", {"id": -1}),
            Statement("INSERT INTO auth_group (name) VALUES (%(name)s) RETURNING name || '!'", {"name": "probe"}),
            Statement("SELECT name FROM auth_group WHERE name = %(name)s", {"name": "probe"}),
        ]
    )
    assert rows == [[(1,), (2,), (3,)], [], [], [("probe!",)], [("probe",)]]


def test_one_round_trip_logged_with_its_values(mode):
    with CaptureQueriesContext(connection) as queries:
        run([Statement("SELECT %(a)s::int", {"a": 1}), Statement("SELECT %(b)s::text", {"b": "b"})])
    assert [q["sql"] for q in queries.captured_queries] == ["SELECT 1::int; SELECT 'b'::text"]


TEXTS = [
    "",
    "plain",
    "it's",
    "''",
    "back\\slash \\' \\\\ end\\",
    'double "quotes" and {braces}, commas',
    "NULL",
    "héllo ✓ 日本語 🎉 \u200b",
    "line\nbreak\ttab\r",
    "%(not_a_parameter)s %s %%",
    "$1 ? :x",
]


TIMES = "SELECT %(moment)s::timestamptz, '2026-03-04 05:06:07.891011+05:30'::timestamptz, NULL::timestamptz"


def test_times_come_back_as_djangos_own_do(mode):
    """psycopg's own timestamptz loader, put in for Django's, gives the very datetimes an
    ORM query gives: aware, in Django's time zone (datetime.timezone.utc), to the microsecond."""
    moment = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=timezone(timedelta(hours=-3)))
    [row] = fetch(TIMES, {"moment": moment})
    with connection.cursor() as cursor:
        cursor.execute(roundtrip.inline(Statement(TIMES, {"moment": moment})))
        [orm_row] = cursor.fetchall()
    assert row == orm_row
    assert [value.tzinfo for value in row[:2]] == [connection.timezone] * 2 == [UTC] * 2
    assert row[0] == moment and row[1] == datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC) - timedelta(
        hours=5, minutes=30
    )
    assert row[2] is None


def test_times_as_djangos_own_even_when_the_session_says_another_zone(mode):
    """Only when the session's time zone is Django's does the faster loader stand in: in
    another (Django never leaves one so) a round trip still reads times as Django does."""
    params = {"moment": datetime(2026, 1, 1, tzinfo=UTC)}
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'Asia/Shanghai'")
    try:
        [row] = fetch(TIMES, params)
        with connection.cursor() as cursor:
            cursor.execute(roundtrip.inline(Statement(TIMES, params)))
            [orm_row] = cursor.fetchall()
        assert row == orm_row
        assert [value.tzinfo for value in row[:2]] == [UTC] * 2
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")


@pytest.mark.parametrize("text", TEXTS)
def test_text_comes_back_exactly(mode, text):
    assert fetch(ECHO, {"value": text}) == [(text, len(text))]


def test_scalars_come_back_exactly(mode):
    kolkata = timezone(timedelta(hours=5, minutes=30))
    moment = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=kolkata)
    [row] = fetch(
        "SELECT %(none)s::int, %(yes)s::boolean, %(no)s::boolean, %(big)s::bigint, %(negative)s::int, "
        "%(moment)s::timestamptz, %(moment)s::timestamptz = %(utc)s::timestamptz, %(ratio)s::float8",
        {
            "none": None,
            "yes": True,
            "no": False,
            "big": 2**62 + 1,
            "negative": -42,
            "moment": moment,
            "utc": moment.astimezone(UTC),
            "ratio": 0.1,
        },
    )
    assert row == (None, True, False, 2**62 + 1, -42, moment, True, 0.1)


def test_json_comes_back_exactly(mode):
    value = {"quote": "it's", "back": "a\\b", "dq": 'say "hi"', "unicode": "日本 🎉", "list": [1, None, True], "n": 1.5}
    [(text,)] = fetch("SELECT %(j)s::jsonb::text", {"j": json.dumps(value)})
    assert json.loads(text) == value


def test_arrays_come_back_exactly(mode):
    kolkata = timezone(timedelta(hours=5, minutes=30))
    moments = [datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=kolkata), None, datetime(2025, 12, 31, 23, 59, tzinfo=UTC)]
    [row] = fetch(
        "SELECT %(texts)s::text[], %(ints)s::bigint[], %(moments)s::timestamptz[], %(flags)s::boolean[], "
        "%(empty)s::int[], %(json)s::jsonb[]::text[]",
        {
            "texts": [*TEXTS, None],
            "ints": [1, -2, 2**40, None],
            "moments": moments,
            "flags": [True, False, None],
            "empty": [],
            "json": [json.dumps({"k": 'v"\\'}), None],
        },
    )
    assert row[0] == [*TEXTS, None]
    assert row[1] == [1, -2, 2**40, None]
    assert row[2] == moments
    assert row[3] == [True, False, None]
    assert row[4] == []
    assert json.loads(row[5][0]) == {"k": 'v"\\'} and row[5][1] is None


def test_nul_is_refused_as_postgresql_refuses_it(mode):
    with pytest.raises(DataError), transaction.atomic():
        fetch(ECHO, {"value": "nul\x00"})


def test_a_failed_round_trip_records_nothing_it_prepared():
    good, bad = "SELECT %(a)s::int + 100", "SELECT 1 / %(z)s::int"
    with pytest.raises(Exception), transaction.atomic():
        run([Statement(good, {"a": 1}), Statement(bad, {"z": 0})])
    assert good not in roundtrip._prepared.get(connection.connection, {})
    assert run([Statement(good, {"a": 1}), Statement(bad, {"z": 1})]) == [[(101,)], [(1,)]]
    assert {good, bad} <= set(roundtrip._prepared[connection.connection])
