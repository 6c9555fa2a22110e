"""``labvault breach check``: a leaked file is matched against the lab's blind indexes, canaries
included, without decrypting anything or printing any identity found."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labvault.cli import app
from labvault.governance.breach import BreachChecker, BreachReport
from labvault.governance.breach_extract import BreachInputError
from labvault.identity.accounts import context_for
from labvault.identity.lab_service import LabInfo
from labvault.identity.patient_data import PatientData, PatientRecord
from labvault.identity.synthetic import synthetic_patients
from labvault.oversight.canaries import CanaryService
from labvault.platform import Platform
from labvault.security.access import AccessContext, Role
from tests.factories import Factory

runner = CliRunner()


@dataclass
class Lab:
    platform: Platform
    info: LabInfo
    officer: AccessContext
    patients: list[PatientRecord]
    canaries: list[PatientRecord]
    seed: int

    def outsiders(self, count: int) -> list[PatientData]:
        """Other invented people, patients of no lab here."""
        people = synthetic_patients(count, self.seed + 1)
        return [PatientData(p.birth_name, p.first_names, p.sex, p.birth_date, nir=p.nir) for p in people]

    def check(self, path: Path) -> BreachReport:
        with path.open("rb") as stream:
            return BreachChecker(self.platform.db, self.platform.keys).check(
                self.officer, self.info.code, stream
            )

    def cli(self, path: Path) -> tuple[int, str]:
        settings = self.platform.settings
        args = ["breach", "check", str(path), "--lab", self.info.code]
        args += ["--data-dir", str(settings.data_dir), "--key-dir", str(settings.key_dir)]
        if settings.database_url:
            args += ["--database-url", settings.database_url]
        result = runner.invoke(app, args)
        return result.exit_code, result.output


@pytest.fixture(scope="module")
def lab(platform: Platform) -> Lab:
    factory = Factory(platform)
    info = factory.lab()
    admin = factory.user(info, Role.LAB_ADMIN)
    officer = context_for(admin)
    reception = factory.ctx(info, Role.RECEPTION)
    ids = platform.patients.register_many(reception, [factory.patient_data() for _ in range(30)])
    patients = [platform.patients.get(officer, pid) for pid in ids]
    planted = CanaryService(platform.db, platform.patients).plant(officer, 2, "breach test")
    canaries = [platform.patients.get(officer, c.patient_id) for c in planted]
    return Lab(platform, info, officer, patients, canaries, random.Random().randrange(1 << 30))


def french(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def q(text: str) -> str:
    """A SQL string literal's content: quotes doubled."""
    return text.replace("'", "''")


def spaced(nir: str) -> str:
    """A NIR as people write it: 1 85 05 75 056 123 45."""
    return f"{nir[0]} {nir[1:3]} {nir[3:5]} {nir[5:7]} {nir[7:10]} {nir[10:13]} {nir[13:]}"


@dataclass
class Leak:
    path: Path
    expected: dict[uuid.UUID, tuple[set[str], int]]  # patient -> (matched on, first line)
    identities: list[str]  # every name and NIR written in the file


@pytest.fixture
def leak(lab: Lab, tmp_path: Path) -> Leak:
    """A CSV as leaked in 2021: header, ';', French dates; lab patients (by NIR, or by name and
    birth date only), both canaries, outsiders, and a lab patient's NIR inside a comment."""
    rows = ["nom;prenom;date_naissance;numero_secu;adresse;commentaire"]
    expected: dict[uuid.UUID, tuple[set[str], int]] = {}
    identities: list[str] = []
    outsiders = lab.outsiders(20)

    def add(name: str, first: str, birth: dt.date, nir: str, comment: str = "") -> int:
        rows.append(f"{name};{first};{french(birth)};{nir};1 rue du Port, 13002 Marseille;{comment}")
        identities.extend(v for v in (name, first, nir) if v)
        return len(rows)

    for record in lab.patients[:5]:
        data = record.data
        line = add(data.birth_name, data.first_names, data.birth_date, data.nir or "")
        expected[record.id] = ({"nir", "ins", "name_birth_date"}, line)
    for record in lab.patients[5:8]:
        data = record.data
        line = add(data.used_name or data.birth_name, data.first_names, data.birth_date, "")
        expected[record.id] = ({"name_birth_date"}, line)
    for person in outsiders[:10]:
        add(person.birth_name, person.first_names, person.birth_date, person.nir or "")
    for record in lab.canaries:
        data = record.data
        line = add(data.birth_name, data.first_names, data.birth_date, spaced(data.nir or ""))
        expected[record.id] = ({"nir", "name_birth_date"}, line)  # canaries carry no INS
    embedded = lab.patients[8].data
    line = add(
        outsiders[10].birth_name, "X", outsiders[10].birth_date, "", f"voir NIR {spaced(embedded.nir or '')}"
    )
    identities.append(spaced(embedded.nir or ""))
    expected[lab.patients[8].id] = ({"nir", "ins"}, line)
    for person in outsiders[11:]:
        add(person.birth_name, person.first_names, person.birth_date, person.nir or "")
    path = tmp_path / "fuite.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return Leak(path, expected, identities)


