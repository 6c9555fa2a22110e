"""The test catalogue: what a lab can measure, how it is coded (LOINC, NABM) and how results are read."""

from labvault.catalog.calculations import ckd_epi_2021, compute, ldl_friedewald
from labvault.catalog.flags import DeltaResult, Flag, delta_check, flag_coded, flag_numeric
from labvault.catalog.loader import default_catalog, dump_catalog, load_catalog, load_catalog_dict
from labvault.catalog.loinc import loinc_check_digit_ok
from labvault.catalog.model import (
    Calculation,
    Catalog,
    CriticalLimits,
    DeltaRule,
    NabmAct,
    Panel,
    PatientInfo,
    ReferenceRange,
    TestDefinition,
)
from labvault.catalog.ranges import age_in_days, select_range

__all__ = [
    "Calculation",
    "Catalog",
    "CriticalLimits",
    "DeltaResult",
    "DeltaRule",
    "Flag",
    "NabmAct",
    "Panel",
    "PatientInfo",
    "ReferenceRange",
    "TestDefinition",
    "age_in_days",
    "ckd_epi_2021",
    "compute",
    "default_catalog",
    "delta_check",
    "dump_catalog",
    "flag_coded",
    "flag_numeric",
    "ldl_friedewald",
    "load_catalog",
    "load_catalog_dict",
    "loinc_check_digit_ok",
    "select_range",
]
