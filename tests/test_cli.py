"""The labvault command line, end to end on both backends."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
from pydantic import ValidationError
from pyrage import decrypt, x25519
from sqlalchemy import select
from typer.testing import CliRunner

from labvault.cli import app
from labvault.config import Settings
from labvault.identity.accounts import Account
from labvault.identity.lab_service import LabInfo
from labvault.interop.tls import fingerprint_of_pem
from labvault.platform import Platform, open_platform
from labvault.security.access import Role
from labvault.workflow.models import Report
from tests.auth_helpers import Authenticator, AuthenticatorPool, forget_code_use
from tests.conftest import BACKENDS, PgDatabase, require_pg
from tests.factories import TEST_PASSWORD, Bench, Factory
from tests.interop.tls_support import Authority

runner = CliRunner()


@pytest.fixture(params=BACKENDS)
def dirs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    args = ["--data-dir", str(tmp_path / "data"), "--key-dir", str(tmp_path / "keys")]
    if request.param == "postgresql":
        require_pg()
        pg = PgDatabase()
        pg.create()
        yield [*args, "--database-url", pg.url]
        pg.drop()
    else:
        yield args


def run(*args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=input)
    return result.exit_code, result.output


def test_init_refuses_key_dir_inside_data_dir(tmp_path: Path) -> None:
    code, output = run("init", "--data-dir", str(tmp_path / "d"), "--key-dir", str(tmp_path / "d" / "keys"))
    assert code == 2
    assert "must not be" in output and "data" in output
    assert not (tmp_path / "d" / "keys" / "root.key").exists()


def test_full_cli_tour(dirs: list[str], tmp_path: Path) -> None:
    code, output = run("demo", *dirs, "--labs", "2", "--patients", "40", "--orders", "4", "--no-serve")
    assert code == 0, output
    assert "DEMO1" in output and "demo1.reception" in output and "lvt_" in output
    assert "Synthetic activity: 8 orders from 10 prescribers" in flat(output)
    assert "only the demoN.biologist accounts see them" in flat(output)
    assert "labvault demo-code <username>" in flat(output)
    creds = json.loads((tmp_path / "demo-credentials.json").read_text())
    assert len(creds["users"]) == 1 + 2 * 4
    assert all(len(user["totp_secret"]) == 32 for user in creds["users"])
    assert creds["interfaces"] == [
        {"lab": "DEMO1", "username": "demo1.analyzer"},
        {"lab": "DEMO2", "username": "demo2.analyzer"},
    ]
    assert "labvault mllp --account demo1.analyzer" in flat(output)
    code, output = run("demo-code", "demo1.reception", "--data-dir", dirs[1])
    assert code == 0 and re.fullmatch(r"[0-9]{6}", output.strip().splitlines()[0]), output
    code, output = run("demo-code", "nobody", "--data-dir", dirs[1])
    assert code == 2 and "no demo account" in output
    assert creds["workflow"]["orders"] == 8 and creds["workflow"]["reports"] > 0
    assert oct((tmp_path / "demo-credentials.json").stat().st_mode & 0o777) == "0o600"
    hprim_export(dirs, tmp_path, creds)

    code, output = run("demo", *dirs, "--no-serve")
    assert code == 0 and "reusing" in output and "8 orders" in flat(output)

    code, output = run("lab", "add", *dirs, "--code", "CLI1", "--name", "Labo CLI", "--finess", "000000000")
    assert code == 0, output
    code, output = run("lab", "add", *dirs, "--code", "CLI2", "--name", "Labo CLI", "--finess", "123456789")
    assert code == 2 and "finess" in output.lower()

    password = "un mot de passe assez long"  # what the creator gives each new account
    own = OWN_PASSWORD  # what each owner sets for themselves (cli_enrol), before enrolling
    code, output = run(
        "user", "add", *dirs, "--username", "alice.bio", "--role", "biologist", "--lab", "CLI1",
        "--password-stdin", input=password + "\n",
    )  # fmt: skip
    assert code == 2 and "first administrator" in output
    code, output = run(
        "user", "add", *dirs, "--username", "chloe.admin", "--role", "lab_admin", "--lab", "CLI1",
        "--password-stdin", input=password + "\n",
    )  # fmt: skip
    assert code == 0, output
    code, output = run(
        "user", "add", *dirs, "--username", "alice.bio", "--role", "biologist", "--lab", "CLI1",
        "--admin", "chloe.admin", "--password-stdin", input=password + "\n" + password + "\n123456\n",
    )  # fmt: skip
    assert code == 2 and "authentication failed" in output, "chloe has no MFA yet"
    chloe = cli_enrol(dirs, "chloe.admin", password)
    code, output = run(
        "user", "add", *dirs, "--username", "alice.bio", "--role", "biologist", "--lab", "CLI1",
        "--admin", "chloe.admin", "--password-stdin", input=f"{password}\n{own}\n{chloe.code()}\n",
    )  # fmt: skip
    assert code == 0, output
    code, output = run(
        "user", "add", *dirs, "--username", "cobas.bench1", "--role", "interface", "--lab", "CLI1",
        "--admin", "chloe.admin", "--password-stdin", "--totp-code", again(dirs, "chloe.admin", chloe),
        input=f"{own}\n",
    )  # fmt: skip
    assert code == 0 and "never signs in" in flat(output), output
    code, output = run(
        "interface", "map", *dirs, "--account", "cobas.bench1", "--code", "k-ise", "--test", "k",
        "--admin", "chloe.admin", "--password-stdin", "--totp-code", again(dirs, "chloe.admin", chloe),
        input=f"{own}\n",
    )  # fmt: skip
    assert code == 0 and "K-ISE -> K" in output, output
    interface_tls(dirs, tmp_path, lambda: again(dirs, "chloe.admin", chloe), own)
    code, output = run(
        "interface", "order-sender", *dirs, "--account", "cobas.bench1",
        "--admin", "chloe.admin", "--password-stdin", "--totp-code", again(dirs, "chloe.admin", chloe),
        input=f"{own}\n",
    )  # fmt: skip
    assert code == 0 and "cobas.bench1 sends orders" in output, output
    code, output = run(
        "user", "add", *dirs, "--username", "accueil", "--role", "reception", "--lab", "CLI1",
        "--admin", "chloe.admin", "--password-stdin", "--totp-code", again(dirs, "chloe.admin", chloe),
        input=f"{password}\n{own}\n",
    )  # fmt: skip
    assert code == 2 and "generic or shared" in output
    code, output = run(
        "user", "add", *dirs, "--username", "bob.bio", "--role", "biologist", "--lab", "NOPE",
        "--password-stdin", input=password + "\n",
    )  # fmt: skip
    assert code == 2 and "no laboratory with code 'NOPE'" in output

    code, output = run(
        "token", "create", *dirs, "--username", "alice.bio", "--password-stdin", input=password + "\n123456\n"
    )
    assert code == 2 and "authentication failed" in output, "no token without MFA"
    alice = cli_enrol(dirs, "alice.bio", password)
    code, output = run(
        "token", "create", *dirs, "--username", "alice.bio", "--password-stdin",
        input=f"{own}\n{alice.code()}\n",
    )  # fmt: skip
    assert code == 0 and output.strip().splitlines()[0].startswith("lvt_"), output
    code, output = run(
        "token",
        "create",
        *dirs,
        "--username",
        "alice.bio",
        "--password-stdin",
        input="wrong\n123456\n",
    )
    assert code == 2 and "authentication failed" in output

    code, output = run("user", "update", *dirs, "--username", "alice.bio", "--role", "technician")
    assert code == 2 and "first administrator" in output, "the console takes over no lab staff"
    code, output = run("user", "update", *dirs, "--username", "alice.bio", "--disabled")
    assert code == 0 and "disabled" in output
    code, output = run("user", "mfa-reset", *dirs, "--username", "chloe.admin")
    assert code == 0 and "Requested" in output and "may cancel it" in flat(output), "chloe is established"

    code, output = run("keys", "rotate", *dirs, "--lab", "DEMO1")
    assert code == 0, output
    assert "version 2 is now active" in output and "Re-encrypted" in output

    code, output = run("audit", "checkpoint", *dirs)
    assert code == 0, output
    code, output = run("audit", "verify", *dirs)
    assert code == 0 and "audit log verified" in output

    code, output = run("lab", "shred", *dirs, "--lab", "DEMO2")
    assert code == 2 and "--yes" in output
    code, output = run("lab", "shred", *dirs, "--lab", "DEMO2", "--yes")
    assert code == 0 and "destroyed" in output


def test_options_from_environment(tmp_path: Path) -> None:
    env = {"LABVAULT_DATA_DIR": str(tmp_path / "data"), "LABVAULT_KEY_DIR": str(tmp_path / "keys")}
    result = runner.invoke(app, ["init"], env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "keys" / "root.key").exists()
    assert (tmp_path / "data" / "labvault.sqlite3").exists()
    result = runner.invoke(app, ["audit", "verify"], env=env)  # nothing signed yet: not "verified"
    assert result.exit_code == 1 and "no signed checkpoint yet" in result.output
    assert "audit log verified" not in result.output
    result = runner.invoke(app, ["audit", "verify", "--allow-no-checkpoint"], env=env)
    assert result.exit_code == 0 and "audit log verified" in result.output, result.output
    assert runner.invoke(app, ["audit", "checkpoint"], env=env).exit_code == 0
    result = runner.invoke(app, ["audit", "verify"], env=env)
    assert result.exit_code == 0 and "audit log verified" in result.output, result.output


def test_audit_verify_exit_code_on_tampering(tmp_path: Path) -> None:
    """The command an operator runs after an alert: exit 1 and the broken entry named."""
    import sqlite3

    dirs = ["--data-dir", str(tmp_path / "data"), "--key-dir", str(tmp_path / "keys")]
    assert run("demo", *dirs, "--labs", "1", "--patients", "5", "--orders", "0", "--no-serve")[0] == 0
    assert run("audit", "checkpoint", *dirs)[0] == 0
    db = sqlite3.connect(tmp_path / "data" / "labvault.sqlite3")
    db.execute("DROP TRIGGER audit_events_no_update")
    db.execute("UPDATE audit_events SET action = 'patient.read' WHERE chain != 'platform' AND chain_seq = 3")
    db.commit()
    db.close()
    code, output = run("audit", "verify", *dirs)
    assert code == 1
    assert "BROKEN" in output and "entry 3 was modified" in output


# --- results import ------------------------------------------------------------------------------


def interface_tls(dirs: list[str], tmp_path: Path, code_of: Callable[[], str], own: str) -> None:
    """``interface pin`` / ``unpin`` of cobas.bench1's client certificate, and a receiver's TLS
    options refused when half given."""
    ca = Authority(tmp_path, "cli-interfaces")
    issued = ca.issue("cobas-bench1")
    admin = ["--admin", "chloe.admin", "--password-stdin"]
    code, output = run(
        "interface", "pin", *dirs, "--account", "cobas.bench1", "--cert", str(issued.cert), *admin,
        "--totp-code", code_of(), input=f"{own}\n",
    )  # fmt: skip
    assert code == 0 and fingerprint_of_pem(issued.pem) in output, output
    code, output = run(
        "interface", "unpin", *dirs, "--account", "cobas.bench1", *admin, "--totp-code", code_of(),
        input=f"{own}\n",
    )  # fmt: skip
    assert code == 0 and "unpinned" in output, output
    code, output = run(
        "interface", "receiver-add", *dirs, "--account", "cobas.bench1", "--port", "2576",
        "--tls-cert", str(issued.cert), *admin,
    )  # fmt: skip
    assert code == 2 and "need --tls-ca" in output, output


def hprim_export(dirs: list[str], tmp_path: Path, creds: dict[str, Any]) -> None:
    """A demo biologist exports a released report as HPRIM for a doctor's age key: the file is
    ciphertext only, and the doctor's key opens it."""
    platform = open_from(dirs)
    try:
        with platform.db.owner_engine.connect() as connection:
            reports = Report.__table__
            demo1 = uuid.UUID(creds["labs"][0]["id"])
            order_id = connection.execute(
                select(reports.c.order_id).where(reports.c.lab_id == demo1).limit(1)
            ).scalar_one()
    finally:
        platform.close()
    biologist = next(u for u in creds["users"] if u["username"] == "demo1.biologist")
    doctor = x25519.Identity.generate()
    output = tmp_path / "report.hprim.age"
    code, text = run(
        "hprim", *dirs, "--order-id", str(order_id), "--recipient", str(doctor.to_public()),
        "--output", str(output), "--user", "demo1.biologist", "--password-stdin",
        "--totp-code", pyotp.TOTP(biologist["totp_secret"]).now(), input=biologist["password"] + "\n",
    )  # fmt: skip
    assert code == 0, text
    sealed = output.read_bytes()
    assert sealed.startswith(b"age-encryption.org/v1") and b"****LAB****" not in sealed
    assert oct(output.stat().st_mode & 0o777) == "0o600"
    assert b"****LAB****" in decrypt(sealed, [doctor])


