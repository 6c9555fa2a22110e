"""Released reports: what the PDF says, that it regenerates byte for byte, that it is stored encrypted,
and the cumulative history."""

from __future__ import annotations

import datetime as dt
import io

import pypdf
import pytest
from sqlalchemy import update

from labvault.errors import Conflict, Forbidden, NotFound
from labvault.platform import Platform
from labvault.workflow.models import Order, Report
from tests.db_inspect import audit_events, raw_rows
from tests.factories import Bench
from tests.pdf import pdf_text

COMMENT_MARKER = "Qzreportcomment lipémie franche"


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire des comptes rendus")


def test_report_pdf_shows_request_results_and_kind(bench: Bench) -> None:
    doctor, rpps = bench.physician("Vauquelin", "Hortense")
    patient = bench.patient(birth_name="Brossard", first_names="Ysoline", used_name=None)
    earlier = bench.order(patient, tests=["K"])
    bench.enter_and_validate(earlier, {"K": "4.1"})
    order = bench.order(patient, tests=["HGB", "K", "CRP", "RAI", "GLU"], prescriber_id=doctor)
    bench.enter(
        order, {"HGB": "11,0", "K": "5.5", "CRP": "3.0", "RAI": "positive"}, comments={"CRP": COMMENT_MARKER}
    )
    bench.validate(order, ["HGB", "K", "CRP", "RAI"])
    info = bench.platform.reports.release(bench.biologist, order.id)
    assert (info.version, info.kind) == (1, "partial")

    pdf = bench.platform.reports.pdf(bench.reception, order.id)
    assert pdf.startswith(b"%PDF")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 1
    text = pdf_text(pdf)
    today = dt.datetime.now(dt.UTC).date().strftime("%d/%m/%Y")
    for expected in (
        bench.lab.name,
        f"N° de dossier : {order.accession}",
        "BROSSARD Ysoline",
        "Date de naissance : 01/05/1970",
        f"Dr VAUQUELIN Hortense (RPPS {rpps})",
        "Compte rendu partiel — version 1",
        "définitif suivra",
        "Hémoglobine 11.0 L ↓ g/dL 12.0 – 16.0",
        f"Potassium 5.5 H ↑ mmol/L 3.5 – 5.0 4.1 ({today})",
        "Protéine C réactive (CRP) 3.0 mg/L < 5.0",
        "Recherche d'agglutinines irrégulières (RAI) positive A *",
        f"Commentaire : {COMMENT_MARKER}",
        "Glycémie à jeun en attente de validation",
    ):
        assert expected in text, f"{expected!r} not in the report text: {text}"
    assert "annule et remplace" not in text

    bench.enter(order, {"GLU": "5.00"})
    bench.validate(order, ["GLU"])
    final = bench.platform.reports.release(bench.biologist, order.id)
    assert (final.version, final.kind) == (2, "final")
    text = pdf_text(bench.platform.reports.pdf(bench.reception, order.id))
    assert "Compte rendu définitif — version 2" in text and "partiel" not in text
    assert "Glycémie à jeun 5.00 mmol/L 3.90 – 6.10" in text
    assert "annule et remplace" in text
    first_again = pdf_text(bench.platform.reports.pdf(bench.reception, order.id, 1))
    assert "Compte rendu partiel — version 1" in first_again
    reads = [
        e for e in audit_events(bench.platform, bench.lab.id, "report.read") if e.object_id == str(info.id)
    ]
    assert len(reads) == 2


def test_report_without_prescriber(bench: Bench) -> None:
    order = bench.order(tests=["K"])
    bench.enter_and_validate(order, {"K": "4.0"})
    bench.platform.reports.release(bench.biologist, order.id)
    text = pdf_text(bench.platform.reports.pdf(bench.biologist, order.id))
    assert "Prescripteur : non renseigné" in text and "Compte rendu définitif — version 1" in text


