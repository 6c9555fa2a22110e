"""``labvault incident``: the officer's console tour, from opening to the drafts."""

from __future__ import annotations

import datetime as dt
import re
import stat
from pathlib import Path

from typer.testing import CliRunner

from labvault.cli import app
from labvault.identity.accounts import context_for
from labvault.platform import Platform
from labvault.security.access import Role
from tests.factories import Factory
from tests.governance.test_incidents import leaked_csv
from tests.pdf import pdf_text

runner = CliRunner()


def test_the_incident_commands(platform: Platform, tmp_path: Path) -> None:
    factory = Factory(platform)
    lab = factory.lab("Laboratoire console")
    officer = context_for(factory.user(lab, Role.LAB_ADMIN))
    reception = factory.ctx(lab, Role.RECEPTION)
    ids = platform.patients.register_many(reception, [factory.patient_data() for _ in range(6)])
    records = [platform.patients.get(officer, pid) for pid in ids]
    settings = platform.settings
    common = ["--lab", lab.code, "--data-dir", str(settings.data_dir), "--key-dir", str(settings.key_dir)]
    if settings.database_url:
        common += ["--database-url", settings.database_url]

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["incident", *args, *common])
        assert result.exit_code == code, result.output
        return result.output

    discovered = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=80)).isoformat()
    output = run(
        "open",
        "--discovered",
        discovered,
        "--nature",
        "confidentiality",
        "--summary",
        "Un fichier a été trouvé en ligne.",
        "--dpo-contact",
        "DPO du laboratoire",
        "--people",
        "120",
    )
    match = re.search(r"incident ([0-9a-f-]{36})", output)
    assert match, output
    incident = match.group(1)
    assert "overdue by 8 h" in output
    output = run("affected-from-check", incident, str(leaked_csv(tmp_path / "fuite.csv", records[:3])))
    assert "3 patient(s) found by check, 3 new" in output
    start = dt.datetime.now(dt.UTC)
    platform.patients.get(reception, records[4].id)
    end = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    output = run(
        "affected-from-audit",
        incident,
        "--account",
        reception.actor_label,
        "--from",
        start.isoformat(),
        "--to",
        end.isoformat(),
    )
    assert "1 patient(s) found by audit" in output and "4 affected in all" in output
    output = run("affected", incident)
    assert all(str(r.id) in output for r in records[:3]) and str(records[4].id) in output
    for record in records:
        assert record.data.birth_name not in output
    assert incident in run("list")
    shown = run("show", incident)
    assert "4 (3 by check, 1 by audit)" in shown.replace("affected patients: ", "")
    cnil = tmp_path / "cnil.pdf"
    run("draft-cnil", incident, "--out", str(cnil))
    assert "72 heures" in pdf_text(cnil.read_bytes())
    letters = tmp_path / "lettres.pdf"
    run("draft-letters", incident, "--out", str(letters))
    assert stat.S_IMODE(letters.stat().st_mode) == 0o600
    assert records[0].data.first_names in pdf_text(letters.read_bytes())
    run("draft-letters", incident, "--out", str(letters), code=2)  # never over a file
    assert "notified" in run("notify", incident)
    assert "closed" in run("close", incident)
    run("notify", incident, code=2)
