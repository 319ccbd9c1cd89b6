"""Model instances from the columns of a raw statement (one statement where the
ORM would run several, or spend longer building the query than PostgreSQL
spends answering it): the one row mapper."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.db.models import Model

from invitations.calls.sql import SLIM_USER_FIELDS


class RowMapper:
    """Columns of one model in a raw row, turned into Python values by the
    same converters the ORM applies (JSON columns arrive as text, ...), made into an
    instance by `Model.from_db` (the one way rows become instances here). The columns
    are the model's concrete fields in their order, or the named ones (the others
    deferred, as with `.only()`)."""

    def __init__(self, model: type[Model], field_names: tuple[str, ...] | None = None) -> None:
        self.model = model
        self.fields: list[Any] = (
            [model._meta.get_field(n) for n in field_names] if field_names else list(model._meta.concrete_fields)
        )
        self.width = len(self.fields)
        self.attnames = frozenset(f.attname for f in self.fields)
        self.columns = [connection.ops.quote_name(str(f.column)) for f in self.fields]
        self.converters: list[tuple[int, list[Any], Any]] = []
        for i, f in enumerate(self.fields):
            col = f.get_col(model._meta.db_table)
            convs = connection.ops.get_db_converters(col) + f.get_db_converters(connection)
            if convs:
                self.converters.append((i, convs, col))

    def select(self, alias: str) -> str:
        return ", ".join(f"{alias}.{column}" for column in self.columns)

    def build(self, values: Sequence[Any], db: str | None = None) -> Any:
        """An instance from `values` (this mapper's columns, in order)."""
        db = db or connection.alias
        values = list(values)
        if self.converters:
            conn = connections[db]
            for i, convs, col in self.converters:
                value = values[i]
                for conv in convs:
                    value = conv(value, col, conn)
                values[i] = value
        return self.model.from_db(db, self.attnames, values)


_MAPPERS: dict[tuple[type[Model], tuple[str, ...] | None], RowMapper] = {}


def mapper(model: type[Model], field_names: tuple[str, ...] | None = None) -> RowMapper:
    """The mapper of `model`'s concrete fields (or only `field_names`: the others
    deferred), made once."""
    key = (model, field_names)
    found = _MAPPERS.get(key)
    if found is None:
        found = _MAPPERS[key] = RowMapper(model, field_names)
    return found


def slim_users() -> RowMapper:
    """Users as the call reads load them: id, username, the names payloads show, is_active."""
    return mapper(get_user_model(), SLIM_USER_FIELDS)


class Users:
    """One slim User instance per user per read."""

    def __init__(self) -> None:
        self.by_id: dict[int, Any] = {}
        self.mapper = slim_users()

    def get(self, values: Sequence[Any]) -> Any:
        """The user whose slim columns are `values` (None for a NULL id: an outer join's miss)."""
        pk = values[0]
        if pk is None:
            return None
        user = self.by_id.get(pk)
        if user is None:
            user = self.by_id[pk] = self.mapper.build(values)
        return user
