"""``labvault qc`` end to end on both backends: a biologist declares a control lot, lists the
rejections awaiting a decision, and decides one (the hold released)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyotp

from labvault.identity.accounts import context_for
from tests.auth_helpers import forget_code_use
from tests.test_cli import dirs, flat, open_from, run  # noqa: F401 - dirs is the backends' fixture


def code_of(args: list[str], user: dict[str, Any]) -> str:
    """The user's current code, the record of their last one cleared (commands follow at once)."""
    platform = open_from(args)
    try:
        forget_code_use(platform, user["username"])
    finally:
        platform.close()
    return pyotp.TOTP(user["totp_secret"]).now()


def test_lot_add_pending_and_decide(dirs: list[str], tmp_path: Path) -> None:  # noqa: F811
    code, output = run("demo", *dirs, "--labs", "1", "--patients", "5", "--orders", "1", "--no-serve")
    assert code == 0, output
    creds = json.loads((tmp_path / "demo-credentials.json").read_text())
    users = {user["username"]: user for user in creds["users"]}
    bio = users["demo1.biologist"]

    def as_biologist(*args: str) -> tuple[int, str]:
        return run(
            "qc", *args, *dirs, "--admin", "demo1.biologist", "--password-stdin",
            "--totp-code", code_of(dirs, bio), input=bio["password"] + "\n",
        )  # fmt: skip

    code, output = as_biologist(
        "lot-add", "--instrument", "demo1.analyzer", "--test", "K", "--lot", "cq-k-n1",
        "--mean", "4.0", "--sd", "0.1", "--level", "1",
    )  # fmt: skip
    assert code == 0 and "demo1.analyzer: lot CQ-K-N1 for K, mean 4.0, SD 0.1" in flat(output), output
    code, output = as_biologist("lots")
    assert code == 0 and "CQ-K-N1 level 1" in output, output

    platform = open_from(dirs)
    try:
        technician = context_for(platform.accounts.by_username("demo1.technician"))
        point, _ = platform.qc.record(technician, "demo1.analyzer", "K", "CQ-K-N1", "4.5")
    finally:
        platform.close()
    code, output = as_biologist("pending")
    assert code == 0 and str(point.id) in output and "1-2s,1-3s" in output, output
    code, output = as_biologist(
        "decide", "--id", str(point.id), "--decision", "reject", "--comment", "new vial, patients re-run"
    )
    assert code == 0 and "reject; the hold on K is released" in flat(output), output
    code, output = as_biologist("pending")
    assert code == 0 and str(point.id) not in output
