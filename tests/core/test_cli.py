"""The `tsunagari` command: help, unknown commands, and Django's commands through `manage`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tsunagari import cli

EXPECTED_COMMANDS = ("serve", "worker", "demo", "createadmin", "bench", "manage")


def tsunagari_executable() -> str:
    """The console script installed beside the interpreter running the tests."""
    found = shutil.which("tsunagari", path=str(Path(sys.executable).parent))
    assert found, "the `tsunagari` entry point is not installed (pip install -e .)"
    return found


def run_tsunagari(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY"}
    }
    env["TSUNAGARI_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [tsunagari_executable(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("argv", [[], ["--help"], ["-h"], ["help"]])
def test_help_lists_every_command(capsys, argv):
    cli.main(argv)
    out = capsys.readouterr().out
    assert out.startswith("usage: tsunagari COMMAND")
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert set(EXPECTED_COMMANDS) <= set(listed)
    assert len(listed) == len(set(listed))


def test_an_unknown_command_exits_2_with_the_usage_on_stderr(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["frobnicate"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unknown command 'frobnicate'" in captured.err
    assert "usage: tsunagari COMMAND" in captured.err


def test_the_installed_entry_point_prints_help(tmp_path):
    result = run_tsunagari("--help", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    for command in EXPECTED_COMMANDS:
        assert f"  {command} " in result.stdout


def test_the_installed_entry_point_refuses_an_unknown_command(tmp_path):
    result = run_tsunagari("nonsense", data_dir=tmp_path)
    assert result.returncode == 2
    assert "unknown command 'nonsense'" in result.stderr


def test_manage_check_passes_on_a_fresh_data_dir(tmp_path):
    data_dir = tmp_path / "data"
    result = run_tsunagari("manage", "check", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    # Settings loaded from the throwaway data dir, which now holds the generated key.
    assert (data_dir / "secret_key").is_file()


def test_manage_passes_arguments_to_django(tmp_path):
    result = run_tsunagari("manage", "showmigrations", "core", "--plan", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "core.0001_initial" in result.stdout
