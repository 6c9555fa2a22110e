"""The stolen-copy test: a thief with every file of the data directory, or a pg_dump, learns nothing.

Known marker values are written through the real services next to demo data (an identity, then a
prescription with its clinical information and drugs, results with comments, a critical-value call,
a correction, a break-the-glass reason and released PDF reports; through the channels, an HL7
ORU^R01 and an ASTM message with comments, the outbound ORU^R01 queued for a receiver that is down,
and an HPRIM export written beside the database), then every byte of the data directory
(database, WAL, shared memory, journals, logs, the export) and of a pg_dump is searched for them in
the encodings a forensic `strings`/grep would try, and in hexadecimal (pg_dump writes bytea columns
so); so is every file the run wrote to the temporary directory. No PDF may be found either: a
report stored in clear would start with ``%PDF-``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
from pyrage import x25519
from sqlalchemy.engine import make_url

from labvault.demo.seed import seed
from labvault.identity.accounts import context_for
from labvault.identity.lab_service import LabInfo
from labvault.identity.patient_data import PatientData
from labvault.identity.physician_service import PhysicianData
from labvault.identity.synthetic import generate_nir, generate_rpps
from labvault.identity.validation import INS_OID_TEST_NIR
from labvault.interop.astm.inbox import AstmInbox
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose, Role
from labvault.store.base import utcnow
from labvault.workflow.order_data import OrderRequest
from labvault.workflow.result_entry import ResultEntry
from tests.conftest import IN_CI
from tests.factories import Factory
from tests.pdf import pdf_text

MARKER_NAME = "ZORGLUBOVITCH"
MARKER_FIRST = "Anastasie-Philomène"
MARKER_NOTE = "VIH positif"
MARKER_BIRTH = dt.date(1983, 7, 14)
MARKER_EMAIL = "zorglubovitch.marker@example.org"
# Workflow markers: free text typed around a prescription and its results.
MARKER_CLINICAL = "Qzclinical tumeur cérébrale suspectée"
MARKER_DRUG = "Qzdrugtruvada 200 mg"
MARKER_COMMENT = "Qzcomment patiente enceinte de 12 SA"
MARKER_RESTRICTED_COMMENT = "Qzserocomment séroconversion récente"
MARKER_CALLED = "Qzcalled Dr Mabuse-Lefort"
MARKER_CALL_NOTE = "Qzcallnote transfert en réanimation"
MARKER_CORRECTION = "Qzcorrection tube inversé avec le voisin"
MARKER_OVERRIDE = "Qzoverride urgence vitale au bloc opératoire"
MARKER_PRESCRIBER = "Qzprescripteur"
MARKER_HL7_COMMENT = "Qzhl7comment hémolyse franche"  # an analyzer's NTE, through the HL7 channel
MARKER_ASTM_COMMENT = "Qzastmcomment lactescence"  # an analyzer's C record, through the ASTM channel
PDF_MAGIC = b"%PDF-"


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


def hex_needles(wanted: dict[bytes, str]) -> dict[bytes, str]:
    """The same needles as pg_dump prints a bytea column: lower-case hexadecimal."""
    return {needle.hex().encode(): marker for needle, marker in wanted.items()}


def find_markers(blob: bytes, wanted: dict[bytes, str]) -> set[str]:
    return {marker for needle, marker in wanted.items() if needle in blob}


def test_scanner_finds_a_planted_marker() -> None:
    """Guard against a scanner that can never fail."""
    wanted = needles([MARKER_NOTE, "1 83 07 75 123 456 78"])
    assert find_markers(b"xx" + MARKER_NOTE.upper().encode("utf-16-le") + b"yy", wanted) == {MARKER_NOTE}
    assert find_markers(b"..VIH POSITIF..", wanted) == {MARKER_NOTE}
    assert find_markers(b"1 83 07 75 123 456 78", wanted)
    assert find_markers(b"\\x00" + MARKER_NOTE.encode().hex().encode(), hex_needles(wanted)) == {MARKER_NOTE}


def run_workflow(platform: Platform, factory: Factory, lab: LabInfo, patient_id: uuid.UUID) -> list[str]:
    """Take one prescription of the marker patient through the whole workflow, writing a marker into
    every free-text field on the way; returns further markers (the tube barcodes)."""
    reception = factory.ctx(lab, Role.RECEPTION)
    technician = factory.ctx(lab, Role.TECHNICIAN)
    biologist = factory.ctx(lab, Role.BIOLOGIST)
    doctor = platform.physicians.register(
        reception,
        PhysicianData(rpps=generate_rpps(factory.rng), family_name=MARKER_PRESCRIBER, given_names="Théodule"),
    )
    request = OrderRequest(
        patient_id=patient_id,
        tests=("HGB", "K", "HIV"),
        prescriber_id=doctor.id,
        prescribed_on=dt.datetime.now(dt.UTC).date(),
        drugs=(MARKER_DRUG,),
        clinical_info=MARKER_CLINICAL,
        fasting=True,
    )
    order = platform.orders.create(reception, request)
    # The order holds HIV: its clinical context is the biologist's to read (finding 8 of issue 10).
    assert platform.orders.get(biologist, order.id).clinical_info == MARKER_CLINICAL
    assert platform.orders.get(reception, order.id).clinical_info is None
    for specimen in order.specimens:
        platform.specimens.receive(reception, specimen.barcode)
    items = {item.test_code: item.id for item in order.items}
    platform.results.enter(
        technician, [ResultEntry(items["HGB"], "6.1", MARKER_COMMENT), ResultEntry(items["K"], "4.4")]
    )
    platform.results.enter(biologist, [ResultEntry(items["HIV"], "positive", MARKER_RESTRICTED_COMMENT)])
    platform.results.record_critical_call(technician, items["HGB"], MARKER_CALLED, "phone", MARKER_CALL_NOTE)
    validate(platform, technician, biologist, items)
    platform.reports.release(biologist, order.id)
    platform.results.enter(technician, [ResultEntry(items["K"], "4.6", None, MARKER_CORRECTION)])
    validate(platform, technician, biologist, {"K": items["K"]})
    assert platform.reports.release(biologist, order.id).version == 2
    opener = dataclasses.replace(factory.user(lab, Role.RECEPTION), reauthenticated_at=utcnow())
    platform.break_glass.open(opener, context_for(opener), patient_id, MARKER_OVERRIDE)  # reason stored
    text = pdf_text(platform.reports.pdf(context_for(opener), order.id))
    for marker in (MARKER_COMMENT, MARKER_RESTRICTED_COMMENT, MARKER_CORRECTION, MARKER_PRESCRIBER.upper()):
        assert marker in text, f"{marker} should be on the report, or scanning for it proves nothing"
    # The HPRIM file for the prescriber's software, as `labvault hprim` writes it: encrypted.
    export = platform.hprim.encrypted(biologist, order.id, str(x25519.Identity.generate().to_public()))
    (platform.settings.data_dir / "exports").mkdir(exist_ok=True)
    (platform.settings.data_dir / "exports" / "report.hpr.age").write_bytes(export)
    return [specimen.barcode for specimen in order.specimens]


def add_receiver_that_is_down(platform: Platform, factory: Factory, lab: LabInfo) -> None:
    """A receiver for the lab's released results whose port nobody listens on: each release queues
    a sealed ORU^R01 (the patient's identity and results) that stays in the outbox."""
    admin = context_for(factory.user(lab, Role.LAB_ADMIN), Purpose.ADMINISTRATION, "test")
    receiver = platform.accounts.create_user(
        admin, "stolen-copy-receiver", secrets.token_urlsafe(24), Role.INTERFACE, lab.id
    )
    platform.outbox.add_receiver(admin, receiver.username, "127.0.0.1", 9)


def send_astm_results(platform: Platform, factory: Factory, lab: LabInfo, patient_id: uuid.UUID) -> list[str]:
    """An analyzer's ASTM message with a comment record for one tube of the marker patient."""
    admin = context_for(factory.user(lab, Role.LAB_ADMIN), Purpose.ADMINISTRATION, "test")
    analyzer = platform.accounts.create_user(
        admin, "stolen-copy-astm", secrets.token_urlsafe(24), Role.INTERFACE, lab.id
    )
    reception = factory.ctx(lab, Role.RECEPTION)
    order = platform.orders.create(reception, OrderRequest(patient_id=patient_id, tests=("K",)))
    barcode = order.specimens[0].barcode
    platform.specimens.receive(reception, barcode)
    message = [
        "H|\\^&|SC-ASTM-1||SYNTH-ANALYZER^1.0",
        f"P|1||{patient_id}",
        f"O|1|{barcode}||^^^K|R",
        "R|1|^^^K|4.2|mmol/L||||F",
        f"C|1|I|{MARKER_ASTM_COMMENT}|G",
        "L|1|N",
    ]
    outcome = AstmInbox(platform.intake).receive(analyzer.username, message, "astm:127.0.0.1")
    assert outcome.accepted and outcome.results == 1, outcome
    technician = factory.ctx(lab, Role.TECHNICIAN)
    [(entered, _reason)] = platform.results.versions(technician, order.items[0].id)
    assert entered.comment == MARKER_ASTM_COMMENT, "the comment must be stored, or scanning proves nothing"
    return [barcode]


def files_written_since(directory: Path, started: float, skip: Path) -> list[Path]:
    """Files under ``directory`` modified since ``started``, outside ``skip`` (scanned already)."""
    found = []
    for root, _dirs, names in os.walk(directory):
        if Path(root).is_relative_to(skip):
            continue
        for name in names:
            path = Path(root) / name
            with contextlib.suppress(OSError):
                if path.is_file() and not path.is_symlink() and path.stat().st_mtime >= started:
                    found.append(path)
    return found


def send_hl7_results(
    platform: Platform, factory: Factory, lab: LabInfo, patient_id: uuid.UUID, patient: PatientData
) -> list[str]:
    """An analyzer's ORU^R01 naming the marker patient in PID-3 (INS) and PID-5, with a comment,
    through the HL7 channel: the raw message is kept (sealed); returns the tube's barcode."""
    admin = context_for(factory.user(lab, Role.LAB_ADMIN), Purpose.ADMINISTRATION, "test")
    analyzer = platform.accounts.create_user(
        admin, "stolen-copy-analyzer", secrets.token_urlsafe(24), Role.INTERFACE, lab.id
    )
    order = platform.orders.create(
        factory.ctx(lab, Role.RECEPTION), OrderRequest(patient_id=patient_id, tests=("NA",))
    )
    barcode = order.specimens[0].barcode
    platform.specimens.receive(factory.ctx(lab, Role.RECEPTION), barcode)
    message = "\r".join(
        [
            "MSH|^~\\&|COBAS|BENCH|LABVAULT|LAB|20261207083000||ORU^R01|SC0001|P|2.5.1||||||UNICODE UTF-8",
            f"PID|1||{patient.nir}^^^INS-NIR&{INS_OID_TEST_NIR}&ISO^INS||"
            f"{patient.birth_name}^{patient.first_names}",
            f"OBR|1||{barcode}|2951-2^Sodium^LN",
            "OBX|1|NM|2951-2^Sodium^LN||140|mmol/L|||||F",
            f"NTE|1|L|{MARKER_HL7_COMMENT}",
            f"SPM|1|^{barcode}",
        ]
    )
    ack = platform.hl7_inbox.receive(analyzer.username, message.encode("utf-8"), "mllp:127.0.0.1")
    assert b"MSA|AA|SC0001" in ack, ack
    return [barcode]


def validate(
    platform: Platform, technician: AccessContext, biologist: AccessContext, items: Mapping[str, uuid.UUID]
) -> None:
    """Technical then biological validation (restricted tests are validated by the biologist alone)."""
    plain = [item for code, item in items.items() if code != "HIV"]
    restricted = [item for code, item in items.items() if code == "HIV"]
    platform.results.validate_technical(technician, plain)
    if restricted:
        platform.results.validate_technical(biologist, restricted)
    platform.results.validate_biological(biologist, list(items.values()))


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
    started = time.time() - 1
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
    add_receiver_that_is_down(platform, fresh_factory, lab)
    barcodes = run_workflow(platform, fresh_factory, lab, record.id)
    barcodes += send_hl7_results(platform, fresh_factory, lab, record.id, marker)
    barcodes += send_astm_results(platform, fresh_factory, lab, record.id)
    delivered = platform.outbox.deliver_due()
    assert delivered.retried >= 1 and delivered.sent == 0, delivered  # queued, sealed, retried later
    platform.audit.checkpoint_heads()

    assert marker.nir is not None
    markers = [MARKER_NAME, MARKER_FIRST, MARKER_NOTE, MARKER_EMAIL, "Marqueur Secret", "Marqueur-Témoin"]
    markers += [*nir_spellings(marker.nir), MARKER_BIRTH.isoformat(), MARKER_BIRTH.strftime("%d/%m/%Y")]
    markers += [MARKER_CLINICAL, MARKER_DRUG, MARKER_COMMENT, MARKER_RESTRICTED_COMMENT, MARKER_CALLED]
    markers += [MARKER_CALL_NOTE, MARKER_CORRECTION, MARKER_OVERRIDE, MARKER_PRESCRIBER, *barcodes]
    markers += [MARKER_HL7_COMMENT, MARKER_ASTM_COMMENT]
    wanted = needles(markers)
    wanted[PDF_MAGIC] = "a PDF in clear"

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
        assert b"COPY public.reports" in dump and b"COPY public.results" in dump
        found = find_markers(dump, wanted) | find_markers(dump, hex_needles(wanted))
        if found:
            leaks["pg_dump"] = found
    keep_open.close()
    for path in files_written_since(Path(tempfile.gettempdir()), started, skip=data_dir):
        with contextlib.suppress(OSError):
            if path.stat().st_size <= 64 * 1024 * 1024 and (found := find_markers(path.read_bytes(), wanted)):
                leaks[str(path)] = found
    assert leaks == {}
