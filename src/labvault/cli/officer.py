"""The console as a laboratory's security officer, for the security commands (alerts, canary,
breach): the console holds the root key, so it acts for one named lab only, and these commands
show ids, counts and line numbers, never an identity."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labvault.cli.options import fail
from labvault.config import Settings
from labvault.errors import LabvaultError
from labvault.platform import Platform, open_platform
from labvault.security.access import AccessContext


@contextmanager
def acting_officer(
    data_dir: Path, key_dir: Path, database_url: str | None, lab: str
) -> Iterator[tuple[Platform, AccessContext]]:
    """The platform, and the console acting as ``lab``'s security officer; errors exit with 2."""
    try:
        platform = open_platform(Settings(data_dir=data_dir, key_dir=key_dir, database_url=database_url))
    except LabvaultError as exc:
        raise fail(str(exc)) from None
    try:
        info = platform.labs.by_code(lab)
        ctx = AccessContext.console_officer(f"cli:{getpass.getuser()}", info.id)
        yield platform, ctx
    except LabvaultError as exc:
        raise fail(str(exc)) from None
    finally:
        platform.close()
