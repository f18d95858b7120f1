"""Settings from the environment (tsunagari/env.py, tsunagari/settings.py).

settings.py runs once per process, so each case that depends on module-level code loads the
settings in a fresh interpreter with its own throwaway TSUNAGARI_DATA_DIR.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tsunagari.env import ConfigError, env_bool, env_int, env_list

# Variables settings.py reads; a case starts from none of them set.
_SETTINGS_ENV = (
    "DATABASE_URL",
    "DB_CONN_MAX_AGE",
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "XDG_DATA_HOME",
    "LOG_LEVEL",
)

_PRINT_SETTINGS = """
import json, sys
from django.conf import settings
names = sys.argv[1:]
print(json.dumps({name: getattr(settings, name) for name in names}, default=str))
"""


def load_settings(data_dir: Path | None, *names: str, **env: str) -> subprocess.CompletedProcess:
    """Import tsunagari.settings in a new interpreter; stdout is a JSON object of `names`."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in _SETTINGS_ENV and not key.startswith(("TSUNAGARI_", "EMAIL_"))
    }
    clean["DJANGO_SETTINGS_MODULE"] = "tsunagari.settings"
    if data_dir is not None:
        clean["TSUNAGARI_DATA_DIR"] = str(data_dir)
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", _PRINT_SETTINGS, *names],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def settings_values(data_dir: Path | None, *names: str, **env: str) -> dict:
    result = load_settings(data_dir, *names, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_config_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0, f"settings loaded although they should not: {result.stdout}"
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("tsunagari.env.ConfigError:"), result.stderr
    for fragment in fragments:
        assert fragment in last_line


# --- the typed readers, in-process -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[("1", True), ("true", True), (" Yes ", True), ("ON", True)],
        *[("0", False), ("false", False), ("No", False), ("off", False)],
    ],
)
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("TSUNAGARI_FLAG", raw)
    assert env_bool("TSUNAGARI_FLAG", not expected) is expected


def test_env_bool_falls_back_to_the_default_when_unset_or_empty(monkeypatch):
    monkeypatch.delenv("TSUNAGARI_FLAG", raising=False)
    assert env_bool("TSUNAGARI_FLAG", True) is True
    monkeypatch.setenv("TSUNAGARI_FLAG", "")
    assert env_bool("TSUNAGARI_FLAG", False) is False


@pytest.mark.parametrize("raw", ["maybe", "2", "y", "enabled"])
def test_env_bool_rejects_anything_else(monkeypatch, raw):
    monkeypatch.setenv("TSUNAGARI_FLAG", raw)
    with pytest.raises(ConfigError, match="TSUNAGARI_FLAG"):
        env_bool("TSUNAGARI_FLAG", False)


def test_env_int_rejects_a_non_number(monkeypatch):
    monkeypatch.setenv("TSUNAGARI_COUNT", "12k")
    with pytest.raises(ConfigError, match="TSUNAGARI_COUNT='12k' is not an integer"):
        env_int("TSUNAGARI_COUNT", 1)
    monkeypatch.setenv("TSUNAGARI_COUNT", "12")
    assert env_int("TSUNAGARI_COUNT", 1) == 12


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("TSUNAGARI_HOSTS", " a.example , ,b.example,")
    assert env_list("TSUNAGARI_HOSTS", ["x"]) == ["a.example", "b.example"]
    monkeypatch.setenv("TSUNAGARI_HOSTS", "  ")
    assert env_list("TSUNAGARI_HOSTS", ["x"]) == ["x"]


# --- settings.py, each in a fresh interpreter -------------------------------------------------


def test_a_bad_boolean_stops_start_up(tmp_path):
    assert_config_error(load_settings(tmp_path, "DEBUG", DEBUG="maybe"), "DEBUG='maybe'")


def test_secret_key_is_generated_once_kept_private_and_reused(tmp_path):
    first = settings_values(tmp_path, "SECRET_KEY")["SECRET_KEY"]
    key_file = tmp_path / "secret_key"
    assert key_file.read_text() == first
    assert len(first) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    second = settings_values(tmp_path, "SECRET_KEY")["SECRET_KEY"]
    assert second == first

    other_dir = tmp_path / "other"
    assert settings_values(other_dir, "SECRET_KEY")["SECRET_KEY"] != first


def test_secret_key_from_the_environment_wins_and_writes_nothing(tmp_path):
    values = settings_values(tmp_path, "SECRET_KEY", SECRET_KEY="from-the-environment-" + "x" * 40)
    assert values["SECRET_KEY"].startswith("from-the-environment-")
    assert not (tmp_path / "secret_key").exists()
    values = settings_values(tmp_path, "SECRET_KEY", TSUNAGARI_SECRET_KEY="tsunagari-name-" * 4)
    assert values["SECRET_KEY"].startswith("tsunagari-name-")
    assert not (tmp_path / "secret_key").exists()


