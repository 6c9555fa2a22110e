"""Migration 0008 backfills the Merkle frontier of chains that already hold entries."""

from __future__ import annotations

from alembic import command
from sqlalchemy import select, update

from labvault.schema import upgrade
from labvault.security.access import Role
from labvault.security.merkle import Frontier
from labvault.security.models import AuditHead
from labvault.store.migrate import alembic_config
from tests.factories import Factory

HEADS = AuditHead.__table__


def test_upgrade_backfills_the_frontier_of_existing_chains(fresh_factory: Factory) -> None:
    platform = fresh_factory.platform
    lab = fresh_factory.lab()
    ctx = fresh_factory.ctx(lab, Role.RECEPTION)
    for _ in range(5):
        platform.patients.register(ctx, fresh_factory.patient_data())
    with platform.db.owner_engine.connect() as conn:
        before = {row.chain: row.merkle_frontier for row in conn.execute(select(HEADS))}
    assert len(before[str(lab.id)]) > 0
    platform.db.dispose()
    command.downgrade(alembic_config(platform.db.url), "0007")
    platform.db.dispose()
    upgrade(platform.db.url)
    with platform.db.owner_engine.connect() as conn:
        after = {row.chain: row.merkle_frontier for row in conn.execute(select(HEADS))}
    assert after == before
    # And it is the frontier the verifier rebuilds from the entries (not just the same bytes).
    with platform.db.owner_engine.begin() as conn:
        conn.execute(update(HEADS).values(merkle_frontier=b""))
    assert any("Merkle frontier" in p for p in platform.audit.verify().problems)
    with platform.db.owner_engine.begin() as conn:
        for chain, frontier in before.items():
            conn.execute(update(HEADS).where(HEADS.c.chain == chain).values(merkle_frontier=frontier))
    result = platform.audit.verify()
    assert result.ok, result.problems
    assert {r.chain: r.frontier.to_bytes() for r in result.reports} == before
    assert Frontier.from_bytes(result.reports[0].length, before[result.reports[0].chain])
