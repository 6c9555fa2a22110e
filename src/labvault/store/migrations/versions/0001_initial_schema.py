"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29 04:54:21.622946
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain", sa.String(length=36), nullable=False),
        sa.Column("chain_seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_label", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=True),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("origin", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_chain_seq", ["chain", "chain_seq"], unique=True)

    op.create_table(
        "audit_heads",
        sa.Column("chain", sa.String(length=36), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_heads")),
    )
    op.create_table(
        "labs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("finess", sa.String(length=9), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shredded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labs")),
        sa.UniqueConstraint("code", name=op.f("uq_labs_code")),
        sa.UniqueConstraint("finess", name=op.f("uq_labs_finess")),
    )
    op.create_table(
        "lab_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_lab_keys_lab_id_labs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lab_keys")),
    )
    with op.batch_alter_table("lab_keys", schema=None) as batch_op:
        batch_op.create_index("ix_lab_keys_slot", ["lab_id", "purpose", "version"], unique=True)

    op.create_table(
        "patients",
        sa.Column("birth_name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("used_name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("first_names_enc", sa.LargeBinary(), nullable=True),
        sa.Column("sex_enc", sa.LargeBinary(), nullable=True),
        sa.Column("birth_date_enc", sa.LargeBinary(), nullable=True),
        sa.Column("birthplace_insee_enc", sa.LargeBinary(), nullable=True),
        sa.Column("nir_enc", sa.LargeBinary(), nullable=True),
        sa.Column("ins_enc", sa.LargeBinary(), nullable=True),
        sa.Column("address_enc", sa.LargeBinary(), nullable=True),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column("email_enc", sa.LargeBinary(), nullable=True),
        sa.Column("note_enc", sa.LargeBinary(), nullable=True),
        sa.Column("ins_oid", sa.String(length=32), nullable=True),
        sa.Column("ins_status", sa.String(length=16), nullable=True),
        sa.Column("nir_bidx", sa.LargeBinary(length=16), nullable=True),
        sa.Column("ins_bidx", sa.LargeBinary(length=16), nullable=True),
        sa.Column("name_birth_bidx", sa.LargeBinary(length=16), nullable=True),
        sa.Column("used_name_birth_bidx", sa.LargeBinary(length=16), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_patients_lab_id_labs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patients")),
    )
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.create_index("ix_patients_ins_bidx", ["lab_id", "ins_bidx"], unique=False)
        batch_op.create_index(batch_op.f("ix_patients_lab_id"), ["lab_id"], unique=False)
        batch_op.create_index("ix_patients_name_birth_bidx", ["lab_id", "name_birth_bidx"], unique=False)
        batch_op.create_index("ix_patients_nir_bidx", ["lab_id", "nir_bidx"], unique=False)
        batch_op.create_index(
            "ix_patients_used_name_birth_bidx", ["lab_id", "used_name_birth_bidx"], unique=False
        )

    op.create_table(
        "physicians",
        sa.Column("rpps_enc", sa.LargeBinary(), nullable=True),
        sa.Column("family_name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("given_names_enc", sa.LargeBinary(), nullable=True),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column("email_enc", sa.LargeBinary(), nullable=True),
        sa.Column("specialty", sa.String(length=80), nullable=True),
        sa.Column("rpps_bidx", sa.LargeBinary(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_physicians_lab_id_labs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_physicians")),
    )
    with op.batch_alter_table("physicians", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_physicians_lab_id"), ["lab_id"], unique=False)
        batch_op.create_index("ix_physicians_rpps_bidx", ["lab_id", "rpps_bidx"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lab_id", sa.Uuid(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("full_name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_users_lab_id_labs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_lab_id"), ["lab_id"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    # The platform's own audit chain (labs get theirs when created).
    op.bulk_insert(
        sa.table("audit_heads", sa.column("chain"), sa.column("last_seq"), sa.column("last_hash")),
        [{"chain": "platform", "last_seq": 0, "last_hash": bytes(32)}],
    )
    # The audit log is append-only for the application: updates and deletes are refused by the
    # database itself (an attacker with DDL rights can drop these; the hash chain then tells).
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION labvault_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION labvault_audit_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS labvault_audit_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_lab_id"))

    op.drop_table("users")
    with op.batch_alter_table("physicians", schema=None) as batch_op:
        batch_op.drop_index("ix_physicians_rpps_bidx")
        batch_op.drop_index(batch_op.f("ix_physicians_lab_id"))

    op.drop_table("physicians")
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_index("ix_patients_used_name_birth_bidx")
        batch_op.drop_index("ix_patients_nir_bidx")
        batch_op.drop_index("ix_patients_name_birth_bidx")
        batch_op.drop_index(batch_op.f("ix_patients_lab_id"))
        batch_op.drop_index("ix_patients_ins_bidx")

    op.drop_table("patients")
    with op.batch_alter_table("lab_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_lab_keys_slot")

    op.drop_table("lab_keys")
    op.drop_table("labs")
    op.drop_table("audit_heads")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_chain_seq")

    op.drop_table("audit_events")
