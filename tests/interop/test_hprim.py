"""The HPRIM Santé export: only encrypted to the doctor's age key, opened with Debian's ``age`` as
the doctor would, laid out as doctors' software reads it (12-line header, ``****LAB****``, RES
lines, ISO-8859-1, CRLF), refused to roles that may not read the report, audited."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from pyrage import decrypt, x25519

from labvault.errors import Forbidden, InvalidInput
from labvault.platform import Platform
from tests.db_inspect import audit_events
from tests.factories import Bench

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire des exports")


def open_with_age(ciphertext: bytes, identity: x25519.Identity, tmp_path: Path) -> bytes:
    """``age -d -i key.txt``, the doctor's way; pyrage where Debian's age is missing (locally)."""
    if shutil.which("age") is None:
        if IN_CI:
            pytest.fail("Debian's age is required under CI=true (scripts/test-deps.sh installs it)")
        return bytes(decrypt(ciphertext, [identity]))
    key = tmp_path / "doctor.key"
    key.write_text(str(identity) + "\n")
    key.chmod(0o600)
    done = subprocess.run(["age", "-d", "-i", str(key)], input=ciphertext, capture_output=True, check=True)
    return done.stdout


def test_the_export_is_age_encrypted_and_reads_as_hprim(bench: Bench, tmp_path: Path) -> None:
    physician_id, rpps = bench.physician("Lefèvre", "Anaïs")
    order = bench.order(tests=["K", "NA", "HIV"], prescriber_id=physician_id)
    bench.enter_and_validate(order, {"K": "5.9", "NA": "139", "HIV": "negative"})
    bench.release(order)
    doctor = x25519.Identity.generate()
    sealed = bench.platform.hprim.encrypted(bench.biologist, order.id, str(doctor.to_public()))
    assert sealed.startswith(b"age-encryption.org/v1")
    patient = bench.platform.patients.get(bench.biologist, order.patient_id).data
    assert patient.birth_name.upper().encode("iso-8859-1", "replace") not in sealed
    text = open_with_age(sealed, doctor, tmp_path)
    assert b"\r\n" in text and b"\n" not in text.replace(b"\r\n", b"")
    lines = text.decode("iso-8859-1").split("\r\n")
    assert lines[0] == str(order.patient_id)
    assert lines[1] == patient.birth_name.upper() and lines[2] == patient.first_names
    assert lines[6] == patient.birth_date.strftime("%d/%m/%Y")
    assert lines[8] == order.accession and rpps in lines[11] and "LEFÈVRE Anaïs" in lines[11]
    lab = lines.index("****LAB****")
    results = {line.split("|")[2]: line.split("|") for line in lines[lab + 1 :] if line.startswith("RES|")}
    assert results["K"][3:10] == ["N", "5.9", "mmol/L", "3.5", "5.0", "H", "F"]
    assert results["NA"][3:6] == ["N", "139", "mmol/L"]
    assert results["HIV"][3:5] == ["A", "negative"], "the biologist's export holds what the report holds"
    assert lines[-3:] == ["****FIN****", "****FINFICHIER****", ""]
    events = audit_events(bench.platform, bench.lab.id, "report.export_hprim")
    assert [e.patient_id for e in events][-1] == order.patient_id


def test_refusals(bench: Bench) -> None:
    order = bench.order(tests=["HIV"])
    bench.enter_and_validate(order, {"HIV": "negative"})
    bench.release(order)
    key = str(x25519.Identity.generate().to_public())
    with pytest.raises(InvalidInput, match="recipient"):
        bench.platform.hprim.encrypted(bench.biologist, order.id, "age1notakey")
    with pytest.raises(Forbidden):
        bench.platform.hprim.encrypted(bench.technician, order.id, key)  # reads no report
    with pytest.raises(Forbidden, match="restricted"):
        bench.platform.hprim.encrypted(bench.reception, order.id, key)  # a restricted result in it
