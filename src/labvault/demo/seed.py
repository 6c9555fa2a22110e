"""Seeds a platform with synthetic laboratories, one account per role per lab, patients, and
(:mod:`labvault.demo.workflow_seed`) prescribers, orders, results and reports.

Everything here is synthetic (Faker fr_FR, generated NIRs with valid keys, INS test OID).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from labvault.demo.workflow_seed import LabStaff, SeedPatient, WorkflowSummary, seed_workflow
from labvault.errors import NotFound, Unauthenticated
from labvault.identity.accounts import Account, context_for
from labvault.identity.patient_data import PatientData
from labvault.identity.synthetic import (
    SyntheticPatient,
    generate_finess,
    synthetic_full_names,
    synthetic_patients,
)
from labvault.platform import Platform
from labvault.security.access import LAB_ROLES, AccessContext, Purpose, Role
from labvault.security.totp import STEP_SECONDS, code_at, code_at_step, step_of

CREDENTIALS_FILE = "demo-credentials.json"  # beside the data directory, never inside it
LAB_NAMES = (
    "Laboratoire des Tilleuls",
    "Biologie du Port",
    "Laboratoire de la Citadelle",
    "Analyses du Plateau",
)
BATCH = 1000
ORDERS_PER_LAB = 60


@dataclass
class DemoCredentials:
    users: list[dict[str, str]] = field(default_factory=list)
    labs: list[dict[str, str]] = field(default_factory=list)
    workflow: dict[str, int] = field(default_factory=dict)  # what seed_workflow created, all labs
    interfaces: list[dict[str, str]] = field(default_factory=list)  # one analyzer account per lab


def cli_context() -> AccessContext:
    """The local operator at the server's console acts as the platform operator."""
    return AccessContext.console(f"cli:{getpass.getuser()}")


def to_patient_data(p: SyntheticPatient) -> PatientData:
    return PatientData(
        birth_name=p.birth_name,
        first_names=p.first_names,
        sex=p.sex,
        birth_date=p.birth_date,
        used_name=p.used_name,
        birthplace_insee=p.birthplace_insee,
        nir=p.nir,
        ins=p.ins,
        ins_oid=p.ins_oid,
        ins_status=p.ins_status,
        address=p.address,
        phone=p.phone,
        email=p.email,
    )


def seed(
    platform: Platform,
    labs: int,
    patients_per_lab: int,
    seed_value: int,
    progress: Callable[[str], None] = lambda _: None,
    orders_per_lab: int = 0,
) -> DemoCredentials:
    """Create ``labs`` labs with their staff and ``patients_per_lab`` patients each, then about
    ``orders_per_lab`` orders per lab taken through the whole workflow (``labvault demo`` asks for
    :data:`ORDERS_PER_LAB`; none by default, for tests and benchmarks that only need identities)."""
    rng = random.Random(seed_value)
    operator_ctx = cli_context()
    creds = DemoCredentials()
    operator_password = secrets.token_urlsafe(12)
    operator = platform.accounts.create_user(
        operator_ctx, "operator", operator_password, Role.PLATFORM_OPERATOR, None
    )
    _remember(platform, creds, operator, operator_password, None)
    people = synthetic_patients(labs * patients_per_lab, seed_value)
    staff_roles = (Role.LAB_ADMIN, *(r for r in LAB_ROLES if r is not Role.LAB_ADMIN))
    names = iter(synthetic_full_names(labs * len(staff_roles), seed_value))
    activity = WorkflowSummary()
    for number in range(1, labs + 1):
        code = f"DEMO{number}"
        lab = platform.labs.create(
            operator_ctx, code, LAB_NAMES[(number - 1) % len(LAB_NAMES)], generate_finess(rng)
        )
        creds.labs.append({"code": lab.code, "id": str(lab.id), "name": lab.name})
        creator = operator_ctx  # the operator creates the lab's first admin, who creates the staff
        accounts: dict[Role, Account] = {}
        for role in staff_roles:
            username = f"{code.lower()}.{role.value.replace('_', '')}"
            password = secrets.token_urlsafe(12)
            account = platform.accounts.create_user(
                creator, username, password, role, lab.id, full_name=next(names)
            )
            accounts[role] = account
            _remember(platform, creds, account, password, code)
            if role is Role.LAB_ADMIN:
                creator = context_for(account, Purpose.ADMINISTRATION, "demo-seed")
        analyzer = platform.accounts.create_user(  # never signs in: no password anyone knows
            creator, f"{code.lower()}.analyzer", secrets.token_urlsafe(24), Role.INTERFACE, lab.id
        )
        creds.interfaces.append({"lab": code, "username": analyzer.username})
        ctx = context_for(accounts[Role.RECEPTION], Purpose.ADMINISTRATION, "demo-seed")
        registered: list[SeedPatient] = []
        while len(registered) < patients_per_lab:
            chunk = [
                to_patient_data(next(people)) for _ in range(min(BATCH, patients_per_lab - len(registered)))
            ]
            ids = platform.patients.register_many(ctx, chunk)
            registered += [
                SeedPatient(pid, data.sex, data.birth_date) for pid, data in zip(ids, chunk, strict=True)
            ]
        line = f"{code}: {lab.name}, {len(registered)} patients"
        if orders_per_lab > 0 and registered:
            staff = LabStaff(
                reception=context_for(accounts[Role.RECEPTION], Purpose.CARE, "demo-seed"),
                technician=context_for(accounts[Role.TECHNICIAN], Purpose.CARE, "demo-seed"),
                biologist=context_for(accounts[Role.BIOLOGIST], Purpose.CARE, "demo-seed"),
            )
            done = seed_workflow(
                platform, staff, registered, random.Random(f"{seed_value}-{code}"), orders_per_lab
            )
            activity.add(done)
            line += f", {done.orders} orders, {done.results} results, {done.reports} reports"
        progress(line)
    creds.workflow = activity.as_dict()
    platform.audit.checkpoint_heads()
    return creds


