import pytest
from django.db import connection

from tests.crm.factories import make_contact
from tsunagari.core.db import refresh_planner_statistics


@pytest.mark.django_db(transaction=True)
def test_sqlite_gets_planner_statistics_on_first_start():
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL keeps its own statistics (autovacuum)")
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS sqlite_stat1")
    make_contact()
    refresh_planner_statistics()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'crm_contact'")
        assert cursor.fetchone()[0] > 0
