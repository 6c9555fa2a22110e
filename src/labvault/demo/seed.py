"""Seeds a platform with synthetic laboratories, one account per role per lab, and patients.

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

from labvault.demo.synthetic import SyntheticPatient, generate_finess, synthetic_patients
from labvault.identity.account_service import Account, context_for
from labvault.identity.patient_data import PatientData
from labvault.platform import Platform
from labvault.security.access import LAB_ROLES, AccessContext, Purpose, Role

CREDENTIALS_FILE = "demo-credentials.json"
LAB_NAMES = (
    "Laboratoire des Tilleuls",
    "Biologie du Port",
    "Laboratoire de la Citadelle",
    "Analyses du Plateau",
)
BATCH = 1000


@dataclass
class DemoCredentials:
    users: list[dict[str, str]] = field(default_factory=list)
    labs: list[dict[str, str]] = field(default_factory=list)


def cli_context() -> AccessContext:
    """The local operator at the server's console acts as the platform operator."""
    return AccessContext(None, f"cli:{getpass.getuser()}", Role.PLATFORM_OPERATOR, None, Purpose.MAINTENANCE)


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
) -> DemoCredentials:
    """Create ``labs`` labs with their staff and ``patients_per_lab`` patients each."""
    rng = random.Random(seed_value)
    operator_ctx = cli_context()
    creds = DemoCredentials()
    operator_password = secrets.token_urlsafe(12)
    operator = platform.accounts.create_user(
        operator_ctx, "operator", operator_password, Role.PLATFORM_OPERATOR, None
    )
    _remember(platform, creds, operator, operator_password, None)
    people = synthetic_patients(labs * patients_per_lab, seed_value)
    for number in range(1, labs + 1):
        code = f"DEMO{number}"
        lab = platform.labs.create(
            operator_ctx, code, LAB_NAMES[(number - 1) % len(LAB_NAMES)], generate_finess(rng)
        )
        creds.labs.append({"code": lab.code, "id": str(lab.id), "name": lab.name})
        creator = operator_ctx  # the operator creates the lab's first admin, who creates the staff
        for role in (Role.LAB_ADMIN, *(r for r in LAB_ROLES if r is not Role.LAB_ADMIN)):
            username = f"{code.lower()}.{role.value.replace('_', '')}"
            password = secrets.token_urlsafe(12)
            account = platform.accounts.create_user(creator, username, password, role, lab.id)
            _remember(platform, creds, account, password, code)
            if role is Role.LAB_ADMIN:
                creator = context_for(account, Purpose.ADMINISTRATION, "demo-seed")
        reception = next(u for u in creds.users if u["lab"] == code and u["role"] == Role.RECEPTION.value)
        ctx = context_for(
            platform.accounts.by_username(reception["username"]), Purpose.ADMINISTRATION, "demo-seed"
        )
        done = 0
        while done < patients_per_lab:
            chunk = [to_patient_data(next(people)) for _ in range(min(BATCH, patients_per_lab - done))]
            platform.patients.register_many(ctx, chunk)
            done += len(chunk)
        progress(f"{code}: {lab.name}, {done} patients")
    platform.audit.checkpoint_heads()
    return creds


def _remember(
    platform: Platform, creds: DemoCredentials, account: Account, password: str, lab: str | None
) -> None:
    token = platform.accounts.issue_token(account, "demo", dt.timedelta(days=30), "demo-seed")
    creds.users.append(
        {
            "username": account.username,
            "password": password,
            "role": account.role.value,
            "lab": lab or "",
            "token": token.token,
        }
    )


def write_credentials(data_dir: Path, creds: DemoCredentials) -> Path:
    """Demo logins and tokens, readable by the owner only."""
    path = data_dir / CREDENTIALS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"labs": creds.labs, "users": creds.users}, handle, indent=2)
    return path


def read_credentials(data_dir: Path) -> DemoCredentials | None:
    path = data_dir / CREDENTIALS_FILE
    if not path.exists():
        return None
    document = json.loads(path.read_text())
    return DemoCredentials(users=document["users"], labs=document["labs"])
