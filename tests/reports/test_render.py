"""Reports and cumulative history: what the PDF says, that it escapes, and that it never changes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject
from stdnum.fr import nir as stdnum_nir

from labvault.identity.synthetic import generate_finess, generate_nir, generate_rpps
from labvault.reports.pdf import html_to_pdf
from labvault.reports.render import (
    render_history_html,
    render_history_pdf,
    render_report_html,
    render_report_pdf,
)
from labvault.reports.templates import datetime_fr, nir_fr, w3c_datetime
from labvault.reports.view import (
    HistorySeries,
    HistoryView,
    LabHeader,
    PatientBlock,
    PrescriberBlock,
    PreviousValue,
    ReportView,
    ResultLine,
    TrendPoint,
)
from tests.pdf import pdf_lines, pdf_text

REPO = Path(__file__).resolve().parents[2]
_RNG = random.Random(20260302)
LAB = LabHeader(name="Laboratoire TESTLAB Synthétique", finess=generate_finess(_RNG), code="LAB1")
NIR = generate_nir(_RNG, "F", dt.date(1985, 3, 12), "75", "113")
RPPS = generate_rpps(_RNG)
PATIENT = PatientBlock(full_name="TESTNOM Alice", sex="F", birth_date=dt.date(1985, 3, 12), nir=NIR)
ISSUED = dt.datetime(2026, 3, 2, 10, 15, tzinfo=dt.UTC)  # 11:15 in Paris


def line(test_name: str, value: str | None, **changes: object) -> ResultLine:
    base = ResultLine(
        section="Hématologie",
        test_code=test_name[:4].upper(),
        test_name=test_name,
        value=value,
        unit="g/dL",
        reference="12.0 - 16.0",
        flag=None,
        previous=None,
        comment=None,
        validated_by="Dr TESTBIO Jeanne" if value is not None else None,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def sample_report(**changes: object) -> ReportView:
    """A partial report, second version: every kind of line the layout has to show."""
    report = ReportView(
        lab=LAB,
        patient=PATIENT,
        prescriber=PrescriberBlock(name="Dr TESTMED Paul", rpps=RPPS),
        accession="LAB1-2026-000123",
        prescribed_on=dt.date(2026, 3, 1),
        collected_at=dt.datetime(2026, 3, 2, 7, 45, tzinfo=dt.UTC),
        issued_at=ISSUED,
        kind="partial",
        version=2,
        lines=(
            line("Hémoglobine", "17.3", flag="H", previous=PreviousValue("15.1", dt.date(2025, 11, 2))),
            line("Plaquettes", "12", unit="G/L", reference="150 - 400", flag="LL"),
            line("Leucocytes", None, unit="G/L", reference="4.0 - 10.0"),
            line("Potassium", "4.1", section="Biochimie", unit="mmol/L", reference="3.5 - 5.0", flag="N"),
            line(
                "Créatinine",
                "68",
                section="Biochimie",
                unit="µmol/L",
                reference="45 - 90",
                version=2,
                correction_reason="erreur d'identification du tube",
            ),
            line("Ferritine", "310", section="Biochimie", unit="µg/L", reference="< 150", flag="A"),
            line(
                "Glycémie",
                "5.2",
                section="Biochimie",
                unit="mmol/L",
                reference="4.1 - 5.9",
                comment="Échantillon hémolysé <script>alert(1)</script>",
            ),
        ),
        validators=("Dr TESTBIO Jeanne", "Dr TESTBIO Marc"),
    )
    return dataclasses.replace(report, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def report_pdf() -> bytes:
    return render_report_pdf(sample_report())


def test_synthetic_identifiers_are_valid() -> None:
    assert stdnum_nir.is_valid(NIR)


def test_report_shows_identity_request_and_results(report_pdf: bytes) -> None:
    text = pdf_text(report_pdf)
    for expected in (
        "Laboratoire TESTLAB Synthétique",
        f"FINESS : {LAB.finess}",
        "TESTNOM Alice",
        "Sexe : Féminin",
        "Date de naissance : 12/03/1985",
        f"NIR : {nir_fr(NIR)}",
        "Dr TESTMED Paul",
        f"RPPS {RPPS}",
        "N° de dossier : LAB1-2026-000123",
        "Prescription du : 01/03/2026",
        "Prélèvement le : 02/03/2026 à 08:45",  # 07:45 UTC, shown in Paris time
        "HÉMATOLOGIE",
        "BIOCHIMIE",
        "Hémoglobine 17.3 H ↑ g/dL 12.0 - 16.0 15.1 (02/11/2025)",
        "Plaquettes 12 LL ↓↓ G/L 150 - 400",
        "Potassium 4.1 mmol/L 3.5 - 5.0",
        "Ferritine 310 A * µg/L < 150",
        "Biologiste(s) ayant validé : Dr TESTBIO Jeanne, Dr TESTBIO Marc",
        "Compte rendu édité le 02/03/2026 à 11:15",
        "Page 1 / 1",
    ):
        assert expected in text, expected
    assert "N ↑" not in text and "Potassium 4.1 N" not in text  # "N" (normal) is not a flag


def test_report_shows_partial_pending_and_corrected_lines(report_pdf: bytes) -> None:
    text = pdf_text(report_pdf)
    assert "Compte rendu partiel — version 2" in text
    assert "définitif suivra" in text
    assert "annule et remplace" in text
    assert "Leucocytes en attente de validation 4.0 - 10.0" in text
    assert "Créatinine 68 µmol/L 45 - 90" in text
    assert "Version 2, résultat corrigé — motif : erreur d'identification du tube" in text


def test_final_report_says_definitif() -> None:
    view = sample_report(kind="final", version=1, lines=sample_report().lines[:1], prescriber=None)
    text = pdf_text(render_report_pdf(view))
    assert "Compte rendu définitif — version 1" in text
    assert "partiel" not in text
    assert "annule et remplace" not in text
    assert "Prescripteur : non renseigné" in text


def test_sections_keep_first_appearance_order() -> None:
    lines = sample_report().lines
    view = sample_report(lines=(lines[3], lines[0], lines[4]))  # Biochimie, Hématologie, Biochimie
    html = render_report_html(view)
    assert html.index("Biochimie</h2>") < html.index("Hématologie</h2>")
    assert html.count("<h2") == 2


def test_report_html_escapes_what_people_typed(report_pdf: bytes) -> None:
    hostile = "TESTNOM <img src=x onerror=alert(1)> & Cie"
    view = sample_report(patient=dataclasses.replace(PATIENT, full_name=hostile))
    html = render_report_html(view)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html
    assert "TESTNOM &lt;img src=x onerror=alert(1)&gt; &amp; Cie" in html
    # In the PDF the comment is printed as the text it is.
    assert "Commentaire : Échantillon hémolysé <script>alert(1)</script>" in pdf_text(report_pdf)


def test_report_html_is_self_contained() -> None:
    html = render_report_html(sample_report())
    assert html.startswith("<!DOCTYPE html>")
    assert "<style>" in html
    for outside in ("<script", "<link", "src=", "href=", "url("):
        assert outside not in html


def test_report_pdf_is_byte_identical_and_dated_from_issue(report_pdf: bytes) -> None:
    assert render_report_pdf(sample_report()) == report_pdf
    reader = PdfReader(io.BytesIO(report_pdf))
    assert reader.metadata is not None
    assert reader.metadata.creation_date_raw == "D:20260302111500+01'00"
    assert reader.metadata.modification_date_raw == "D:20260302111500+01'00"
    assert "/Metadata" not in reader.root_object  # no XMP packet (WeasyPrint puts uuid4s there)
    identifier = cast(ArrayObject, reader.trailer["/ID"])
    assert identifier[0] == identifier[1]  # the MD5 of the content, not random
    assert render_report_pdf(sample_report(issued_at=ISSUED + dt.timedelta(minutes=1))) != report_pdf


def test_report_pdf_embeds_dejavu_sans_only(report_pdf: bytes) -> None:
    """Fontconfig silently substitutes a missing font: fail here rather than ship another look."""
    fonts = set()
    for page in PdfReader(io.BytesIO(report_pdf)).pages:
        resources = cast(DictionaryObject, page["/Resources"])
        for font in cast(DictionaryObject, resources["/Font"]).values():
            fonts.add(str(cast(DictionaryObject, font.get_object())["/BaseFont"]).split("+", 1)[1])
    assert fonts and fonts <= {"DejaVu-Sans", "DejaVu-Sans-Bold", "DejaVu-Sans-Oblique"}, fonts


def test_report_pdf_is_identical_in_another_process(report_pdf: bytes) -> None:
    """Another interpreter, another hash seed, another local time zone: the same bytes."""
    code = (
        "import hashlib; from tests.reports.test_render import sample_report; "
        "from labvault.reports.render import render_report_pdf; "
        "print(hashlib.sha256(render_report_pdf(sample_report())).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "TZ": "America/Los_Angeles"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == hashlib.sha256(report_pdf).hexdigest()


def test_pdf_refuses_external_resources() -> None:
    with pytest.raises(ValueError, match="external resource"):
        html_to_pdf('<p>x</p><img src="file:///etc/hostname">')


def test_french_formats() -> None:
    assert nir_fr("285037511302642") == "2 85 03 75 113 026 42"
    assert nir_fr("12345") == "12345"
    assert datetime_fr(dt.datetime(2026, 7, 1, 22, 30, tzinfo=dt.UTC), "Europe/Paris") == "02/07/2026 à 00:30"
    naive = dt.datetime(2026, 7, 1, 22, 30)  # taken as the lab's local time already
    assert datetime_fr(naive, "Indian/Reunion") == "01/07/2026 à 22:30"
    winter = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    assert w3c_datetime(winter, "Europe/Paris") == "2026-01-05T10:00:00+01:00"


def sample_history() -> HistoryView:
    return HistoryView(
        lab=LAB,
        patient=PATIENT,
        generated_at=ISSUED,
        series=(
            HistorySeries(
                test_code="HB",
                test_name="Hémoglobine",
                unit="g/dL",
                low=12.0,
                high=16.0,
                points=(
                    TrendPoint(dt.date(2025, 11, 2), 15.1),
                    TrendPoint(dt.date(2025, 6, 1), 11.4),
                    TrendPoint(dt.date(2026, 3, 2), 17.3),
                ),
            ),
            HistorySeries(
                "CRP", "Protéine C réactive", "mg/L", None, 5.0, (TrendPoint(dt.date(2026, 3, 2), 3.2),)
            ),
            HistorySeries("NA", "Sodium", "mmol/L", 136.0, 145.0, ()),
        ),
    )


def test_history_pdf_lists_series_in_date_order_with_flags() -> None:
    pdf = render_history_pdf(sample_history())
    text = pdf_text(pdf)
    assert "HISTORIQUE DES RÉSULTATS" in text
    assert "Hémoglobine (g/dL)" in text  # units keep their case
    assert "Valeurs de référence : 12 – 16" in text
    assert "Valeurs de référence : < 5" in text
    rows = [row for row in pdf_lines(pdf) if row.endswith(("g/dL", "g/dL L", "g/dL H"))]
    assert rows[:3] == ["01/06/2025 11.4 g/dL L", "02/11/2025 15.1 g/dL", "02/03/2026 17.3 g/dL H"]
    assert "Aucun résultat validé" in text
    assert "TESTNOM Alice — Historique des résultats" in text  # running footer names the patient
    assert render_history_pdf(sample_history()) == pdf


def test_history_html_inlines_one_chart_per_series() -> None:
    html = render_history_html(sample_history())
    assert html.count('<svg class="trend-chart"') == 3
    assert "<script" not in html