def test_regenerate_gives_identical_bytes(bench: Bench) -> None:
    order = bench.order(tests=["K", "NA"], prescriber_id=bench.physician()[0])
    bench.enter_and_validate(order, {"K": "4.3", "NA": "139"})
    bench.platform.reports.release(bench.biologist, order.id)
    stored = bench.platform.reports.pdf(bench.reception, order.id)
    again, same = bench.platform.reports.regenerate(bench.biologist, order.id)
    assert same and again == stored

    # A correction gives version 2; version 1 still regenerates exactly as released.
    bench.enter(order, {"K": "3.1"}, reason="échantillon dilué par erreur")
    bench.validate(order, ["K"])
    bench.platform.reports.release(bench.biologist, order.id)
    text = pdf_text(bench.platform.reports.pdf(bench.reception, order.id, 2))
    assert "Potassium 3.1 L ↓ mmol/L" in text
    assert "Version 2, résultat corrigé — motif : échantillon dilué par erreur" in text
    for version in (1, 2):
        pdf, same = bench.platform.reports.regenerate(bench.biologist, order.id, version)
        assert same and pdf == bench.platform.reports.pdf(bench.reception, order.id, version), version
    assert bench.platform.reports.regenerate(bench.biologist, order.id, 1)[0] == stored
    with pytest.raises(Forbidden):
        bench.platform.reports.regenerate(bench.reception, order.id)
    with pytest.raises(NotFound):
        bench.platform.reports.pdf(bench.reception, order.id, 3)


def test_regenerate_still_matches_after_a_later_rejection(bench: Bench) -> None:
    """What a report printed must not change because of what happened to another tube afterwards."""
    order = bench.order(tests=["HGB", "K"], receive=False)
    edta = next(s for s in order.specimens if s.tube.startswith("EDTA"))
    heparin = next(s for s in order.specimens if s.tube.startswith("heparin"))
    drawn = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=5)
    bench.platform.specimens.collect(bench.reception, edta.barcode, drawn)
    bench.platform.specimens.receive(bench.reception, edta.barcode)
    bench.platform.specimens.receive(bench.reception, heparin.barcode)
    bench.enter_and_validate(order, {"K": "4.2"})
    bench.platform.reports.release(bench.biologist, order.id)
    stored = bench.platform.reports.pdf(bench.biologist, order.id)
    # The EDTA tube (HGB still pending) turns out clotted: a new tube is awaited.
    bench.reject(edta.barcode, "clotted")
    pdf, same = bench.platform.reports.regenerate(bench.biologist, order.id, 1)
    assert same and pdf == stored, (
        "BUG ReportService.regenerate/_collected_at: the collection time printed on a released report is "
        "recomputed from the order's non-rejected tubes at regeneration time, so rejecting a tube after "
        "release changes the regenerated PDF"
    )


def test_stored_pdf_is_encrypted(bench: Bench) -> None:
    order = bench.order(tests=["CRP"])
    bench.enter(order, {"CRP": "47.3"}, comments={"CRP": COMMENT_MARKER})
    bench.validate(order, ["CRP"])
    info = bench.platform.reports.release(bench.biologist, order.id)
    pdf = bench.platform.reports.pdf(bench.reception, order.id)
    assert COMMENT_MARKER in pdf_text(pdf) and "47.3" in pdf_text(pdf)
    (row,) = raw_rows(bench.platform, Report, id=info.id)
    blob = bytes(row.pdf_enc)
    assert len(blob) >= len(pdf), "the whole PDF is stored"
    assert not blob.startswith(b"%PDF") and b"%PDF" not in blob
    for clear in (b"47.3", COMMENT_MARKER.encode(), order.accession.encode(), b"/Type /Page", b"DejaVu"):
        assert clear not in blob, clear
    assert row.result_ids == [str(bench.result(order.id, "CRP").id)]  # type: ignore[union-attr]


