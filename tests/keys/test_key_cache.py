"""Two processes on one database (the server and the CLI): a rotation or a shredding done by one
is seen by the other's next transaction."""

from __future__ import annotations

import pytest

from labvault.crypto.errors import KeyUnavailable
from labvault.crypto.field_cipher import header_of
from labvault.platform import open_platform
from labvault.security.access import Role
from tests.factories import Factory, cli_ctx


def test_other_process_sees_rotation_and_shredding(factory: Factory) -> None:
    server = factory.platform
    lab = factory.lab()
    ctx = factory.ctx(lab, Role.RECEPTION)
    before = server.patients.register(ctx, factory.patient_data())
    cli = open_platform(server.settings)
    try:
        assert cli.labs.rotate_keys(cli_ctx(), lab.id) == 2
        cli.reencryptor.run(lab.id)
        assert server.patients.get(ctx, before.id).data == before.data  # no stale "no key version 2"
        after = server.patients.register(ctx, factory.patient_data())
        with server.db.transaction(lab.id) as session:
            from labvault.identity.models import Patient

            row = session.get(Patient, after.id)
            assert row is not None and header_of(row.nir_enc or b"")[1] == 2  # writes use the new key
        cli.labs.shred(cli_ctx(), lab.id)
    finally:
        cli.close()
    with pytest.raises(KeyUnavailable):
        server.patients.get(ctx, before.id)
    with pytest.raises(KeyUnavailable):
        server.patients.register(ctx, factory.patient_data())
