"""canaries no longer tell a thief which patients they are

The ``canaries`` table held each canary's patient id and planting time in clear: a stolen database
said which patient rows were canaries (the id directly, and the time matched the patient row's
``created_at``). It now holds a keyed blind index of the patient id (HMAC under the lab's index
key, ``patient_bidx``) and the patient id and planting time sealed (``patient_id_enc``,
``planted_at_enc``); oversight/canaries.py computes the index on read.

Existing canaries are not converted: the index and the seals need the labs' keys, which a
migration never holds. Their rows are deleted (canaries are records the platform plants, and
planting again is the documented upgrade step: ``labvault canary list`` before upgrading to note
the old canary patients, ``labvault canary plant`` after). The old canary patients stay as
ordinary-looking synthetic patient rows, no longer watched.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM canaries"))
    with op.batch_alter_table("canaries", schema=None) as batch_op:
        batch_op.drop_index("ix_canaries_lab_patient")
        batch_op.drop_constraint("fk_canaries_patient_id_patients", type_="foreignkey")
        batch_op.drop_column("patient_id")
        batch_op.drop_column("planted_at")
        batch_op.add_column(sa.Column("patient_bidx", sa.LargeBinary(length=16), nullable=False))
        batch_op.add_column(sa.Column("patient_id_enc", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("planted_at_enc", sa.LargeBinary(), nullable=True))
        batch_op.create_index("ix_canaries_lab_patient_bidx", ["lab_id", "patient_bidx"], unique=True)


def downgrade() -> None:
    # The sealed canaries cannot be opened here either: the downgrade forgets them too.
    op.execute(sa.text("DELETE FROM canaries"))
    with op.batch_alter_table("canaries", schema=None) as batch_op:
        batch_op.drop_index("ix_canaries_lab_patient_bidx")
        batch_op.drop_column("planted_at_enc")
        batch_op.drop_column("patient_id_enc")
        batch_op.drop_column("patient_bidx")
        batch_op.add_column(sa.Column("planted_at", sa.DateTime(timezone=True), nullable=False))
        batch_op.add_column(sa.Column("patient_id", sa.Uuid(), nullable=False))
        batch_op.create_foreign_key("fk_canaries_patient_id_patients", "patients", ["patient_id"], ["id"])
        batch_op.create_index("ix_canaries_lab_patient", ["lab_id", "patient_id"], unique=True)