def test_the_data_dir_is_created_and_holds_the_sqlite_databases(tmp_path):
    data_dir = tmp_path / "nested" / "data"
    values = settings_values(data_dir, "DATA_DIR", "DATABASES")
    assert data_dir.is_dir()
    assert values["DATA_DIR"] == str(data_dir)
    db = values["DATABASES"]["default"]
    assert db["ENGINE"] == "tsunagari.core.sqlite"  # Django's, narrower checks on migrate
    assert db["NAME"] == str(data_dir / "tsunagari.sqlite3")
    assert db["TEST"]["NAME"] == str(data_dir / "test.sqlite3")
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_without_tsunagari_data_dir_the_data_lives_under_xdg_data_home(tmp_path):
    values = settings_values(None, "DATA_DIR", XDG_DATA_HOME=str(tmp_path))
    assert values["DATA_DIR"] == str(tmp_path / "tsunagari")
    assert (tmp_path / "tsunagari" / "secret_key").is_file()


def test_database_url_selects_postgresql(tmp_path):
    url = "postgres://app:s3cret@db.internal:5433/marketing"
    db = settings_values(tmp_path, "DATABASES", DATABASE_URL=url)["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"]) == ("marketing", "app", "s3cret")
    assert (db["HOST"], db["PORT"]) == ("db.internal", 5433)
    assert db["CONN_MAX_AGE"] == 60


@pytest.mark.parametrize(
    "url", ["bogus://somewhere/db", "not a url", "postgres://u@host:notaport/db"]
)
def test_a_database_url_that_does_not_parse_is_a_config_error(tmp_path, url):
    result = load_settings(tmp_path, "DATABASES", DATABASE_URL=url)
    assert_config_error(result, "DATABASE_URL is not a database URL")


def test_a_database_other_than_sqlite_or_postgresql_is_refused(tmp_path):
    result = load_settings(tmp_path, "DATABASES", DATABASE_URL="mysql://root@127.0.0.1/db")
    assert_config_error(result, "SQLite or PostgreSQL")


def test_time_zone_is_read_and_checked(tmp_path):
    values = settings_values(tmp_path, "TIME_ZONE", TSUNAGARI_TIME_ZONE="Europe/Berlin")
    assert values["TIME_ZONE"] == "Europe/Berlin"
    assert settings_values(tmp_path, "TIME_ZONE")["TIME_ZONE"] == "Asia/Tokyo"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "../../etc/passwd", "JST+9"])
def test_an_unknown_time_zone_stops_start_up(tmp_path, zone):
    result = load_settings(tmp_path, "TIME_ZONE", TSUNAGARI_TIME_ZONE=zone)
    assert_config_error(result, "TSUNAGARI_TIME_ZONE", "not an IANA time zone")


def test_tls_and_ssl_together_are_refused(tmp_path):
    result = load_settings(tmp_path, "EMAIL_USE_TLS", EMAIL_USE_TLS="true", EMAIL_USE_SSL="true")
    assert_config_error(result, "EMAIL_USE_TLS and EMAIL_USE_SSL")


def test_the_collect_url_and_trusted_proxies_are_read_and_checked(tmp_path):
    result = load_settings(
        tmp_path,
        "TSUNAGARI_COLLECT_URL",
        "TSUNAGARI_TRUSTED_PROXIES",
        TSUNAGARI_COLLECT_URL="https://collect.example.co.jp/",
        TSUNAGARI_TRUSTED_PROXIES="10.0.0.0/8, 192.0.2.7",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "TSUNAGARI_COLLECT_URL": "https://collect.example.co.jp",
        "TSUNAGARI_TRUSTED_PROXIES": ["10.0.0.0/8", "192.0.2.7"],
    }


@pytest.mark.parametrize("url", ["javascript:alert(1)", "collect.example.co.jp", "https://a b"])
def test_a_collect_url_that_is_not_http_stops_start_up(tmp_path, url):
    result = load_settings(tmp_path, "TSUNAGARI_COLLECT_URL", TSUNAGARI_COLLECT_URL=url)
    assert_config_error(result, "TSUNAGARI_COLLECT_URL", "not an http(s) URL")


def test_a_trusted_proxy_that_is_not_an_address_stops_start_up(tmp_path):
    result = load_settings(
        tmp_path, "TSUNAGARI_TRUSTED_PROXIES", TSUNAGARI_TRUSTED_PROXIES="10.0.0.0/8, proxy.lan"
    )
    assert_config_error(result, "TSUNAGARI_TRUSTED_PROXIES", "'proxy.lan' is not an IP address")
