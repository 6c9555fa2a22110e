"""Key rotation (old data readable, new writes on the new version, background re-encryption)
and crypto-shredding (a destroyed lab's data is unreadable for good; other labs untouched)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from labvault.crypto.errors import IntegrityError, KeyUnavailable
from labvault.crypto.field_cipher import header_of
from labvault.errors import Unauthenticated
from labvault.identity.models import Patient
from labvault.keys.models import LabKey
from labvault.platform import open_platform
from labvault.security.access import Role
from tests.db_inspect import raw_rows
from tests.factories import TEST_PASSWORD, Factory, cli_ctx

_HOUR = dt.timedelta(hours=1)


def stored_versions(factory: Factory, patient_ids: list[object]) -> set[int]:
    rows = raw_rows(factory.platform, Patient, id=patient_ids)
    return {header_of(row.birth_name_enc)[1] for row in rows} | {header_of(row.nir_enc)[1] for row in rows}


def test_rotation_keeps_old_data_readable_and_writes_new_version(factory: Factory) -> None:
    platform = factory.platform
    lab = factory.lab()
    ctx = factory.ctx(lab, Role.BIOLOGIST)
    old = [platform.patients.register(ctx, factory.patient_data()) for _ in range(3)]
    assert stored_versions(factory, [r.id for r in old]) == {1}

    assert platform.labs.rotate_keys(cli_ctx(), lab.id) == 2
    for record in old:
        assert platform.patients.get(ctx, record.id).data == record.data
    new = platform.patients.register(ctx, factory.patient_data())
    assert stored_versions(factory, [new.id]) == {2}
    assert stored_versions(factory, [r.id for r in old]) == {1}

    report = platform.reencryptor.run(lab.id)
    assert report.values_rewritten >= 3 * 5
    assert stored_versions(factory, [r.id for r in [*old, new]]) == {2}
    assert platform.reencryptor.run(lab.id).values_rewritten == 0  # resumable / idempotent

    with platform.db.transaction(None) as session:
        assert platform.keys.retire_versions_below(session, lab.id, 2) == 1
    for record in [*old, new]:
        assert platform.patients.get(ctx, record.id).data.nir == record.data.nir
    assert platform.patients.find_by_nir(ctx, old[0].data.nir or "")[0].id == old[0].id


def test_rotation_of_one_lab_leaves_others_alone(factory: Factory) -> None:
    platform = factory.platform
    lab_a, lab_b = factory.lab(), factory.lab()
    ctx_b = factory.ctx(lab_b)
    b = platform.patients.register(ctx_b, factory.patient_data())
    platform.labs.rotate_keys(cli_ctx(), lab_a.id)
    platform.reencryptor.run(lab_a.id)
    assert stored_versions(factory, [b.id]) == {1}
    assert platform.patients.get(ctx_b, b.id).data == b.data


def test_lab_admin_rotates_only_its_own_lab(factory: Factory) -> None:
    from labvault.errors import Forbidden, NotFound

    lab_a, lab_b = factory.lab(), factory.lab()
    admin_a = factory.ctx(lab_a, Role.LAB_ADMIN)
    assert factory.platform.labs.rotate_keys(admin_a, lab_a.id) == 2
    with pytest.raises(NotFound):  # another lab's existence does not leak
        factory.platform.labs.rotate_keys(admin_a, lab_b.id)
    with pytest.raises(Forbidden):
        factory.platform.labs.rotate_keys(factory.ctx(lab_a, Role.BIOLOGIST), lab_a.id)


def test_crypto_shredding(factory: Factory) -> None:
    platform = factory.platform
    doomed, survivor = factory.lab(), factory.lab()
    ctx_doomed, ctx_survivor = factory.ctx(doomed), factory.ctx(survivor)
    gone = platform.patients.register(ctx_doomed, factory.patient_data())
    kept = platform.patients.register(ctx_survivor, factory.patient_data())

    platform.labs.shred(cli_ctx(), doomed.id)

    kek_file = platform.settings.key_dir / "labs" / f"{doomed.id}.kek"
    assert not kek_file.exists()
    with platform.db.owner_engine.connect() as conn:
        assert (
            conn.execute(select(LabKey.__table__).where(LabKey.__table__.c.lab_id == doomed.id)).all() == []
        )
        ciphertext = conn.execute(
            select(Patient.__table__.c.nir_enc).where(Patient.__table__.c.id == gone.id)
        ).scalar_one()
    assert ciphertext  # the ciphertext is still there: it is the keys that are gone
    with pytest.raises(KeyUnavailable):
        platform.patients.get(ctx_doomed, gone.id)
    # A fresh process (no key cache) cannot read it either.
    other = open_platform(platform.settings)
    try:
        with pytest.raises(KeyUnavailable):
            other.patients.get(ctx_doomed, gone.id)
        assert other.patients.get(ctx_survivor, kept.id).data == kept.data
    finally:
        other.close()
    assert platform.patients.get(ctx_survivor, kept.id).data == kept.data
    # The shredded lab's staff can no longer sign in, by password or by token.
    staff = factory.user(survivor, Role.TECHNICIAN)
    assert (
        platform.accounts.resolve_token(platform.accounts.issue_token(staff, "t", _HOUR).token).id == staff.id
    )
    doomed_account = platform.accounts.by_username(ctx_doomed.actor_label)
    with pytest.raises(Unauthenticated):
        platform.accounts.authenticate(doomed_account.username, TEST_PASSWORD, "123456")


def test_kek_of_another_lab_cannot_stand_in(factory: Factory) -> None:
    """Copying lab A's KEK file over lab B's gives an integrity error, not lab B's data."""
    platform = factory.platform
    lab_a, lab_b = factory.lab(), factory.lab()
    ctx_b = factory.ctx(lab_b)
    record = platform.patients.register(ctx_b, factory.patient_data())
    keys = platform.settings.key_dir / "labs"
    original = (keys / f"{lab_b.id}.kek").read_bytes()
    (keys / f"{lab_b.id}.kek").write_bytes((keys / f"{lab_a.id}.kek").read_bytes())
    platform.keys.forget(lab_b.id)
    try:
        with pytest.raises(IntegrityError):
            platform.patients.get(ctx_b, record.id)
    finally:
        (keys / f"{lab_b.id}.kek").write_bytes(original)
        platform.keys.forget(lab_b.id)
    assert platform.patients.get(ctx_b, record.id).data == record.data
