"""The loader refuses a broken catalogue with a message naming the faulty field, and round-trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from labvault.catalog import default_catalog, dump_catalog, load_catalog, load_catalog_dict
from labvault.errors import InvalidInput
from tests.catalog.helpers import entry_for, packaged_data, panel_for


def refused(data: dict[str, Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        load_catalog_dict(data)
    return caught.value


def test_round_trip_dump_then_load_is_identity() -> None:
    catalog = default_catalog()
    again = load_catalog_dict(json.loads(json.dumps(dump_catalog(catalog))))
    assert again == catalog
    assert dump_catalog(again) == dump_catalog(catalog)


def test_loads_an_exported_file(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(dump_catalog(default_catalog()), ensure_ascii=False), encoding="utf-8")
    assert load_catalog(path) == default_catalog()


def test_invalid_json_file(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text('{"version": ', encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_catalog(path)
    assert caught.value.field == "catalog"
    assert "line 1" in caught.value.reason


def test_duplicate_test_code() -> None:
    data = packaged_data()
    data["tests"].append(dict(entry_for(data, "GLU")))
    error = refused(data)
    assert (error.field, error.reason) == ("tests.GLU.code", "duplicate test code")


def test_unknown_panel_member() -> None:
    data = packaged_data()
    panel_for(data, "EAL")["tests"].append("LDLX")
    error = refused(data)
    assert (error.field, error.reason) == ("panels.EAL.tests", "unknown test code 'LDLX'")


def test_overlapping_ranges_for_the_same_sex() -> None:
    data = packaged_data()
    ranges = entry_for(data, "HGB")["reference_ranges"]
    ranges[0]["age_max_days"] = ranges[1]["age_min_days"] + 1  # the 6-month band now eats a day of the next
    error = refused(data)
    assert error.field == "tests.HGB.reference_ranges"
    assert error.reason.startswith("ranges 0 and 1 overlap for both sexes")


def test_sex_specific_and_neutral_ranges_may_overlap() -> None:
    data = packaged_data()
    entry_for(data, "CREA")["reference_ranges"].append(
        {"sex": None, "age_min_days": 6575, "age_max_days": None, "low": 45.0, "high": 104.0}
    )
    assert load_catalog_dict(data).test("CREA").reference_ranges[-1].sex is None


@pytest.mark.parametrize(
    ("loinc", "reason"),
    [
        ("2345-8", "'2345-8' fails the LOINC mod-10 check digit"),
        ("2345", "'2345' is not shaped like a LOINC code"),
    ],
)
def test_bad_loinc(loinc: str, reason: str) -> None:
    data = packaged_data()
    entry_for(data, "GLU")["loinc"] = loinc
    error = refused(data)
    assert (error.field, error.reason) == ("tests.GLU.loinc", reason)


def test_bad_nabm_code() -> None:
    data = packaged_data()
    entry_for(data, "GLU")["nabm"] = "552"
    error = refused(data)
    assert (error.field, error.reason) == ("tests.GLU.nabm", "must be a 4-digit NABM act code")


def test_calculated_input_must_exist() -> None:
    data = packaged_data()
    entry_for(data, "EGFR")["calculated"]["inputs"] = ["CREAT"]
    error = refused(data)
    assert (error.field, error.reason) == ("tests.EGFR.calculated.inputs", "unknown test code 'CREAT'")


def test_calculated_input_count_follows_the_formula() -> None:
    data = packaged_data()
    entry_for(data, "LDLC")["calculated"]["inputs"] = ["CHOL", "HDL"]
    error = refused(data)
    assert (error.field, error.reason) == ("tests.LDLC.calculated.inputs", "ldl_friedewald takes 3 input(s)")


def test_coded_test_needs_values() -> None:
    data = packaged_data()
    entry = entry_for(data, "RAI")
    entry["coded_values"], entry["abnormal_codes"] = [], []
    error = refused(data)
    assert (error.field, error.reason) == ("tests.RAI.coded_values", "a coded test needs its list of values")


def test_abnormal_code_must_be_a_coded_value() -> None:
    data = packaged_data()
    entry_for(data, "HIV")["abnormal_codes"].append("reactive")
    error = refused(data)
    assert (error.field, error.reason) == (
        "tests.HIV.abnormal_codes",
        "'reactive' is not one of the coded values",
    )


def test_numeric_test_needs_a_range() -> None:
    data = packaged_data()
    entry_for(data, "K")["reference_ranges"] = []
    error = refused(data)
    assert error.field == "tests.K.reference_ranges"


def test_range_low_above_high() -> None:
    data = packaged_data()
    entry_for(data, "K")["reference_ranges"][0]["low"] = 6.0
    error = refused(data)
    assert (error.field, error.reason) == ("tests.K.reference_ranges[0]", "low is greater than high")


def test_restricted_analyte_cannot_be_normal() -> None:
    data = packaged_data()
    entry_for(data, "HIV")["sensitivity"] = "normal"
    error = refused(data)
    assert (error.field, error.reason) == ("tests.HIV.sensitivity", "a HIV test must be restricted")


def test_catalogue_without_a_syphilis_test_is_refused() -> None:
    data = packaged_data()
    data["tests"] = [t for t in data["tests"] if t["code"] != "SYPH"]
    error = refused(data)
    assert (error.field, error.reason) == ("tests", "the catalogue has no restricted syphilis test")


def test_unknown_field_is_refused_rather_than_ignored() -> None:
    data = packaged_data()
    entry_for(data, "GLU")["refrence_ranges"] = []
    error = refused(data)
    assert (error.field, error.reason) == ("tests.GLU", "unknown field 'refrence_ranges'")


def test_wrong_types_name_the_field() -> None:
    data = packaged_data()
    entry_for(data, "GLU")["decimals"] = "2"
    assert refused(data).field == "tests.GLU.decimals"
    data = packaged_data()
    entry_for(data, "GLU")["section"] = "chemistry"
    error = refused(data)
    assert error.field == "tests.GLU.section"
    assert error.reason.startswith("must be one of haematology")


def test_text_tests_are_accepted_without_values() -> None:
    data = packaged_data()
    comment = {**entry_for(data, "ABO"), "code": "COMMENT", "result_type": "text", "loinc": None}
    comment.update(coded_values=[], abnormal_codes=[], nabm=None, nabm_b=None)
    data["tests"].append(comment)
    assert load_catalog_dict(data).test("COMMENT").result_type == "text"
