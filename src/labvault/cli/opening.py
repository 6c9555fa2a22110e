"""How a command opens the platform: a bad setting or a refused open is a clear message and exit
code 2, never a traceback; the platform is closed when the command ends, whatever happens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from labvault.cli.options import fail
from labvault.config import Settings
from labvault.errors import LabvaultError
from labvault.platform import Platform, open_platform


def settings_or_fail(data_dir: Path, key_dir: Path, database_url: str | None, **extra: object) -> Settings:
    """The settings from the options and the ``LABVAULT_*`` variables; a bad one exits with 2."""
    try:
        return Settings(data_dir=data_dir, key_dir=key_dir, database_url=database_url, **extra)  # type: ignore[arg-type]
    except ValidationError as exc:  # a bad LABVAULT_* variable: say which and why, no traceback
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise fail(f"invalid setting: {problems}") from None


def open_or_fail(data_dir: Path, key_dir: Path, database_url: str | None) -> Platform:
    """An open platform the caller closes (``serve`` hands it to the server, which outlives this)."""
    try:
        return open_platform(settings_or_fail(data_dir, key_dir, database_url))
    except LabvaultError as exc:
        raise fail(str(exc)) from None


@contextmanager
def command_platform(data_dir: Path, key_dir: Path, database_url: str | None) -> Iterator[Platform]:
    """An open platform for one command: errors become a clear message and exit code 2."""
    platform = open_or_fail(data_dir, key_dir, database_url)
    try:
        yield platform
    except LabvaultError as exc:
        raise fail(str(exc)) from None
    finally:
        platform.close()
