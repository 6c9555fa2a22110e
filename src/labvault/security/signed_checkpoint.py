"""Signed tree heads in the C2SP formats (``c2sp.org/signed-note``, ``c2sp.org/tlog-checkpoint``).

A checkpoint says "the log ``origin`` had ``size`` entries with root ``root``"; the note carrying it
is signed with Ed25519. Whoever holds the database cannot re-sign, and a verifier (a witness, an
auditor, ``labvault audit verify``) needs only the public verifier key::

    labvault/<chain>\\n<size>\\n<base64 root>\\n
    \\n
    — labvault-audit <base64(key id || signature)>\\n

The verifier key string is ``<name>+<key id hex>+<base64(0x01 || public key)>``, the form Go's
``golang.org/x/mod/sumdb/note`` and the transparency-dev witnesses read.

A :class:`Manifest` note, signed with the same key, lists every chain with its size and root, so the
set of chains is signed as a whole: one chain's note cannot be dropped from the checkpoint file
without breaking the manifest's signature::

    labvault-audit-manifest/1\n<written_at, ISO 8601 UTC>\n<chain> <size> <base64 root>\n...
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from labvault.errors import LabvaultError
from labvault.security.merkle import HASH_SIZE

ED25519 = 0x01
SIGNATURE_DASH = "\u2014"  # the em dash that starts every signature line
KEY_NAME = "labvault-audit"
ORIGIN_PREFIX = "labvault/"
MANIFEST_ORIGIN = "labvault-audit-manifest/1"  # not under ORIGIN_PREFIX: never taken for a chain
_NAME = re.compile(r"[^\s+]+")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


class CheckpointError(LabvaultError):
    """A checkpoint is unreadable, forged, signed by another key, or about another log."""


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 note key: SHA-256(name || LF || 0x01 || key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


class NoteVerifier:
    """Checks signatures made by one named Ed25519 key."""

    def __init__(self, name: str, public_key: bytes) -> None:
        if not _NAME.fullmatch(name):
            raise CheckpointError("a key name has no spaces and no '+'")
        if len(public_key) != 32:
            raise CheckpointError("an Ed25519 public key is 32 bytes")
        self.name = name
        self.public_key = public_key
        self.key_id = key_id(name, public_key)
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    @classmethod
    def parse(cls, vkey: str) -> NoteVerifier:
        """From a verifier key string ``name+hexid+base64key`` (what a witness pins)."""
        parts = vkey.strip().split("+", 2)  # the base64 key may itself hold a '+'
        if len(parts) != 3:
            raise CheckpointError("a verifier key reads name+keyid+key")
        name, hex_id, encoded = parts
        try:
            material = base64.b64decode(encoded, validate=True)
            wanted = bytes.fromhex(hex_id)
        except (binascii.Error, ValueError):
            raise CheckpointError("a verifier key holds hex and base64") from None
        if len(material) != 33 or material[0] != ED25519:
            raise CheckpointError("only Ed25519 verifier keys (type 0x01) are supported")
        verifier = cls(name, material[1:])
        if verifier.key_id != wanted or len(hex_id) != 8:
            raise CheckpointError("the verifier key's id does not match its name and key")
        return verifier

    def vkey(self) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def open(self, note: str) -> str:
        """The note's text, if one of its signatures is this key's and verifies."""
        text, signatures = split_note(note)
        for name, blob in signatures:
            if name == self.name and blob[:4] == self.key_id:
                try:
                    self._key.verify(blob[4:], text.encode())
                except InvalidSignature:
                    raise CheckpointError(f"the signature of {name} does not verify") from None
                return text
        raise CheckpointError(f"the note carries no signature of {self.name}+{self.key_id.hex()}")


class NoteSigner:
    """Signs notes with an Ed25519 key (the platform derives it from the root key)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.verifier = NoteVerifier(name, _raw_public(private_key.public_key()))

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> NoteSigner:
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    def sign(self, text: str) -> str:
        check_text(text)
        signature = self._key.sign(text.encode())
        blob = base64.b64encode(self.verifier.key_id + signature).decode()
        return f"{text}\n{SIGNATURE_DASH} {self.verifier.name} {blob}\n"


