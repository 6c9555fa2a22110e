"""``labvault serve``: the HTTP server, with the options uvicorn must get (loopback by default, no
banner, proxies believed only when configured), in one process or ``--workers N``. The audit
checkpoints are not started here but by the app's own lifespan (web/app.py), so every way of
serving the app signs them."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from labvault.cli.opening import open_or_fail
from labvault.cli.options import DEFAULT_DATA, DEFAULT_KEYS, DataDir, DbUrl, Host, KeyDir, Port, err
from labvault.config import Settings
from labvault.platform import Platform

app = typer.Typer()

Workers = Annotated[
    int,
    typer.Option(
        "--workers",
        envvar="LABVAULT_WORKERS",
        min=1,
        max=64,
        help="Server processes (PostgreSQL: size the pools, see README; SQLite: 1 or 2).",
    ),
]
# The settings a command takes as options rather than only from LABVAULT_* variables: exported so
# that each worker's Settings() reads what this command validated (web/worker.py).
OPTION_SETTINGS = ("data_dir", "key_dir", "database_url")
WORKER_HEALTHCHECK_SECONDS = 30
SQLITE_MOST_WORKERS = 2  # one writer at a time: beyond this, workers queue on SQLite's write lock


def uvicorn_options(settings: Settings, host: str, port: int) -> dict[str, Any]:
    """What every way of serving passes to uvicorn."""
    proxies = settings.trusted_proxies
    return {
        "host": host,
        "port": port,
        "log_level": "info",
        "access_log": False,
        # No `server: uvicorn` header: the version a scanner would match is nobody's business.
        "server_header": False,
        # A lifespan that fails to start is fatal: never serve without the audit checkpoints.
        "lifespan": "on",
        # X-Forwarded-For decides the audit origin and the login rate limit's key: believed only
        # from the configured proxies (uvicorn would trust loopback by default).
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or None,
    }


def export_settings(settings: Settings) -> None:
    """Put the options of this command in the environment the workers inherit."""
    for name in OPTION_SETTINGS:
        value = getattr(settings, name)
        variable = f"LABVAULT_{name.upper()}"
        if value is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = str(value)


def warn_about_workers(platform: Platform, workers: int) -> None:
    """Say when ``workers`` processes do not fit the database: PostgreSQL connections (each
    process has its own pools) or SQLite's single writer. A warning, not a refusal: the pools
    only open what the load needs."""
    db = platform.db
    allowed = db.connections_allowed()
    if allowed is None:
        if workers > SQLITE_MOST_WORKERS:
            err.print(
                f"warning: {workers} workers on SQLite: one transaction writes at a time (every "
                "request is audited, so writes), extra workers queue on its lock; use PostgreSQL"
            )
        return
    needed = workers * db.connections_needed()
    if needed > allowed:
        err.print(
            f"warning: {workers} workers may open {needed} PostgreSQL connections, the server "
            f"accepts {allowed}: lower LABVAULT_DATABASE_MAX_OVERFLOW or raise max_connections"
        )


def run_server(platform: Platform, host: str, port: int, workers: int = 1) -> None:
    """Run the server. The app's lifespan signs the audit heads on schedule and at every graceful
    stop (SIGTERM included: uvicorn re-raises it after the shutdown, so nothing after
    ``uvicorn.run`` can be relied on for that).

    One worker serves ``platform`` itself. Several are separate processes that each open their
    own platform (web/worker.py): this one only checked that it opens, and closes it first."""
    import uvicorn

    options = uvicorn_options(platform.settings, host, port)
    try:
        if workers == 1:
            from labvault.web.app import create_app

            uvicorn.run(create_app(platform), **options)
            return
        from labvault.web.processes import serve_processes
        from labvault.web.worker import WORKER_APP

        warn_about_workers(platform, workers)
        export_settings(platform.settings)
        platform.close()
        # A worker answers the supervisor's health check only once Python has re-imported the
        # command and started; on a busy machine that took longer than uvicorn's 5 s, and the
        # supervisor killed and restarted every worker, in a loop.
        serve_processes(
            WORKER_APP,
            workers,
            factory=True,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            **options,
        )
    finally:
        platform.close()


@app.command()
def serve(
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
    host: Host = "127.0.0.1",
    port: Port = 8000,
    workers: Workers = 1,
) -> None:
    """Serve the API (default http://127.0.0.1:8000; OpenAPI at /api/v1/openapi.json)."""
    run_server(open_or_fail(data_dir, key_dir, database_url), host, port, workers)
