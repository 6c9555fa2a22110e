"""breach response: incident records and their affected patients

Revision ID: 0027
Revises: 0022
Create Date: 2026-12-07 23:30:00

A lab's personal-data breach incidents (discovery time, nature, status, approximate counts in
clear; every free text sealed) and the patients each affects, as ids only with the source that
found them, their links bound to the row (governance/incident_models.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "breach_incidents",
        sa.Column("discovered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.Uuid(), nullable=True),
        sa.Column("nature", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("people_approx", sa.Integer(), nullable=True),
        sa.Column("records_approx", sa.Integer(), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("details_enc", sa.LargeBinary(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_breach_incidents_lab_id_labs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breach_incidents")),
    )
    with op.batch_alter_table("breach_incidents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_breach_incidents_lab_id"), ["lab_id"], unique=False)
        batch_op.create_index("ix_breach_incidents_lab_discovered", ["lab_id", "discovered_at"], unique=False)
    op.create_table(
        "breach_incident_patients",
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("links_mac", sa.LargeBinary(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["breach_incidents.id"],
            name=op.f("fk_breach_incident_patients_incident_id_breach_incidents"),
        ),
        sa.ForeignKeyConstraint(
            ["lab_id"], ["labs.id"], name=op.f("fk_breach_incident_patients_lab_id_labs")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_breach_incident_patients_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breach_incident_patients")),
    )
    with op.batch_alter_table("breach_incident_patients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_breach_incident_patients_lab_id"), ["lab_id"], unique=False)
        batch_op.create_index(
            "ix_breach_incident_patients_entry",
            ["lab_id", "incident_id", "patient_id", "source"],
            unique=True,
        )


def downgrade() -> None:
    op.drop_table("breach_incident_patients")
    op.drop_table("breach_incidents")
