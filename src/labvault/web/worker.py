"""The application of each ``labvault serve --workers N`` process.

uvicorn starts its workers as fresh processes and imports the app there by name (an open platform,
with its engines and keys, cannot be handed across): each worker opens its own platform from the
``LABVAULT_*`` settings the command validated and exported (cli/server.py), and closes it when it
stops, after its last checkpoint signature (web/app.py). Everything the workers must agree on is
in the database or, for the signed checkpoints, in the checkpoint directory under its lock.
"""

from __future__ import annotations

from starlette.types import ASGIApp

from labvault.config import Settings
from labvault.platform import open_platform
from labvault.web.app import create_app

WORKER_APP = f"{__name__}:worker_app"  # what uvicorn imports in each worker (with factory=True)


def worker_app() -> ASGIApp:
    """A worker's application over a platform of its own, opened from the environment."""
    return create_app(open_platform(Settings()), close_platform=True)
