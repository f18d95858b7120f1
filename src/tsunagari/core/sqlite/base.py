"""The SQLite backend Tsunagari uses: Django's, with a narrower check after each migration.

Django's SQLite schema editor runs `PRAGMA foreign_key_check` over the WHOLE database when a
migration ends (SQLite cannot defer the checks it had to switch off). On a database with ten
million touchpoints that is minutes per migration, so upgrading a large install took an hour.
Here the check covers the tables the migration changed and the tables that reference them —
the only places a schema change can break a reference. A migration that also writes data
(RunPython, RunSQL) still gets the full check.
"""

from __future__ import annotations

from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.backends.sqlite3 import base
from django.db.backends.sqlite3.schema import DatabaseSchemaEditor as SqliteSchemaEditor

_DATA_WRITES = ("insert", "update", "delete", "replace")


class DatabaseSchemaEditor(SqliteSchemaEditor):
    def __enter__(self):
        self._changed: set[str] = set()
        self._writes_data = False
        self._own_statement = False
        self.connection.execute_wrappers.append(self._watch)
        return super().__enter__()

    def _watch(self, execute, sql, params, many, context):
        # Writes that are not the editor's own (RunPython through the ORM, RunSQL).
        if not self._own_statement and str(sql).lstrip().lower().startswith(_DATA_WRITES):
            self._writes_data = True
        return execute(sql, params, many, context)

    def execute(self, sql, params=()):
        self._own_statement = True
        try:
            return super().execute(sql, params)
        finally:
            self._own_statement = False

    def create_model(self, model):
        super().create_model(model)
        self._changed.add(model._meta.db_table)

    def add_field(self, model, field):
        super().add_field(model, field)
        self._changed.add(model._meta.db_table)

    def _remake_table(self, model, create_field=None, delete_field=None, alter_fields=None):
        super()._remake_table(model, create_field, delete_field, alter_fields)
        self._changed.add(model._meta.db_table)

    def __exit__(self, exc_type, exc_value, traceback):
        self.connection.execute_wrappers.remove(self._watch)
        if exc_type is None:
            if self._writes_data:
                self.connection.check_constraints()
            elif self._changed:
                self.connection.check_constraints(table_names=self._affected_tables())
        BaseDatabaseSchemaEditor.__exit__(self, exc_type, exc_value, traceback)
        self.connection.enable_constraint_checking()

    def _affected_tables(self) -> list[str]:
        """The changed tables and every table with a foreign key to one of them."""
        affected = set(self._changed)
        with self.connection.cursor() as cursor:
            tables = self.connection.introspection.table_names(cursor)
            for table in tables:
                quoted = self.connection.ops.quote_name(table)
                referenced = {
                    row[2] for row in cursor.execute(f"PRAGMA foreign_key_list({quoted})")
                }
                if referenced & self._changed:
                    affected.add(table)
        return sorted(t for t in affected if t in tables)


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor
