"""Several statements in one network round trip, each PREPAREd once per connection.

This is the one thing the hot paths need that Django does not offer. A round
trip is one text sent through Django's connection (psycopg's simple query
protocol): the statements run in order, each with its own snapshot (READ
COMMITTED), so a read placed after a `FOR UPDATE` sees what the lock holder
committed, as a separate ORM query would. Each statement's rows come back
separately (`cursor.nextset()`).

Statements are literal SQL with `%(name)s` parameters (calls/sql.py,
delivery/sql.py). Each text is turned once per process into a `$1..$n` form
and its parameters' order. The first time a connection runs a statement, the
round trip carries `PREPARE name AS ...` before it; from then on only
`EXECUTE name(values)`, so the server neither parses nor plans it again.
Parameter types come from where the statement uses them (a cast is written
where the context does not say). Values are written as SQL literals (`literal`):
quoted strings are of unknown type, so PostgreSQL gives them the parameter's.

A prepared statement outlives the transaction that made it (a rollback keeps
it) and dies with its connection, as this module's record of it does (a
WeakKeyDictionary on the psycopg connection; the pool keeps connections across
requests). With `DB_PREPARED_STATEMENTS=0` (psycopg's `prepare_threshold` None,
for a pooler in transaction mode) the statements go with their values in place.

Django's execute wrappers see a round trip as one execute of the statements
joined by "; "; its query log gets one entry per round trip, with the values in
place; database errors come out as Django's.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from datetime import time as clock_time
from decimal import Decimal
from typing import Any, NamedTuple

import psycopg
from django.db import connection

Rows = list[tuple[Any, ...]]


class Statement(NamedTuple):
    """One statement (literal SQL, `%(name)s` parameters) and its parameters' values."""

    text: str
    params: Mapping[str, Any]


def run(statements: Sequence[Statement]) -> list[Rows]:
    """Run `statements` in order in one round trip; each one's rows ([] for none)."""
    if not statements:
        return []
    text = "; ".join(s.text for s in statements)
    executor: Callable[..., Any] = _send
    for wrapper in reversed(connection.execute_wrappers):
        executor = functools.partial(wrapper, executor)
    context = {"connection": connection, "cursor": None}
    if not connection.queries_logged:
        return executor(text, statements, False, context)
    start = time.monotonic()
    try:
        return executor(text, statements, False, context)
    finally:
        duration = time.monotonic() - start
        connection.queries_log.append({"sql": "; ".join(_logged(s) for s in statements), "time": f"{duration:.3f}"})


def _logged(statement: Statement) -> str:
    """The statement as the query log shows it: with its values in place, or as written if
    they cannot be (the round trip raised that error already)."""
    try:
        return inline(statement)
    except (KeyError, TypeError, psycopg.DataError):
        return statement.text


def fetch(text: str, params: Mapping[str, Any]) -> Rows:
    """One statement's rows, in a round trip of its own."""
    return run([Statement(text, params)])[0]


# --- statements: numbered once ----------------------------------------------------------------------------


class _Form(NamedTuple):
    numbered: str  # the text with $1..$n
    names: tuple[str, ...]  # the parameter of $1..$n
    template: str  # the text with {0}..{k} for each placeholder, in order (the inline form)
    order: tuple[str, ...]  # the parameter of each placeholder


_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")
_forms: dict[str, _Form] = {}