def check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text or text.startswith("\n"):
        raise CheckpointError("note text is non-empty lines, each ending in a newline")
    if any(ch < " " and ch != "\n" for ch in text):
        raise CheckpointError("note text holds no control characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: nothing a signer could have signed
        raise CheckpointError("note text is not valid UTF-8") from None


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Text and (name, key id || signature) pairs; strict, as ``sumdb/note`` is."""
    text, sep, block = note.rpartition("\n\n")
    if not sep or not block.endswith("\n"):
        raise CheckpointError("a signed note is text, a blank line, then signature lines")
    text += "\n"
    check_text(text)
    signatures: list[tuple[str, bytes]] = []
    for line in block[:-1].split("\n"):
        dash, _, rest = line.partition(" ")
        name, _, encoded = rest.partition(" ")
        if dash != SIGNATURE_DASH or not _NAME.fullmatch(name) or " " in encoded:
            raise CheckpointError("malformed signature line")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except ValueError:  # binascii.Error, or a non-ASCII string
            raise CheckpointError("signature is not base64") from None
        if len(blob) < 5:
            raise CheckpointError("signature too short")
        signatures.append((name, blob))
    if not signatures:
        raise CheckpointError("the note is not signed")
    return text, signatures


@dataclass(frozen=True)
class Checkpoint:
    """One log's signed state: its origin, size and Merkle root."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise CheckpointError("a checkpoint is origin, size and root, one per line")
        origin, size, root = lines[0], lines[1], lines[2]
        if not origin or not _DECIMAL.fullmatch(size):
            raise CheckpointError("a checkpoint names its origin and a decimal size")
        try:
            digest = base64.b64decode(root, validate=True)
        except binascii.Error:
            raise CheckpointError("the checkpoint root is not base64") from None
        if len(digest) != HASH_SIZE:
            raise CheckpointError("the checkpoint root is not a SHA-256 hash")
        return cls(origin, int(size), digest)


def origin_of(chain: str) -> str:
    return ORIGIN_PREFIX + chain


def chain_of_origin(origin: str) -> str:
    if not origin.startswith(ORIGIN_PREFIX):
        raise CheckpointError(f"checkpoint origin {origin!r} is not a labvault audit chain")
    return origin[len(ORIGIN_PREFIX) :]


def sign_checkpoint(signer: NoteSigner, checkpoint: Checkpoint) -> str:
    return signer.sign(checkpoint.text())


def open_checkpoint(verifier: NoteVerifier, note: str, origin: str | None = None) -> Checkpoint:
    """The checkpoint a note carries, once its signature is verified (and its origin, if given)."""
    checkpoint = Checkpoint.parse(verifier.open(note))
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint is for {checkpoint.origin!r}, not {origin!r}")
    return checkpoint


@dataclass(frozen=True)
class Manifest:
    """Every chain's signed (size, root) at one instant: the set of chains, signed as a whole."""

    written_at: dt.datetime
    heads: dict[str, tuple[int, bytes]]

    def text(self) -> str:
        lines = [MANIFEST_ORIGIN, self.written_at.astimezone(dt.UTC).isoformat(timespec="seconds")]
        for chain, (size, root) in sorted(self.heads.items()):
            if not _NAME.fullmatch(chain):
                raise CheckpointError(f"chain name {chain!r} cannot go in a manifest")
            lines.append(f"{chain} {size} {base64.b64encode(root).decode()}")
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Manifest:
        lines = text.split("\n")
        if len(lines) < 3 or lines[-1] != "" or lines[0] != MANIFEST_ORIGIN:
            raise CheckpointError(f"a manifest starts with {MANIFEST_ORIGIN} and its time")
        try:
            written_at = dt.datetime.fromisoformat(lines[1])
        except ValueError:
            raise CheckpointError("the manifest's time is not ISO 8601") from None
        if written_at.tzinfo is None:
            raise CheckpointError("the manifest's time has no time zone")
        heads: dict[str, tuple[int, bytes]] = {}
        for line in lines[2:-1]:
            parts = line.split(" ")
            if len(parts) != 3 or not _NAME.fullmatch(parts[0]) or not _DECIMAL.fullmatch(parts[1]):
                raise CheckpointError("a manifest line is chain, size and root")
            chain, size, root = parts
            if chain in heads:
                raise CheckpointError(f"the manifest lists chain {chain} twice")
            checkpoint = Checkpoint.parse(f"{origin_of(chain)}\n{size}\n{root}\n")  # checks the root
            heads[chain] = (checkpoint.size, checkpoint.root)
        return cls(written_at, heads)


def open_manifest(verifier: NoteVerifier, note: str) -> Manifest:
    """The manifest a note carries, once its signature is verified."""
    return Manifest.parse(verifier.open(note))