def open_from(dirs: list[str]) -> Platform:
    options = dict(zip(dirs[::2], dirs[1::2], strict=True))
    return open_platform(
        Settings(
            data_dir=Path(options["--data-dir"]),
            key_dir=Path(options["--key-dir"]),
            database_url=options.get("--database-url"),
        )
    )


def flat(output: str) -> str:
    return " ".join(output.split())


def again(dirs: list[str], username: str, app: Authenticator) -> str:
    """A code for another command at once: the record of the last code used is cleared first
    (replay is test_mfa's business; this saves waiting for the next 30-second step)."""
    platform = open_from(dirs)
    try:
        forget_code_use(platform, username)
    finally:
        platform.close()
    app.forget()
    return app.code()


OWN_PASSWORD = "mon propre mot de passe"


def cli_enrol(dirs: list[str], username: str, given: str) -> Authenticator:
    """Replace the password ``given`` by :data:`OWN_PASSWORD` (``user set-password``: a given
    password's only use), then enrol through ``user mfa-enroll`` and ``user mfa-confirm``; returns
    the user's app."""
    code, output = run(
        "user", "mfa-enroll", *dirs, "--username", username, "--password-stdin", input=given + "\n"
    )
    assert code == 2 and "authentication failed" in output, "a given password enrols nothing"
    code, output = run(
        "user", "set-password", *dirs, "--username", username, "--password-stdin",
        input=f"{given}\n{OWN_PASSWORD}\n",
    )  # fmt: skip
    assert code == 0 and "Password of" in output, output
    password = OWN_PASSWORD
    code, output = run(
        "user", "mfa-enroll", *dirs, "--username", username, "--password-stdin", input=password + "\n"
    )
    assert code == 0, output
    found = re.search(r"TOTP secret: ([A-Z2-7]{32})", output)
    assert found and f"otpauth://totp/labvault:{username}?secret={found.group(1)}" in output, output
    app = Authenticator(found.group(1))
    code, output = run(
        "user",
        "mfa-confirm",
        *dirs,
        "--username",
        username,
        "--password-stdin",
        input=f"{password}\n{app.code()}\n",
    )
    assert code == 0 and "MFA active" in output, output
    return app


