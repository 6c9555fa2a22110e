"""Physicians: RPPS validation, encryption, per-lab uniqueness and isolation."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from labvault.errors import Conflict, Forbidden, InvalidInput, NotFound
from labvault.identity.models import Physician
from labvault.identity.physician_service import PhysicianData
from labvault.identity.synthetic import generate_rpps
from labvault.security.access import Role
from tests.factories import Factory


def test_register_and_find_by_rpps(factory: Factory) -> None:
    lab, other = factory.lab(), factory.lab()
    ctx = factory.ctx(lab, Role.RECEPTION)
    rpps = generate_rpps(random.Random())
    data = PhysicianData(
        rpps=rpps, family_name="Médecin", given_names="Prescriptrice", specialty="médecine générale"
    )
    record = factory.platform.physicians.register(ctx, data)
    assert factory.platform.physicians.find_by_rpps(ctx, rpps) == record
    with pytest.raises(Conflict):
        factory.platform.physicians.register(ctx, data)
    with pytest.raises(NotFound):
        factory.platform.physicians.find_by_rpps(factory.ctx(other, Role.BIOLOGIST), rpps)
    with pytest.raises(Forbidden):
        factory.platform.physicians.register(factory.ctx(lab, Role.TECHNICIAN), data)
    with factory.platform.db.owner_engine.connect() as conn:
        row = conn.execute(select(Physician.__table__).where(Physician.__table__.c.id == record.id)).one()
    assert rpps.encode() not in row.rpps_enc and b"Prescriptrice" not in row.given_names_enc


def test_invalid_rpps_refused(factory: Factory) -> None:
    ctx = factory.ctx(factory.lab())
    rpps = generate_rpps(random.Random(3))
    wrong_key = rpps[:-1] + str((int(rpps[-1]) + 1) % 10)
    with pytest.raises(InvalidInput) as caught:
        factory.platform.physicians.register(
            ctx, PhysicianData(rpps=wrong_key, family_name="A", given_names="B")
        )
    assert caught.value.field == "rpps"
