"""``labvault serve``: the HTTP server, with the options uvicorn must get (loopback by default, no
banner, proxies believed only when configured). The audit checkpoints are not started here but by
the app's own lifespan (web/app.py), so every way of serving the app signs them."""

from __future__ import annotations

import typer

from labvault.cli.opening import open_or_fail
from labvault.cli.options import DEFAULT_DATA, DEFAULT_KEYS, DataDir, DbUrl, Host, KeyDir, Port
from labvault.platform import Platform

app = typer.Typer()


def run_server(platform: Platform, host: str, port: int) -> None:
    """Run the server. The app's lifespan signs the audit heads on schedule and at every graceful
    stop (SIGTERM included: uvicorn re-raises it after the shutdown, so nothing after
    ``uvicorn.run`` can be relied on for that)."""
    import uvicorn

    from labvault.web.app import create_app

    proxies = platform.settings.trusted_proxies
    try:
        uvicorn.run(
            create_app(platform),
            host=host,
            port=port,
            log_level="info",
            access_log=False,
            # No `server: uvicorn` header: the version a scanner would match is nobody's business.
            server_header=False,
            # A lifespan that fails to start is fatal: never serve without the audit checkpoints.
            lifespan="on",
            # X-Forwarded-For decides the audit origin and the login rate limit's key: believed
            # only from the configured proxies (uvicorn would trust loopback by default).
            proxy_headers=bool(proxies),
            forwarded_allow_ips=proxies or None,
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
) -> None:
    """Serve the API (default http://127.0.0.1:8000; OpenAPI at /api/v1/openapi.json)."""
    run_server(open_or_fail(data_dir, key_dir, database_url), host, port)
