from __future__ import annotations

import json
from io import StringIO

import bench.lists
import pytest
from bench.common import forget_dataset, percentile, prepared_dataset
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from tsunagari.core.models import User
from tsunagari.crm.models import Contact
from tsunagari.crm.services import contact_save
from tsunagari.demo import GENERATOR_VERSION
from tsunagari.tracking.models import Touchpoint

# The cached bench data sets are shared by name on the database server: one xdist worker
# runs all of these, so two never build or drop the same one at once (scripts/test.sh).
pytestmark = pytest.mark.xdist_group("bench-datasets")


def _demo(*args: str) -> str:
    out = StringIO()
    call_command("demo", *args, "--no-input", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_demo_loads_the_data_set_and_says_how_to_log_in(db):
    output = _demo("--contacts", "120")
    assert Contact.objects.count() == 120
    assert "Loaded 120 contacts" in output
    assert "tsunagari createadmin" in output
    assert not any(user.has_usable_password() for user in User.objects.all())


def test_demo_does_not_mention_createadmin_when_an_admin_exists(admin_user):
    assert "createadmin" not in _demo("--contacts", "50")


def test_demo_refuses_a_database_that_holds_contacts(db):
    contact_save(contact=Contact(email="taro@example.com", family_name="山田"))
    with pytest.raises(CommandError, match=r"--append.*--reset"):
        _demo("--contacts", "50")
    assert Contact.objects.count() == 1


def test_demo_appends_with_append_and_replaces_with_reset(db):
    contact_save(contact=Contact(email="taro@example.com", family_name="山田"))
    _demo("--contacts", "50", "--append")
    assert Contact.objects.count() == 51
    assert Touchpoint.objects.exists()
    _demo("--contacts", "40", "--reset")
    assert Contact.objects.count() == 40
    assert not Contact.objects.filter(email="taro@example.com").exists()
    # The touches of the deleted contacts went with them; the new ones have their own.
    touched = set(Touchpoint.objects.values_list("contact", flat=True))
    assert touched and touched <= set(Contact.objects.values_list("pk", flat=True))


def test_demo_rejects_a_size_below_one(db):
    with pytest.raises(CommandError):
        _demo("--contacts", "0")


@pytest.fixture
def bench_cache(transactional_db, settings, tmp_path):
    """Data sets cached in a temporary directory (SQLite), or dropped afterwards (PostgreSQL)."""
    settings.DATA_DIR = tmp_path
    yield tmp_path / "bench"
    for size in (100, 200):
        forget_dataset(size)


def test_bench_prints_one_json_object_as_its_last_line(bench_cache, monkeypatch):
    monkeypatch.setattr(bench.lists, "REPEAT", 2)
    monkeypatch.setattr(bench.lists, "WARMUP", 0)
    out = StringIO()
    call_command("bench", "lists", "--contacts", "200", "--fresh", stdout=out, stderr=StringIO())
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert result["bench"] == "lists"
    assert result["database"] == connection.vendor and result["n"] == 200
    assert result["ratio"] > 0 and result["slowest"] in result["pages"]
    assert len(result["pages"]) == 13 and result["dataset_built_now"] is True

    again = StringIO()
    call_command("bench", "lists", "--contacts", "200", stdout=again, stderr=StringIO())
    assert json.loads(again.getvalue().splitlines()[-1])["dataset_built_now"] is False
    # The test database is in use again, untouched by the benchmark.
    assert not Contact.objects.exists()


def test_a_writable_data_set_is_a_copy_that_goes_away(bench_cache):
    with prepared_dataset(100) as cached:
        assert Contact.objects.count() == 100
    with prepared_dataset(100, writable=True) as copy:
        assert copy.name != cached.name and not copy.built_now
        Contact.objects.all().delete()
    with prepared_dataset(100):
        assert Contact.objects.count() == 100
    if connection.vendor == "sqlite":
        name = f"tsunagari-v{GENERATOR_VERSION}-n100-s1.sqlite3"
        assert [p.name for p in bench_cache.iterdir()] == [name]


@pytest.mark.parametrize("name", ["nonexistent", "common", "../lists", "Lists"])
def test_bench_refuses_unknown_benchmarks(db, name):
    with pytest.raises(CommandError, match="Unknown benchmark"):
        call_command("bench", name, "--contacts", "10")


def test_percentiles_interpolate_between_ranks():
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 5.0
    assert percentile(values, 95) == pytest.approx(4.8)
