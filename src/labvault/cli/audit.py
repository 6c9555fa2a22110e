"""``labvault audit``: verify the log against its signed checkpoints, sign them, print the key
witnesses pin and the proofs they check; ``audit witness`` (witness.py) runs on another machine."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.markup import escape

from labvault.cli import witness
from labvault.cli.opening import command_platform
from labvault.cli.options import DEFAULT_DATA, DEFAULT_KEYS, DataDir, DbUrl, KeyDir, err, fail, out
from labvault.demo.seed import cli_context
from labvault.security import merkle
from labvault.security.signed_checkpoint import CheckpointError, NoteVerifier

app = typer.Typer(help="The audit log.", no_args_is_help=True)
app.add_typer(witness.app)  # audit witness (witness.py); typer lists it after the commands below


@app.command("verify")
def audit_verify(
    public_key: Annotated[
        str | None,
        typer.Option("--public-key", help="Check signatures with this pinned key (default: the platform's)."),
    ] = None,
    allow_no_checkpoint: Annotated[
        bool,
        typer.Option(
            "--allow-no-checkpoint",
            help="Succeed without a signed checkpoint (a fresh install): truncation goes undetected.",
        ),
    ] = False,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Check every chain link by link, its Merkle tree against its head, and against the last
    signed checkpoint kept outside the database (truncation, rewrite). Without any signed
    checkpoint a truncated or rewritten log cannot be told apart: exit 1 unless allowed."""
    with command_platform(data_dir, key_dir, database_url) as platform:
        try:
            pinned = NoteVerifier.parse(public_key) if public_key else None
            result = platform.audit.verify(pinned)
        except CheckpointError as exc:
            err.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
            raise typer.Exit(code=1) from None
    for report in result.reports:
        signed = result.signed.get(report.chain)
        at = f", signed at {signed.size}" if signed else ", never signed"
        out.print(f"chain {report.chain}: {report.length} entries{at} " + ("ok" if report.ok else "BROKEN"))
    for problem in result.problems:
        err.print(f"[red]{escape(problem)}[/red]", soft_wrap=True)
    if not result.checkpoint_found:
        why = "no signed checkpoint yet: a truncated or rewritten log cannot be detected"
        if not allow_no_checkpoint:
            err.print(f"[red]{why}; run `labvault audit checkpoint` (or pass --allow-no-checkpoint)[/red]")
            raise typer.Exit(code=1)
        err.print(f"warning: {why}")
    if not result.ok:
        raise typer.Exit(code=1)
    out.print("audit log verified")


@app.command("checkpoint")
def audit_checkpoint(
    data_dir: DataDir = DEFAULT_DATA, key_dir: KeyDir = DEFAULT_KEYS, database_url: DbUrl = None
) -> None:
    """Verify the log, then sign each chain's Merkle tree (Ed25519) into the checkpoint file
    outside the database; refused if a tree does not extend the previous signed one."""
    with command_platform(data_dir, key_dir, database_url) as platform:
        path = platform.audit.checkpoint()
    out.print(f"signed checkpoints written to {path}")


@app.command("pubkey")
def audit_pubkey(
    data_dir: DataDir = DEFAULT_DATA, key_dir: KeyDir = DEFAULT_KEYS, database_url: DbUrl = None
) -> None:
    """Print the checkpoint verifier key (signed-note form) for witnesses and auditors to pin."""
    with command_platform(data_dir, key_dir, database_url) as platform:
        sys.stdout.write(platform.audit.public_key() + "\n")


@app.command("proof")
def audit_proof(
    chain: Annotated[str, typer.Argument(help="A lab id, or 'platform'.")],
    seq: Annotated[
        int | None, typer.Option(min=1, max=2**53, help="Prove this entry (chain_seq) is in the log.")
    ] = None,
    first: Annotated[
        int | None, typer.Option(min=1, max=2**53, help="Prove the log of this size is a prefix...")
    ] = None,
    size: Annotated[
        int | None, typer.Option(min=1, max=2**53, help="...of the log of this size (default: last signed).")
    ] = None,
    data_dir: DataDir = DEFAULT_DATA,
    key_dir: KeyDir = DEFAULT_KEYS,
    database_url: DbUrl = None,
) -> None:
    """Print an inclusion (--seq) or consistency (--first) proof as JSON; an inclusion proof in
    the last signed tree is also checked against its signed root."""
    if (seq is None) == (first is None):
        raise fail("give --seq (inclusion) or --first (consistency)")
    with command_platform(data_dir, key_dir, database_url) as platform:
        ctx = cli_context()
        signed = {head.chain: head for head in platform.audit.signed_heads(ctx)}.get(chain)
        if size is None and signed is None:
            raise fail(f"chain {chain} has no signed checkpoint: give --size")
        target = size if size is not None else signed.size  # type: ignore[union-attr]
        document: dict[str, object] = {"chain": chain, "size": target}
        if seq is not None:
            inclusion = platform.audit.inclusion_proof(ctx, chain, seq, target)
            hashes, leaf = inclusion.proof, inclusion.leaf_hash
            document |= {"seq": seq, "leaf": inclusion.leaf.hex(), "leaf_hash": leaf.hex()}
        else:
            assert first is not None
            hashes = platform.audit.consistency_proof(ctx, chain, first, target).proof
            document |= {"first": first}
        document["proof"] = [h.hex() for h in hashes]
        if seq is not None and signed is not None and signed.size == target:
            merkle.verify_inclusion(seq - 1, target, leaf, hashes, signed.root)
            document["verified_against"] = signed.note
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
