"""Model instances from the columns of a raw statement (one statement where the
ORM would run several, or spend longer building the query than PostgreSQL
spends answering it)."""

from __future__ import annotations

from typing import Any


class RowReader:
    """Columns of one model in a raw row, turned into Python values by the
    same converters the ORM applies (JSON columns arrive as text, ...), made into an
    instance by `Model.from_db` (the one way rows become instances here)."""

    def __init__(self, model: type, fields: list | None = None) -> None:
        from django.db import connection

        self.model = model
        self.fields = fields if fields is not None else list(model._meta.concrete_fields)
        self.attnames = frozenset(f.attname for f in self.fields)
        self.columns = [connection.ops.quote_name(f.column) for f in self.fields]
        self.converters = []
        for i, f in enumerate(self.fields):
            col = f.get_col(model._meta.db_table)
            convs = connection.ops.get_db_converters(col) + f.get_db_converters(connection)
            if convs:
                self.converters.append((i, convs, col))

    def select(self, alias: str) -> str:
        return ", ".join(f"{alias}.{column}" for column in self.columns)

    def build(self, values: list, db: str) -> Any:
        if self.converters:
            from django.db import connections

            connection = connections[db]
            for i, convs, col in self.converters:
                value = values[i]
                for conv in convs:
                    value = conv(value, col, connection)
                values[i] = value
        return self.model.from_db(db, self.attnames, values)


_READERS: dict[tuple, RowReader] = {}


def reader(model: type, field_names: tuple[str, ...] | None = None) -> RowReader:
    """The reader of `model`'s concrete fields (or only `field_names`: the others
    deferred), made once."""
    key = (model, field_names)
    if key not in _READERS:
        fields = [model._meta.get_field(n) for n in field_names] if field_names else None
        _READERS[key] = RowReader(model, fields)
    return _READERS[key]
