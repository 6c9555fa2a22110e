"""The ``labvault`` command line. Every option can also come from a ``LABVAULT_*`` variable.

The root app only assembles: each command group lives in its own module. Typer lists a group's
commands in the order they are added here, so this order is the order ``labvault --help`` shows.
"""

from __future__ import annotations

import typer

from labvault.cli import (
    alerts,
    astm,
    audit,
    breach,
    canary,
    catalog,
    demo,
    hprim,
    incident,
    install,
    interface,
    keys,
    lab,
    mllp,
    pending,
    qc,
    results,
    server,
    tokens,
    user,
)

app = typer.Typer(
    help="labvault: a laboratory information system that could not have leaked.", no_args_is_help=True
)
app.add_typer(install.app)  # init
app.add_typer(server.app)  # serve
app.add_typer(demo.app)  # demo, demo-code
app.add_typer(user.app, name="user")
app.add_typer(tokens.app, name="token")
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(lab.app, name="lab")
app.add_typer(catalog.app, name="catalog")
app.add_typer(results.app, name="results")
app.add_typer(alerts.app)  # alerts
app.add_typer(canary.app, name="canary")
app.add_typer(breach.app, name="breach")
app.add_typer(mllp.app)  # mllp
app.add_typer(interface.app, name="interface")
app.add_typer(astm.app)  # astm, astm-import
app.add_typer(hprim.app)  # hprim
app.add_typer(pending.app, name="pending")  # reception's pending identities (orders in)
app.add_typer(incident.app, name="incident")
app.add_typer(qc.app, name="qc")


def main() -> None:
    app()