@dataclass
class ResultsImport:
    """A workflow bench (tests/factories.py) on the platform the commands open, with one order
    whose tubes are received, and the means to run ``results import`` as one of its accounts."""

    dirs: list[str]
    bench: Bench
    order_id: uuid.UUID
    tubes: dict[str, str]  # tube type -> barcode
    codes: AuthenticatorPool

    @property
    def factory(self) -> Factory:
        return self.bench.factory

    @property
    def lab(self) -> LabInfo:
        return self.bench.lab

    @property
    def technician(self) -> Account:
        return self.bench.staff[Role.TECHNICIAN]

    @property
    def biologist(self) -> Account:
        return self.bench.staff[Role.BIOLOGIST]

    def csv(self, tmp_path: Path, text: str, encoding: str = "utf-8-sig") -> str:
        path = tmp_path / f"results-{uuid.uuid4().hex[:6]}.csv"
        path.write_bytes(text.format(**self.tubes).encode(encoding))
        return str(path)

    def statuses(self) -> dict[str, str]:
        return {i.test_code: i.status for i in self.bench.get(self.order_id).items}

    def run_import(
        self,
        path: str,
        user: str | None = None,
        *extra: str,
        password: str | None = None,
        totp: str | None = None,
    ) -> tuple[int, str]:
        user = user or self.technician.username
        code, output = run(
            "results", "import", path, *self.dirs, "--lab", self.lab.code,
            "--user", user, "--password-stdin", *extra,
            input=f"{password or TEST_PASSWORD}\n{totp or self.codes.fresh_code(user)}\n",
        )  # fmt: skip
        return code, flat(output)


