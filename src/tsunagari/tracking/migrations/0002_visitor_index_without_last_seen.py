"""Visitors: last_seen leaves the account index, and the table keeps room for HOT updates.

Each page view moves its visitor's last_seen. With last_seen in no index and free space kept
in every page (fillfactor 70), PostgreSQL rewrites the row in place (a HOT update) rather than
adding a new entry to each of the table's indexes on every hit.
"""

from django.db import migrations


def set_fillfactor(apps, schema_editor, value: int) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE tracking_visitor SET (fillfactor = {int(value)})")


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0001_initial"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="visitor", name="tracking_visitor_account"),
        migrations.RunPython(
            lambda apps, editor: set_fillfactor(apps, editor, 70),
            lambda apps, editor: set_fillfactor(apps, editor, 100),
        ),
    ]
