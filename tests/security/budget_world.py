"""The read-budget tests' world: a lab whose patients are registered in bulk (not counted), one
fake clock driving the monitor and the audit log's timestamps, and ``configure`` to reinstall the
monitor with the test's settings over the file's base ones (undone when the test ends)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from labvault.identity.lab_service import LabInfo
from labvault.oversight.read_budget import SOFT_RECHECK
from labvault.platform import Platform
from labvault.security import audit
from labvault.security.access import AccessContext, Role
from labvault.security.monitor import install
from labvault.store.base import utcnow
from tests.auth_helpers import FakeClock
from tests.factories import Factory

STEP = SOFT_RECHECK.total_seconds() + 1  # seconds between reads: every soft check is due


@dataclass
class World:
    factory: Factory
    lab: LabInfo
    patients: list[uuid.UUID]
    clock: FakeClock
    configure: Callable[..., None]

    @property
    def platform(self) -> Platform:
        return self.factory.platform

    def reader(self, role: Role = Role.RECEPTION) -> AccessContext:
        return self.factory.ctx(self.lab, role)

    def read(self, ctx: AccessContext, patient_id: uuid.UUID, platform: Platform | None = None) -> None:
        self.clock.advance(seconds=STEP)
        (platform or self.platform).patients.get(ctx, patient_id)


def budget_world(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, patients: int, base: dict[str, Any]
) -> Iterator[World]:
    """For a fixture to ``yield from``: the clock starts now (API tokens stay valid)."""
    factory = Factory(platform)
    lab = factory.lab()
    ids = platform.patients.register_many(factory.ctx(lab), [factory.patient_data() for _ in range(patients)])
    clock = FakeClock(utcnow())
    monkeypatch.setattr(audit, "utcnow", clock)

    def configure(**update: Any) -> None:
        install(platform.db, platform.settings.model_copy(update={**base, **update}), clock=clock)

    configure()
    yield World(factory, lab, ids, clock, configure)
    install(platform.db, platform.settings)
