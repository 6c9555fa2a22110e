"""One checkpoint signer at a time: a signer holding older trees must never replace a newer signed
file (a signed rollback a witness would report). The second signer waits for the lock, then sees
the newer state."""

from __future__ import annotations

import threading

from labvault.platform import Platform
from labvault.security.access import Role
from labvault.security.checkpoint import CHECKPOINT_FILE, signing_lock
from tests.factories import Factory


def test_a_signer_waits_for_the_one_holding_the_lock(factory: Factory) -> None:
    platform: Platform = factory.platform
    lab = factory.lab()
    platform.patients.register(factory.ctx(lab, Role.RECEPTION), factory.patient_data())
    directory = platform.audit.checkpoint_dir
    signer = threading.Thread(target=platform.audit.checkpoint_heads)
    with signing_lock(directory):
        before = (
            (directory / CHECKPOINT_FILE).stat().st_mtime_ns if (directory / CHECKPOINT_FILE).exists() else 0
        )
        signer.start()
        signer.join(timeout=0.5)
        assert signer.is_alive(), "the signer must wait while another holds the lock"
        after = (
            (directory / CHECKPOINT_FILE).stat().st_mtime_ns if (directory / CHECKPOINT_FILE).exists() else 0
        )
        assert after == before, "nothing written while the lock is held"
    signer.join(timeout=30)
    assert not signer.is_alive()
    assert (directory / CHECKPOINT_FILE).exists()
