"""Calculated results: eGFR (CKD-EPI 2021) and LDL cholesterol (Friedewald), in French SI units."""

from __future__ import annotations

import math
from collections.abc import Mapping

from labvault.catalog.model import PatientInfo, Sex, TestDefinition
from labvault.errors import InvalidInput

CREATININE_UMOL_PER_MG_DL = 88.4
ADULT_YEARS = 18
# French practice (HAS, NABM 0996): not calculated from TG 3.4 g/L, i.e. 3.9 mmol/L (x 1.1429).
FRIEDEWALD_TG_LIMIT_MMOL_L = 3.9
FRIEDEWALD_TG_DIVISOR_MMOL_L = 2.2  # VLDL cholesterol ~ TG / 5 in g/L, i.e. TG / 2.2 in mmol/L


def ckd_epi_2021(creatinine_umol_l: float, age_years: float, sex: Sex) -> float:
    """eGFR in mL/min/1.73 m² by the race-free CKD-EPI 2021 creatinine equation (Inker, NEJM 2021).

    eGFR = 142 × min(Scr/κ, 1)^α × max(Scr/κ, 1)^-1.200 × 0.9938^age × 1.012 [female], Scr in mg/dL,
    κ = 0.7 (F) / 0.9 (M), α = -0.241 (F) / -0.302 (M). Validated for adults only.
    """
    if not math.isfinite(creatinine_umol_l) or creatinine_umol_l <= 0:
        raise InvalidInput("creatinine", "must be a positive number of µmol/L")
    if not math.isfinite(age_years) or age_years < ADULT_YEARS:
        raise InvalidInput("age", "CKD-EPI 2021 is only validated from 18 years")
    if sex not in ("M", "F"):
        raise InvalidInput("sex", "must be M or F for CKD-EPI 2021")
    kappa, alpha = (0.7, -0.241) if sex == "F" else (0.9, -0.302)
    ratio = creatinine_umol_l / CREATININE_UMOL_PER_MG_DL / kappa
    egfr = (
        142
        * math.pow(min(ratio, 1.0), alpha)
        * math.pow(max(ratio, 1.0), -1.200)
        * math.pow(0.9938, age_years)
    )
    return egfr * 1.012 if sex == "F" else egfr


def ldl_friedewald(total_chol: float, hdl: float, tg: float) -> float | None:
    """LDL cholesterol (mmol/L) = TC - HDL - TG/2.2; None when TG is too high or the result is negative."""
    for name, value in (("total_cholesterol", total_chol), ("hdl", hdl), ("triglycerides", tg)):
        if not math.isfinite(value) or value < 0:
            raise InvalidInput(name, "must be a non-negative number of mmol/L")
    if tg >= FRIEDEWALD_TG_LIMIT_MMOL_L:
        return None
    ldl = total_chol - hdl - tg / FRIEDEWALD_TG_DIVISOR_MMOL_L
    return ldl if ldl >= 0 else None


def compute(test: TestDefinition, inputs: Mapping[str, float], patient: PatientInfo) -> float | None:
    """The calculated result rounded for the report, or None when it cannot be calculated.

    ``inputs`` maps test codes of the same request to their values; a missing input, a child or an
    unknown sex for eGFR, or high triglycerides for Friedewald all give None rather than a wrong value.
    """
    calculation = test.calculated
    if calculation is None:
        raise InvalidInput(f"results.{test.code}", "is not a calculated test")
    values = [inputs.get(code) for code in calculation.inputs]
    if any(v is None for v in values):
        return None
    numbers = [float(v) for v in values if v is not None]
    result: float | None
    if calculation.formula == "ckd_epi_2021":
        if patient.sex is None or patient.age_years < ADULT_YEARS:
            return None
        result = ckd_epi_2021(numbers[0], patient.age_years, patient.sex)
    else:
        result = ldl_friedewald(numbers[0], numbers[1], numbers[2])
    if result is None or test.decimals is None:
        return result
    return round(result, test.decimals)
