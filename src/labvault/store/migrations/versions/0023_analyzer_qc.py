"""analyzer QC: control lots and QC results per instrument, test and lot (Westgard rules)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 23:30:00

Analyzers' QC results land here instead of among patient results; a Westgard rejection holds the
technical validation of that instrument's results for that test until a biologist decides
(qc/models.py). Row-level security comes from the models (store/pg_rls.py, after every upgrade).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "qc_lots",
        sa.Column("instrument_id", sa.Uuid(), nullable=False),
        sa.Column("test_code", sa.String(length=32), nullable=False),
        sa.Column("lot", sa.String(length=64), nullable=False),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("mean", sa.String(length=40), nullable=False),
        sa.Column("sd", sa.String(length=40), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_qc_lots_lab_id_labs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qc_lots")),
    )
    with op.batch_alter_table("qc_lots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qc_lots_lab_id"), ["lab_id"], unique=False)
        batch_op.create_index(
            "ix_qc_lots_instrument_test_lot", ["lab_id", "instrument_id", "test_code", "lot"], unique=True
        )
        batch_op.create_index("ix_qc_lots_instrument_lot", ["lab_id", "instrument_id", "lot"], unique=False)
    op.create_table(
        "qc_results",
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("instrument_id", sa.Uuid(), nullable=False),
        sa.Column("test_code", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.String(length=40), nullable=False),
        sa.Column("z", sa.String(length=40), nullable=False),
        sa.Column("rules", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("control_id", sa.String(length=199), nullable=True),
        sa.Column("entered_by", sa.Uuid(), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_comment_enc", sa.LargeBinary(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_qc_results_lab_id_labs")),
        sa.ForeignKeyConstraint(["lot_id"], ["qc_lots.id"], name=op.f("fk_qc_results_lot_id_qc_lots")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qc_results")),
    )
    with op.batch_alter_table("qc_results", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qc_results_lab_id"), ["lab_id"], unique=False)
        batch_op.create_index("ix_qc_results_lot_number", ["lab_id", "lot_id", "number"], unique=True)
        batch_op.create_index("ix_qc_results_holds", ["lab_id", "status", "decision"], unique=False)


def downgrade() -> None:
    op.drop_table("qc_results")
    op.drop_table("qc_lots")