@pytest.fixture
def bench(dirs: list[str]) -> Iterator[ResultsImport]:
    assert run("init", *dirs)[0] == 0
    platform = open_from(dirs)
    bench = Bench.create(platform)
    # An adult (ADULT_BIRTH), so that the eGFR is calculated.
    order = bench.order(bench.patient(), panels=("IONO", "RENAL"), tests=("GLU", "HIV"))
    tubes = {
        specimen.tube.split(" ")[0].replace("fluoride", "grey"): specimen.barcode
        for specimen in order.specimens
    }
    yield ResultsImport(dirs, bench, order.id, tubes, AuthenticatorPool(platform))
    platform.close()


GOOD_CSV = (
    "barcode;test_code;value;comment\n"
    "{heparin};NA;139;\n"
    "{heparin};K;5,6;prélèvement difficile\n"
    "{heparin};CL;101;\n"
    "{heparin};PROT;70;\n"
    "{heparin};CREA;80;\n"
    "{heparin};UREA;5,1;\n"
    "{SST};HCO3;25;\n"
    "{grey};GLU;27,5;\n"
)


def test_results_import_enters_and_summarises_flags(bench: ResultsImport, tmp_path: Path) -> None:
    assert set(bench.tubes) == {"heparin", "SST", "grey"}
    code, output = bench.run_import(bench.csv(tmp_path, GOOD_CSV))
    assert code == 0, output
    assert f"8 results entered by {bench.technician.username} in {bench.lab.code} (+1 calculated)" in output
    assert "high (H) 1 3" in output  # K on line 3
    assert "critical high (HH) 1 9" in output  # GLU on line 9
    assert "1 critical value(s)" in output
    statuses = bench.statuses()
    assert statuses.pop("HIV") == "pending"  # restricted, not in the file
    assert set(statuses.values()) == {"entered"} and "EGFR" in statuses
    items = {i.test_code: i for i in bench.bench.get(bench.order_id).items}
    assert items["K"].result is not None and items["K"].result.value == "5.6"
    assert items["K"].result.comment == "prélèvement difficile"
    assert items["GLU"].result is not None and items["GLU"].result.flag == "HH"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD_CSV.replace("5,6", "abc"), "line 3, value: is not a number"),
        (
            GOOD_CSV.replace("5,6", "56"),
            "line 3, value: is above the plausible limit of K (Potassium): 15 mmol/L",
        ),
        (GOOD_CSV.replace("27,5", "2.75e1"), "line 9, value: must not use an exponent"),
        (GOOD_CSV.replace("{heparin};CL", "9999999999;CL"), "line 4, barcode: no tube with this barcode"),
        (GOOD_CSV.replace("{grey};GLU", "{heparin};GLU"), "line 9, test_code: this test is not ordered on"),
        (  # a restricted test reads as one not ordered on this tube (issue 10, finding 8)
            GOOD_CSV + "{SST};HIV;negative;\n",
            "line 10, test_code: this test is not ordered on this tube",
        ),
        (
            GOOD_CSV.replace("{heparin};UREA", "{heparin};EGFR"),
            "line 7, test_code: is calculated by labvault",
        ),
        (GOOD_CSV.replace("{SST};HCO3;25", "{SST};HCO3;"), "line 8, value: is empty"),
        (GOOD_CSV.replace("barcode;", "code;"), "line 1: the header must name the columns"),
    ],
)
def test_results_import_bad_line_writes_nothing(
    bench: ResultsImport, tmp_path: Path, text: str, message: str
) -> None:
    code, output = bench.run_import(bench.csv(tmp_path, text))
    assert code == 1, output
    assert "refused, nothing written" in output and message in output
    assert set(bench.statuses().values()) == {"pending"}


