"""Writing many plain rows of one model at once, and looking values up in slices."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from operator import itemgetter
from typing import Any

from django.db import connection, models

# SQLite's historical limit on parameters in one statement; lookups by value go in slices.
IN_SLICE = 900


def _adapter(field: models.Field) -> Callable[[Any], Any] | None:
    """How a column's Python value becomes a query parameter as the ORM would make it; None
    when the value passes as it is (text, numbers, booleans, ids)."""
    ops = connection.ops
    if isinstance(field, models.DateTimeField):
        # Nearly every datetime of a batch is the batch's "now": convert it once.
        last: list[Any] = [None, None]

        def adapt(value: Any) -> Any:
            if value is not last[0]:
                last[:] = [value, None if value is None else ops.adapt_datetimefield_value(value)]
            return last[1]

        return adapt
    if isinstance(field, models.JSONField):
        # Most rows have no custom values: their empty object is converted once.
        empty = field.get_db_prep_save({}, connection)
        return lambda value: empty if value == {} else field.get_db_prep_save(value, connection)
    plain = models.CharField | models.TextField | models.BooleanField | models.IntegerField
    if isinstance(field, plain) or (
        isinstance(field, models.ForeignKey) and isinstance(field.target_field, models.AutoField)
    ):
        return None
    return lambda value: field.get_db_prep_save(value, connection)


class Table:
    """Plain rows of one model written with a single executemany.

    Why not bulk_create: its per-value work on a 40-column contact costs ten times what the
    database spends storing the row, and an import writes hundreds of thousands of them.
    """

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model
        self.fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        self.adapters = {f.attname: _adapter(f) for f in self.fields}
        # Callable defaults (custom=dict) give each row its own value.
        self.fresh = [f for f in self.fields if f.has_default() and callable(f.default)]
        self.defaults = {f.attname: f.get_default() for f in self.fields if f not in self.fresh}
        self.stamped = [
            f.attname
            for f in self.fields
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        ]
        quote = connection.ops.quote_name
        self.table = quote(model._meta.db_table)
        self.columns = ", ".join(quote(f.column) for f in self.fields)

    def new(self, **values: Any) -> dict[str, Any]:
        """A row with the model's defaults, by attribute name (account_id, not account)."""
        row = dict(self.defaults)
        for f in self.fresh:
            row[f.attname] = f.get_default()
        row.update(values)
        return row

    def insert(self, rows: list[dict[str, Any]], now: datetime) -> None:
        if not rows:
            return
        for row in rows:
            for name in self.stamped:
                row[name] = now
        names = [f.attname for f in self.fields]
        pick = itemgetter(*names)
        adapted = [(i, self.adapters[name]) for i, name in enumerate(names) if self.adapters[name]]
        params = []
        for row in rows:
            values = list(pick(row))
            for i, adapt in adapted:
                values[i] = adapt(values[i])
            params.append(values)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # COPY is PostgreSQL's bulk-load path; executemany would be a statement per row.
                copy_sql = f"COPY {self.table} ({self.columns}) FROM STDIN"
                with cursor.cursor.copy(copy_sql) as copy:
                    for values in params:
                        copy.write_row(values)
                return
            # One prepared statement stepped once per row: SQLite's fastest way in.
            marks = ", ".join(["%s"] * len(names))
            cursor.executemany(
                f"INSERT INTO {self.table} ({self.columns}) VALUES ({marks})", params
            )

    def update(self, rows: list[dict[str, Any]], names: set[str], now: datetime) -> None:
        """Write the named columns of existing rows (each row holds its "id")."""
        if not rows:
            return
        names = names | {f.attname for f in self.fields if getattr(f, "auto_now", False)}
        for row in rows:
            for name in self.stamped:
                if name in names:
                    row[name] = now
        ordered = sorted(names)
        quote = connection.ops.quote_name
        columns = {f.attname: f.column for f in self.fields}
        assignments = ", ".join(f"{quote(columns[name])} = %s" for name in ordered)
        adapters = [self.adapters[name] or (lambda value: value) for name in ordered]
        params = [
            [adapt(row[name]) for name, adapt in zip(ordered, adapters, strict=True)] + [row["id"]]
            for row in rows
        ]
        with connection.cursor() as cursor:
            pk = quote(self.model._meta.pk.column)
            cursor.executemany(f"UPDATE {self.table} SET {assignments} WHERE {pk} = %s", params)


def slices(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), IN_SLICE):
        yield items[start : start + IN_SLICE]