def _remember(
    platform: Platform, creds: DemoCredentials, account: Account, given_password: str, lab: str | None
) -> None:
    # The demo plays each account's owner: the password its creator gave works once, to set the
    # owner's own (identity/credentials.py), which then enrols the authenticator.
    password = secrets.token_urlsafe(12)
    platform.accounts.set_own_password(account.username, given_password, password, None, "demo-seed")
    secret = enroll_demo_mfa(platform, account.username, password)
    token = platform.accounts.issue_token(account, "demo", dt.timedelta(days=30), "demo-seed")
    creds.users.append(
        {
            "username": account.username,
            "password": password,
            "role": account.role.value,
            "lab": lab or "",
            "token": token.token,
            # Demo only: a real user's secret lives in their authenticator app and nowhere else.
            "totp_secret": secret,
        }
    )


def enroll_demo_mfa(platform: Platform, username: str, password: str) -> str:
    """Enrol a demo account in TOTP; returns the secret (``labvault demo-code`` shows its codes).

    Confirmed with the previous time step's code (within the drift window), so that the current
    code still works for a first login right after seeding: codes are single-use."""
    mfa = platform.accounts.mfa
    secret = mfa.begin_enrollment(username, password, "demo-seed").secret
    step = step_of(platform.accounts.clock())
    try:
        mfa.confirm_enrollment(username, password, code_at_step(secret, step - 1), "demo-seed")
    except Unauthenticated:  # the clock crossed a step boundary in between
        mfa.confirm_enrollment(username, password, code_at_step(secret, step), "demo-seed")
    return secret


def demo_code(data_dir: Path, username: str, at: dt.datetime) -> tuple[str, int]:
    """The current one-time code of a demo account and the seconds it stays current."""
    creds = read_credentials(data_dir)
    if creds is None:
        raise NotFound(f"no demo credentials at {credentials_path(data_dir)}: run labvault demo first")
    for user in creds.users:
        if user["username"] == username.strip().lower():
            secret = user.get("totp_secret")
            if not secret:
                raise NotFound(f"the demo in {data_dir} predates MFA: remove it and run labvault demo again")
            return code_at(secret, at), STEP_SECONDS - int(at.timestamp()) % STEP_SECONDS
    raise NotFound(f"no demo account {username!r}")


def credentials_path(data_dir: Path) -> Path:
    """Where the demo keeps its logins, tokens and TOTP secrets: next to the data directory
    (``var/demo-credentials.json`` for ``var/data``), so a copy of the data carries none of them."""
    return data_dir.resolve().parent / CREDENTIALS_FILE


def write_credentials(data_dir: Path, creds: DemoCredentials) -> Path:
    """Demo logins and tokens, readable by the owner only."""
    path = credentials_path(data_dir)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file left by an older run keeps its mode otherwise
    with os.fdopen(fd, "w") as handle:
        document = {
            "labs": creds.labs,
            "users": creds.users,
            "workflow": creds.workflow,
            "interfaces": creds.interfaces,
        }
        json.dump(document, handle, indent=2)
    return path


def read_credentials(data_dir: Path) -> DemoCredentials | None:
    path = credentials_path(data_dir)
    legacy = data_dir / CREDENTIALS_FILE
    if legacy.exists():  # an older demo kept it inside the data directory: move it out
        os.replace(legacy, path)
    if not path.exists():
        return None
    document = json.loads(path.read_text())
    return DemoCredentials(
        users=document["users"],
        labs=document["labs"],
        workflow=document.get("workflow") or {},
        interfaces=document.get("interfaces") or [],
    )
