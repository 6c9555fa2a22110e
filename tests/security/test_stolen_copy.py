"""The stolen-copy test: a thief with every file of the data directory, or a pg_dump, learns nothing.

Known marker values are written through the real services next to demo data, then every byte of
the data directory (database, WAL, shared memory, journals, logs) and of a pg_dump is searched for
them in the encodings a forensic `strings`/grep would try.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from collections.abc import Iterable

import pytest
from sqlalchemy.engine import make_url

from labvault.demo.seed import seed
from labvault.demo.synthetic import generate_nir
from labvault.identity.patient_data import PatientData
from labvault.identity.validation import INS_OID_TEST_NIR
from labvault.platform import Platform
from labvault.security.access import Role
from tests.conftest import IN_CI, Factory

MARKER_NAME = "ZORGLUBOVITCH"
MARKER_FIRST = "Anastasie-Philomène"
MARKER_NOTE = "VIH positif"
MARKER_BIRTH = dt.date(1983, 7, 14)
MARKER_EMAIL = "zorglubovitch.marker@example.org"


def nir_spellings(nir: str) -> list[str]:
    """The NIR as people write it: compact, and grouped 1 2 2 2 3 3 2."""
    groups = [nir[0], nir[1:3], nir[3:5], nir[5:7], nir[7:10], nir[10:13], nir[13:15]]
    return [nir, " ".join(groups), ".".join(groups)]


def encodings(value: str) -> Iterable[bytes]:
    for variant in {value, value.upper(), value.lower()}:
        for codec in ("utf-8", "utf-16-le", "utf-16-be", "latin-1"):
            try:
                yield variant.encode(codec)
            except UnicodeEncodeError:
                continue


def needles(markers: list[str]) -> dict[bytes, str]:
    return {encoded: marker for marker in markers for encoded in encodings(marker)}


def find_markers(blob: bytes, wanted: dict[bytes, str]) -> set[str]:
    return {marker for needle, marker in wanted.items() if needle in blob}


def test_scanner_finds_a_planted_marker() -> None:
    """Guard against a scanner that can never fail."""
    wanted = needles([MARKER_NOTE, "1 83 07 75 123 456 78"])
    assert find_markers(b"xx" + MARKER_NOTE.upper().encode("utf-16-le") + b"yy", wanted) == {MARKER_NOTE}
    assert find_markers(b"..VIH POSITIF..", wanted) == {MARKER_NOTE}
    assert find_markers(b"1 83 07 75 123 456 78", wanted)


def pg_dump(platform: Platform) -> bytes:
    if shutil.which("pg_dump") is None:
        if IN_CI:
            pytest.fail("pg_dump is required under CI=true (scripts/test-deps.sh installs postgresql-client)")
        pytest.skip("pg_dump not installed")
    url = make_url(platform.db.url)
    env = {**os.environ, "PGPASSWORD": url.password or ""}
    command = ["pg_dump", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    command += ["-U", url.username or "postgres", "-d", url.database or ""]
    return subprocess.run(command, check=True, capture_output=True, env=env, timeout=120).stdout


def test_stolen_copy_reveals_nothing(fresh_factory: Factory) -> None:
    platform = fresh_factory.platform
    # A reader held open the whole time, as a running server would: SQLite keeps its WAL and
    # shared-memory files, which a thief copying a live data directory gets too.
    keep_open = platform.db.engine.raw_connection()
    keep_open.cursor().execute("SELECT 1")
    creds = seed(platform, labs=2, patients_per_lab=300, seed_value=7)
    assert len(creds.users) == 9
    lab = fresh_factory.lab()
    ctx = fresh_factory.ctx(lab, Role.RECEPTION)
    nir = generate_nir(fresh_factory.rng, "F", MARKER_BIRTH, "2A", "004")
    marker = PatientData(
        birth_name=MARKER_NAME,
        used_name="Marqueur-Témoin",
        first_names=MARKER_FIRST,
        sex="F",
        birth_date=MARKER_BIRTH,
        birthplace_insee="2A004",
        nir=nir,
        ins=nir,
        ins_oid=INS_OID_TEST_NIR,
        ins_status="qualifiee",
        address="17 rue du Marqueur Secret, 75011 Paris",
        phone="+33639981234",
        email=MARKER_EMAIL,
        note=MARKER_NOTE,
    )
    record = platform.patients.register(ctx, marker)
    assert platform.patients.get(ctx, record.id).data.note == MARKER_NOTE
    platform.patients.update(ctx, record.id, {"note": MARKER_NOTE + " (confirmé)"})
    assert platform.patients.find_by_nir(ctx, marker.nir or "")
    platform.audit.checkpoint_heads()

    assert marker.nir is not None
    markers = [MARKER_NAME, MARKER_FIRST, MARKER_NOTE, MARKER_EMAIL, "Marqueur Secret", "Marqueur-Témoin"]
    markers += [*nir_spellings(marker.nir), MARKER_BIRTH.isoformat(), MARKER_BIRTH.strftime("%d/%m/%Y")]
    wanted = needles(markers)

    data_dir = platform.settings.data_dir
    scanned = 0
    leaks: dict[str, set[str]] = {}
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        found = find_markers(path.read_bytes(), wanted)
        scanned += 1
        if found:
            leaks[str(path.relative_to(data_dir))] = found
    if platform.db.dialect == "sqlite":
        names = {p.name for p in data_dir.iterdir()}
        assert {"labvault.sqlite3", "labvault.sqlite3-wal"} <= names, names
        assert (data_dir / "labvault.sqlite3-wal").stat().st_size > 0
        assert scanned >= 2
    else:
        dump = pg_dump(platform)
        assert b"CREATE TABLE public.patients" in dump and len(dump) > 100_000
        found = find_markers(dump, wanted)
        if found:
            leaks["pg_dump"] = found
    keep_open.close()
    assert leaks == {}