def test_breach_check_finds_the_lab_patients_and_its_canaries(lab: Lab, leak: Leak) -> None:
    report = lab.check(leak.path)
    assert report.found and report.lines == 1 + 5 + 3 + 10 + 2 + 1 + 9
    found = {pid: (m.on, m.lines[0]) for pid, m in report.matches.items()}
    assert found == leak.expected
    assert {m.patient_id for m in report.canaries} == {c.id for c in lab.canaries}
    assert sum(1 for m in report.matches.values() if m.strong) == 5 + 2 + 1


def test_the_cli_reports_ids_and_lines_never_identities(lab: Lab, leak: Leak) -> None:
    code, output = lab.cli(leak.path)
    assert code == 1, output
    assert "11 patient(s)" in output and "2 CANARY patient(s)" in output
    for patient_id in leak.expected:
        assert str(patient_id) in output
    for value in leak.identities:
        assert value not in output, "an identity from the file was printed"


def test_a_clean_file_finds_nobody(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "clean.csv"
    lines = ["Nom,Prénom,Date de naissance,NIR"]
    lines += [f"{p.birth_name},{p.first_names},{p.birth_date.isoformat()},{p.nir}" for p in lab.outsiders(40)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = lab.check(path)
    assert not report.found and report.nir_candidates == 40 and report.name_birth_candidates == 40
    code, output = lab.cli(path)
    assert code == 0 and "No patient of" in output


def test_a_sql_dump_is_read_too(lab: Lab, tmp_path: Path) -> None:
    """mysqldump (CREATE TABLE, then one extended INSERT), a multi-line INSERT naming its columns
    with quotes doubled, and a pg_dump COPY block."""
    a, b, c, d = (r.data for r in lab.patients[10:14])
    canary = lab.canaries[1].data
    other = lab.outsiders(1)[0]
    dump = "\n".join(
        [
            "-- MySQL dump 10.13  Distrib 8.0.36",
            "/*!40101 SET NAMES utf8mb4 */;",
            "DROP TABLE IF EXISTS `patients`;",
            "CREATE TABLE `patients` (",
            "  `id` int NOT NULL AUTO_INCREMENT,",
            "  `nom` varchar(100) DEFAULT NULL,",
            "  `date_naissance` date DEFAULT NULL,",
            "  `nir` varchar(15) DEFAULT NULL,",
            "  PRIMARY KEY (`id`)",
            ") ENGINE=InnoDB;",
            "INSERT INTO `patients` VALUES "
            f"(1,'{q(a.birth_name)}','{a.birth_date}','{a.nir}'),"
            f"(2,'{q(other.birth_name)}','{other.birth_date}',NULL),"
            f"(3,'x','{b.birth_date}','{b.nir}');",
            "INSERT INTO dossiers (nom, ddn, commentaire) VALUES",
            f"  ('{q(c.birth_name)}', '{c.birth_date}', 'rien; (vraiment)'),",
            f"  ('{q(d.used_name or d.birth_name)}', '{d.birth_date}', 'l''accueil');",
            "COPY public.prelevements (id, nom, date_naissance, numero_secu) FROM stdin;",
            f"7\t{canary.birth_name}\t{canary.birth_date}\t\\N",
            "\\.",
            "",
        ]
    )
    path = tmp_path / "dump.sql"
    path.write_text(dump, encoding="utf-8")
    report = lab.check(path)
    found = {pid: (sorted(m.on), m.lines[0]) for pid, m in report.matches.items()}
    assert found == {
        lab.patients[10].id: (["ins", "name_birth_date", "nir"], 11),
        lab.patients[11].id: (["ins", "nir"], 11),
        lab.patients[12].id: (["name_birth_date"], 13),
        lab.patients[13].id: (["name_birth_date"], 14),
        lab.canaries[1].id: (["name_birth_date"], 16),
    }
    assert [m.patient_id for m in report.canaries] == [lab.canaries[1].id]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"nom;ddn\nA;01/02/1990\nB\x00;03/04/1991\n", "line 3: binary data"),
        (
            b"INSERT INTO t VALUES ('a', 'b'),\n('c', 'unterminated\n",
            "line 1: INSERT statement not terminated",
        ),
        (b'nom,ddn\n"A,' + b"x" * 200_000 + b"\n", "line 2: unreadable CSV"),
    ],
)
def test_unreadable_input_is_refused_naming_the_line(
    lab: Lab, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(BreachInputError, match=message):
        lab.check(path)
    code, output = lab.cli(path)
    assert code == 2 and message.split(":")[0] in output


def test_latin1_exports_are_read(lab: Lab, tmp_path: Path) -> None:
    data = lab.patients[20].data
    path = tmp_path / "export.csv"
    text = f"Nom;Prénom;Né(e) le\n{data.birth_name};Hélène;{french(data.birth_date)}\n"
    path.write_bytes(text.encode("cp1252"))
    assert set(lab.check(path).matches) == {lab.patients[20].id}


def test_a_missing_file_is_an_error(lab: Lab, tmp_path: Path) -> None:
    code, output = lab.cli(tmp_path / "nowhere.csv")
    assert code == 2 and "cannot read" in output
