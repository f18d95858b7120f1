"""The SQLite backend's narrower foreign-key check after a schema change (core/sqlite/base.py)."""

from __future__ import annotations

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite backend only")


def _model(class_name: str, /, **fields) -> type[models.Model]:
    attrs = {"__module__": __name__, "Meta": type("Meta", (), {"app_label": "core"}), **fields}
    return type(class_name, (models.Model,), attrs)


def _checks(queries) -> list[str]:
    return [q["sql"] for q in queries if "foreign_key_check" in q["sql"]]


@pytest.mark.django_db(transaction=True)
def test_a_new_table_checks_only_itself_not_the_whole_database():
    Parent = _model("BackendParent", name=models.CharField(max_length=10))
    with CaptureQueriesContext(connection) as queries, connection.schema_editor() as editor:
        editor.create_model(Parent)
    try:
        checks = _checks(queries)
        assert checks and all("backendparent" in sql for sql in checks), checks
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(Parent)


@pytest.mark.django_db(transaction=True)
def test_tables_referencing_a_changed_table_are_checked_and_a_broken_reference_is_caught():
    Parent = _model("BackendOwner", name=models.CharField(max_length=10))
    Child = _model("BackendPet", owner=models.ForeignKey(Parent, on_delete=models.CASCADE))
    with connection.schema_editor() as editor:
        editor.create_model(Parent)
        editor.create_model(Child)
    try:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO \"core_backendowner\" (id, name) VALUES (1, 'a')")
            cursor.execute('INSERT INTO "core_backendpet" (id, owner_id) VALUES (1, 1)')
        field = models.CharField(max_length=20, default="x")
        field.set_attributes_from_name("kind")
        with CaptureQueriesContext(connection) as queries, connection.schema_editor() as editor:
            editor.add_field(Parent, field)
        checked = " ".join(_checks(queries))
        assert "backendowner" in checked and "backendpet" in checked
        # Data written during a migration (RunPython) is checked across the whole database.
        # (A violation found there leaves the connection mid-migration, as it aborts a real
        # migrate; the test writes a valid row and looks for the full check instead.)
        with (
            CaptureQueriesContext(connection) as queries,
            connection.schema_editor(),
            connection.cursor() as cursor,
        ):
            cursor.execute('INSERT INTO "core_backendpet" (id, owner_id) VALUES (2, 1)')
        assert "PRAGMA foreign_key_check" in [sql.strip() for sql in _checks(queries)]
    finally:
        with connection.cursor() as cursor:
            cursor.execute('DELETE FROM "core_backendpet"')
        with connection.schema_editor() as editor:
            editor.delete_model(Child)
            editor.delete_model(Parent)