def test_results_import_dry_run_checks_and_writes_nothing(bench: ResultsImport, tmp_path: Path) -> None:
    path = bench.csv(tmp_path, GOOD_CSV + "{SST};HIV;Negative;\n", encoding="utf-8")
    code, output = bench.run_import(path, bench.biologist.username, "--dry-run")
    assert code == 0, output
    assert "Dry run: 9 results would be entered, nothing written (+1 calculated)" in output
    assert "critical high (HH) 1 9" in output
    assert set(bench.statuses().values()) == {"pending"}
    code, output = bench.run_import(bench.csv(tmp_path, GOOD_CSV.replace("27,5", "x")), None, "--dry-run")
    assert code == 1 and "line 9, value: is not a number" in output
    code, output = run("audit", "verify", "--allow-no-checkpoint", *bench.dirs)
    assert code == 0 and "audit log verified" in output  # the rolled-back rehearsal left no hole
    # the biologist enters the restricted serology too
    code, output = bench.run_import(path, bench.biologist.username)
    assert code == 0 and "9 results entered" in flat(output), output
    assert bench.statuses()["HIV"] == "entered"


def test_a_technicians_dry_run_tells_no_restricted_test_from_an_absent_one(
    bench: ResultsImport, tmp_path: Path
) -> None:
    """Issue 10, finding 8: the dry run said "restricted test HIV: entered by a biologist" for the
    HIV tube and "not ordered on this tube" for another; both lines now read the same."""
    answers = []
    for tube in ("SST", "heparin"):  # HIV is ordered on the SST tube, not on the heparin one
        path = bench.csv(tmp_path, GOOD_CSV + "{" + tube + "};HIV;negative;\n")
        answers.append(bench.run_import(path, None, "--dry-run"))
    assert answers[0] == answers[1]
    code, output = answers[0]
    assert code == 1 and "line 10, test_code: this test is not ordered on this tube" in output
    assert "restricted" not in output and "biologist" not in output
    assert set(bench.statuses().values()) == {"pending"}


