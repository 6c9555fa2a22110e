"""The console as a laboratory's security officer, for the security commands (alerts, canary,
breach): the console holds the root key, so it acts for one named lab only, and these commands
show ids, counts and line numbers, never an identity."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labvault.cli.opening import open_or_fail
from labvault.cli.options import fail
from labvault.errors import LabvaultError
from labvault.platform import Platform
from labvault.security.access import AccessContext


@contextmanager
def acting_officer(
    data_dir: Path, key_dir: Path, database_url: str | None, lab: str
) -> Iterator[tuple[Platform, AccessContext]]:
    """The platform, and the console acting as ``lab``'s security officer; errors (a bad
    ``LABVAULT_*`` variable included, as for every command: cli/opening.py) exit with 2."""
    platform = open_or_fail(data_dir, key_dir, database_url)
    try:
        info = platform.labs.by_code(lab)
        ctx = AccessContext.console_officer(f"cli:{getpass.getuser()}", info.id)
        yield platform, ctx
    except LabvaultError as exc:
        raise fail(str(exc)) from None
    finally:
        platform.close()
