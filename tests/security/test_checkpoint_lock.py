"""One checkpoint signer at a time: a signer holding older trees must never replace a newer signed
file (a signed rollback a witness would report). The second signer waits for the lock, then sees
the newer state."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from labvault.platform import Platform
from labvault.security.access import Role
from labvault.security.checkpoint import CHECKPOINT_FILE, signing_lock
from tests.factories import Factory
from tests.security.test_audit_tamper import chain_rows


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


def test_a_signer_reads_the_heads_it_signs_under_the_lock(
    factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several server workers sign while requests append. A signer that read the heads and then
    waited its turn would hold trees older than those the signer before it just wrote, and refuse
    them as a rollback (a false alarm in the server's log). So the heads are read under the lock:
    here the first signer dawdles after reading them, and the second, with a newer entry, waits."""
    platform: Platform = factory.platform
    lab = factory.lab()
    staff = factory.ctx(lab, Role.RECEPTION)
    platform.patients.register(staff, factory.patient_data())
    errors: list[BaseException] = []
    read = threading.Event()
    gate = platform.audit.gate
    maintenance = gate.maintenance

    @contextlib.contextmanager
    def dawdling() -> Iterator[Session]:
        with maintenance() as session:
            yield session
        if threading.current_thread() is first and not read.is_set():
            read.set()
            time.sleep(0.5)  # descheduled between reading the heads and signing them

    def sign() -> None:
        try:
            platform.audit.checkpoint_heads()
        except BaseException as exc:
            errors.append(exc)

    monkeypatch.setattr(gate, "maintenance", dawdling)
    first = threading.Thread(target=sign)
    first.start()
    assert read.wait(timeout=30)
    platform.patients.register(staff, factory.patient_data())  # a request appends meanwhile
    sign()  # and another worker signs the newer heads
    first.join(timeout=30)
    assert errors == [], errors
    state = platform.audit.signed_state()
    assert state is not None
    with platform.db.owner_engine.connect() as conn:
        assert state.chains[str(lab.id)].checkpoint.size == len(chain_rows(conn, str(lab.id)))