def test_results_import_refuses_another_labs_account_and_non_bench_roles(
    bench: ResultsImport, tmp_path: Path
) -> None:
    other_lab = bench.factory.lab()
    stranger = bench.factory.user(other_lab, Role.TECHNICIAN)
    path = bench.csv(tmp_path, GOOD_CSV)
    code, output = bench.run_import(path, stranger.username)
    assert code == 2 and f"is not an account of laboratory {bench.lab.code}" in output
    receptionist = bench.factory.user(bench.lab, Role.RECEPTION)
    code, output = bench.run_import(path, receptionist.username)
    assert code == 2 and "may not result.enter" in output
    code, output = bench.run_import(path, "nobody.here", totp="123456")
    assert code == 2 and "authentication failed" in output
    code, output = bench.run_import(path, bench.technician.username, password="not the password at all")
    assert code == 2 and "authentication failed" in output
    code, output = bench.run_import(path, bench.technician.username, totp="000000")
    assert code == 2 and "authentication failed" in output
    code, output = bench.run_import(
        path, bench.factory.user(bench.lab, Role.TECHNICIAN).username, totp="123456"
    )
    assert code == 2 and "authentication failed" in output, "not enrolled in MFA"
    code, output = bench.run_import(str(tmp_path / "missing.csv"))
    assert code == 2 and "cannot read" in output
    assert set(bench.statuses().values()) == {"pending"}


@pytest.mark.parametrize("option", ["--seq", "--first", "--size"])
@pytest.mark.parametrize("value", [str(2**63), "0", "-1"])
def test_audit_proof_integers_are_bounded_before_the_database(option: str, value: str) -> None:
    """2^63 reached the database driver (an OverflowError); now a usage error naming the option."""
    code, output = run("audit", "proof", "platform", option, value)
    assert code == 2 and f"Invalid value for '{option}'" in output, output


@pytest.mark.parametrize("command", [["alerts", "--lab", "NOPE"], ["canary", "list", "--lab", "NOPE"]])
def test_security_commands_name_a_bad_setting_without_a_traceback(command: list[str], tmp_path: Path) -> None:
    """The security officer's commands open the platform like every other: a bad ``LABVAULT_*``
    variable is a one-line message and exit code 2."""
    env = {"LABVAULT_LAB_READ_BUDGET_SOFT": "0"}  # at least 1
    args = [*command, "--data-dir", str(tmp_path / "data"), "--key-dir", str(tmp_path / "keys")]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 2, result.output
    assert "invalid setting" in result.output and "lab_read_budget_soft" in result.output
    assert not isinstance(result.exception, ValidationError)
