"""Typed readers for settings taken from the environment; a bad value fails loudly at start-up."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path


class ConfigError(RuntimeError):
    """An environment variable holds a value Tsunagari cannot use."""


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def default_data_dir() -> Path:
    """Per-user data directory: $XDG_DATA_HOME/tsunagari, else ~/.local/share/tsunagari."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tsunagari"


def data_dir() -> Path:
    path = Path(os.environ.get("TSUNAGARI_DATA_DIR") or default_data_dir()).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def persistent_secret_key(directory: Path) -> str:
    """SECRET_KEY from the environment, else one generated on first run and kept in the data dir."""
    from_env = os.environ.get("SECRET_KEY") or os.environ.get("TSUNAGARI_SECRET_KEY")
    if from_env:
        return from_env
    key_file = directory / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    # Written to a private temporary file, then linked into place: a second process starting
    # at the same moment either wins the link or reads the complete key, never a partial one.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".secret_key.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        with contextlib.suppress(FileExistsError):  # another process won: use its key
            os.link(tmp, key_file)
    finally:
        os.unlink(tmp)
    return key_file.read_text().strip()