def _form(text: str) -> _Form:
    form = _forms.get(text)
    if form is None:
        names: dict[str, int] = {}
        order: list[str] = []

        def numbered(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "%"
            return f"${names.setdefault(name, len(names) + 1)}"

        def templated(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "%"
            order.append(name)
            return f"{{{len(order) - 1}}}"

        escaped = text.replace("{", "{{").replace("}", "}}")
        form = _Form(_PLACEHOLDER.sub(numbered, text), tuple(names), _PLACEHOLDER.sub(templated, escaped), ())
        form = _forms[text] = form._replace(order=tuple(order))
    return form


def inline(statement: Statement) -> str:
    """The statement with its values in place."""
    form = _form(statement.text)
    params = statement.params
    return form.template.format(*[literal(params[name]) for name in form.order])


# --- values as SQL literals ---------------------------------------------------------------------------------


def _quote(text: str) -> str:
    if "\x00" in text:  # as psycopg refuses it
        raise psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    if "\\" in text:  # an escape string: right whatever standard_conforming_strings says
        return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
    return "'" + text.replace("'", "''") + "'"


def _element(value: Any) -> str:
    """One element of an array's text form."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (date, clock_time)):
        return '"' + value.isoformat() + '"'
    if isinstance(value, (float, Decimal)):
        return '"' + str(value) + '"'
    raise TypeError(f"no SQL literal for an array of {type(value).__name__}")


def _array(values: Sequence[Any]) -> str:
    return _quote("{" + ",".join([_element(v) for v in values]) + "}")


def _float(value: float) -> str:
    return repr(value) if math.isfinite(value) else f"'{value!r}'".replace("inf", "Infinity").replace("nan", "NaN")


def _literal_of_subclass(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):  # an IntEnum: its number
        return int.__repr__(value)
    if isinstance(value, str):  # a TextChoices: its text
        return _quote(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, (date, clock_time)):
        return "'" + value.isoformat() + "'"
    if isinstance(value, Decimal):
        return "'" + str(value) + "'"
    if isinstance(value, (list, tuple)):
        return _array(value)
    raise TypeError(f"no SQL literal for {type(value).__name__}")


_LITERALS: dict[type, Callable[[Any], str]] = {
    type(None): lambda _: "NULL",
    bool: lambda v: "true" if v else "false",
    int: int.__repr__,
    str: _quote,
    # ISO 8601 with its offset: the same instant whatever the session's time zone
    datetime: lambda v: "'" + v.isoformat() + "'",
    list: _array,
    tuple: _array,
    float: _float,
}


def literal(value: Any) -> str:
    """`value` as an SQL literal: NULL, true/false, a number, or a quoted string (text, an ISO
    time, an array's text form) of unknown type, which takes the type its place gives it.
    JSON goes as its text (json.dumps), as Django writes it."""
    write = _LITERALS.get(type(value))
    return write(value) if write is not None else _literal_of_subclass(value)


# --- the round trip ---------------------------------------------------------------------------------------

# Django loads timestamptz with a Python subclass of psycopg's loader, only to set the
# tzinfo to its connection's time zone; the loader psycopg itself registers (its C one
# where psycopg-binary is installed) gives the same aware datetimes when the session's
# time zone is that one (UTC here), at a fraction of the CPU. A list page reads
# hundreds of them.
_TIMESTAMPTZ = psycopg.postgres.types["timestamptz"].oid
_FAST_TIMESTAMPTZ = psycopg.adapters.get_loader(_TIMESTAMPTZ, psycopg.pq.Format.TEXT)

# What each connection has PREPAREd: statement text -> name.
_prepared: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()
MAX_PREPARED = 500  # per connection; past it all are deallocated and prepared again as used
# Names are never reused in a process: a round trip that fails after its PREPAREs leaves
# them on the server, unrecorded and harmless.
_names = itertools.count()


def _execute(name: str, form: _Form, params: Mapping[str, Any]) -> str:
    if not form.names:
        return "EXECUTE " + name
    return "EXECUTE " + name + "(" + ", ".join([literal(params[n]) for n in form.names]) + ")"


def _send(text: str, statements: Sequence[Statement], many: bool, context: Any) -> list[Rows]:
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    with connection.wrap_database_errors:
        cursor = raw.cursor()
        if raw.info.timezone == connection.timezone:
            cursor.adapters.register_loader(_TIMESTAMPTZ, _FAST_TIMESTAMPTZ)
        try:
            if raw.prepare_threshold is None:  # DB_PREPARED_STATEMENTS=0
                cursor.execute("; ".join([inline(s) for s in statements]), prepare=False)
                answers = [True] * len(statements)
            else:
                answers = _send_prepared(raw, cursor, statements)
            results: list[Rows] = []
            for i, answer in enumerate(answers):
                if i:
                    cursor.nextset()
                if answer:  # rownumber: None unless the statement returned rows (cheaper than description)
                    results.append(cursor.fetchall() if cursor.rownumber is not None else [])
            return results
        finally:
            cursor.close()


def _send_prepared(raw: Any, cursor: Any, statements: Sequence[Statement]) -> list[bool]:
    """EXECUTE each statement by name, PREPAREd first in the same text if this connection has
    not seen it; per part of the text, whether it is a statement's (not a PREPARE's)."""
    names = _prepared.get(raw)
    if names is None:
        names = _prepared[raw] = {}
    elif len(names) > MAX_PREPARED:
        cursor.execute("DEALLOCATE ALL", prepare=False)
        names.clear()
    parts: list[str] = []
    answers: list[bool] = []
    new: dict[str, str] = {}
    for s in statements:
        form = _form(s.text)
        name = names.get(s.text) or new.get(s.text)
        if name is None:
            name = new[s.text] = f"callsite_{next(_names)}"
            parts.append(f"PREPARE {name} AS {form.numbered}")
            answers.append(False)
        parts.append(_execute(name, form, s.params))
        answers.append(True)
    cursor.execute("; ".join(parts), prepare=False)
    names.update(new)  # only once they are on the server
    return answers
