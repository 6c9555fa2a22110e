"""eGFR (CKD-EPI 2021) and Friedewald LDL, checked against the published formula and examples."""

from __future__ import annotations

import pytest

from labvault.catalog import PatientInfo, ckd_epi_2021, compute, default_catalog, ldl_friedewald
from labvault.errors import InvalidInput

CATALOG = default_catalog()
MG_DL_TO_UMOL_L = 88.4


def egfr_mg_dl(scr: float, age: float, female: bool) -> float:
    """kidney.org's statement of the 2021 equation, with creatinine in mg/dL."""
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    value = 142 * min(scr / kappa, 1) ** alpha * max(scr / kappa, 1) ** -1.200 * 0.9938**age
    return float(value * (1.012 if female else 1.0))


@pytest.mark.parametrize(
    ("scr_mg_dl", "age", "sex"),
    [(1.0, 60, "M"), (0.9, 55, "F"), (0.6, 30, "F"), (2.0, 80, "M"), (0.7, 45, "M")],
)
def test_ckd_epi_matches_the_equation_in_mg_dl(scr_mg_dl: float, age: int, sex: str) -> None:
    expected = egfr_mg_dl(scr_mg_dl, age, sex == "F")
    got = ckd_epi_2021(scr_mg_dl * MG_DL_TO_UMOL_L, age, "F" if sex == "F" else "M")
    assert got == pytest.approx(expected, rel=1e-12)


def test_ckd_epi_published_example() -> None:
    # Worked example: 55-year-old woman, creatinine 0.9 mg/dL -> about 76 mL/min/1.73 m².
    assert ckd_epi_2021(0.9 * MG_DL_TO_UMOL_L, 55, "F") == pytest.approx(76, abs=1)


def test_ckd_epi_refuses_children_and_bad_creatinine() -> None:
    with pytest.raises(InvalidInput):
        ckd_epi_2021(60, 17, "M")
    with pytest.raises(InvalidInput):
        ckd_epi_2021(0, 40, "M")


def test_friedewald_in_mmol_per_litre() -> None:
    assert ldl_friedewald(5.2, 1.3, 1.5) == pytest.approx(5.2 - 1.3 - 1.5 / 2.2)
    assert ldl_friedewald(5.2, 1.3, 3.39) == pytest.approx(5.2 - 1.3 - 3.39 / 2.2)
    assert ldl_friedewald(5.2, 1.3, 3.9) is None  # TG >= 3.4 g/L (3.9 mmol/L): not calculated
    assert ldl_friedewald(5.2, 1.3, 3.8) is not None
    assert ldl_friedewald(2.0, 2.0, 1.0) is None  # negative estimate: meaningless
    with pytest.raises(InvalidInput):
        ldl_friedewald(-1.0, 1.0, 1.0)


def test_compute_rounds_to_the_reported_decimals() -> None:
    adult_man = PatientInfo("M", round(60 * 365.25))
    assert compute(CATALOG.test("EGFR"), {"CREA": 88.4}, adult_man) == 86
    ldl = compute(CATALOG.test("LDLC"), {"CHOL": 5.2, "HDL": 1.3, "TG": 1.5}, adult_man)
    assert ldl == 3.22


def test_compute_gives_none_when_it_cannot_calculate() -> None:
    egfr = CATALOG.test("EGFR")
    assert compute(egfr, {}, PatientInfo("F", 40 * 365)) is None
    assert compute(egfr, {"CREA": 40.0}, PatientInfo("F", 10 * 365)) is None  # child
    assert compute(egfr, {"CREA": 80.0}, PatientInfo(None, 40 * 365)) is None  # sex unknown
    assert (
        compute(CATALOG.test("LDLC"), {"CHOL": 7.0, "HDL": 1.0, "TG": 4.0}, PatientInfo("F", 40 * 365))
        is None
    )
    with pytest.raises(InvalidInput):
        compute(CATALOG.test("CREA"), {"CREA": 80.0}, PatientInfo("F", 40 * 365))