def test_cumulative_history_in_date_order(bench: Bench) -> None:
    patient = bench.patient(sex="M")
    values = {10: "12.0", 3: "13.5", 20: "14.2"}  # days ago -> HGB, entered out of date order
    orders = {}
    for days, value in values.items():
        order = bench.order(patient, tests=["HGB", "RAI"])
        bench.enter_and_validate(order, {"HGB": value, "RAI": "negative"})
        orders[days] = order
    pending = bench.order(patient, tests=["HGB"])
    bench.enter(pending, {"HGB": "9.9"})  # not validated: not in the history
    now = dt.datetime.now(dt.UTC)
    with bench.platform.db.owner_engine.begin() as conn:  # back-date the orders, below the services
        for days, order in orders.items():
            conn.execute(
                update(Order).where(Order.id == order.id).values(created_at=now - dt.timedelta(days=days))
            )

    history = bench.platform.reports.history(bench.technician, patient)
    assert [s.test_code for s in history.series] == ["HGB"], "coded results are not charted"
    (series,) = history.series
    assert [(p.date, p.value) for p in series.points] == [
        ((now - dt.timedelta(days=20)).date(), 14.2),
        ((now - dt.timedelta(days=10)).date(), 12.0),
        ((now - dt.timedelta(days=3)).date(), 13.5),
    ]
    assert (series.unit, series.low, series.high) == ("g/dL", 13.0, 17.5)
    pdf = bench.platform.reports.history_pdf(bench.biologist, patient)
    assert pdf.startswith(b"%PDF") and "Hémoglobine" in pdf_text(pdf)
    with pytest.raises(Forbidden):
        bench.platform.reports.history(bench.reception, patient)


def test_another_lab_gets_not_found_for_reports(bench: Bench, other: Bench) -> None:
    order = bench.order(tests=["K"])
    bench.enter_and_validate(order, {"K": "4.0"})
    bench.platform.reports.release(bench.biologist, order.id)
    for call in (
        lambda: other.platform.reports.pdf(other.biologist, order.id),
        lambda: other.platform.reports.pdf(other.reception, order.id, 1),
        lambda: other.platform.reports.list(other.reception, order.id),
        lambda: other.platform.reports.release(other.biologist, order.id),
        lambda: other.platform.reports.regenerate(other.biologist, order.id),
        lambda: other.platform.reports.history(other.biologist, order.patient_id),
    ):
        with pytest.raises(NotFound):
            call()
    assert len(bench.platform.reports.list(bench.reception, order.id)) == 1


def test_release_refuses_when_the_order_changes_while_the_pdf_is_laid_out(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PDF is rendered outside any transaction; if a result is validated meanwhile, the report
    would not show what it claims, so the release is refused rather than stored."""
    from labvault.workflow import report_service

    patient = bench.patient(birth_name="Concurrent", first_names="Rendu", used_name=None)
    order = bench.order(patient, tests=["K", "NA"])
    bench.enter(order, {"K": "4.2", "NA": "140"})
    bench.validate(order, ["K", "NA"], biological=False)
    bench.platform.results.validate_biological(bench.biologist, [bench.item_id(order, "K")])
    real_render = report_service.render_report_pdf

    def render_while_sodium_is_validated(view: report_service.ReportView) -> bytes:
        bench.platform.results.validate_biological(bench.biologist, [bench.item_id(order, "NA")])
        return real_render(view)

    monkeypatch.setattr(report_service, "render_report_pdf", render_while_sodium_is_validated)
    with pytest.raises(Conflict, match="changed while its report was being prepared"):
        bench.platform.reports.release(bench.biologist, order.id)
    assert raw_rows(bench.platform, Report, order_id=order.id) == []
    monkeypatch.setattr(report_service, "render_report_pdf", real_render)
    info = bench.platform.reports.release(bench.biologist, order.id)
    assert (info.version, info.kind, info.results) == (1, "final", 2)
